"""Build a podcast feed of 1,000 published episodes and print how long it takes (target: ≤ 1 s).

Each episode has a small MP3 file, five transcript exports, chapters and two guests, so the
build reads files, runs the sanitiser, renders with feedgen and validates the result, as a
real `outreach feed build` does. Run: `.venv/bin/python benchmarks/feed.py [EPISODES]`.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from outreach.db import session_scope
from outreach.feed.build import build_feeds
from outreach.models import Episode, Person
from outreach.workspace import init_workspace

TARGET_SECONDS = 1.0


def make_workspace(root: Path, count: int) -> Path:
    workspace = init_workspace(root / "ws")
    Image.new("RGB", (1400, 1400), (20, 40, 90)).save(workspace.episodes_dir / "cover.png")
    start = dt.datetime(2020, 1, 1, 8, 0, tzinfo=dt.UTC)
    fake_mp3 = b"\xff\xfb\x90\x64" + bytes(4096)
    with session_scope(workspace) as session:
        for n in range(1, count + 1):
            slug = f"avsnitt-{n:04d}"
            folder = workspace.episodes_dir / slug
            folder.mkdir()
            (folder / f"{slug}.mp3").write_bytes(fake_mp3)
            for suffix in ("vtt", "srt", "json", "html", "txt"):
                (folder / f"{slug}.{suffix}").write_text("x", encoding="utf-8")
            (folder / "chapters.json").write_text('{"version": "1.2.0", "chapters": []}')
            episode = Episode(
                guid=f"urn:uuid:bench-{n}",
                slug=slug,
                title=f"Avsnitt {n}: AI i kommun nummer {n}",
                summary=(
                    f"<p>Avsnitt {n} om <b>AI</b> & kommuner.</p>"
                    '<ul><li>Ett</li><li>Två</li></ul><a href="https://example.org/">Läs mer</a>'
                ),
                number=n,
                season=1 + n // 100,
                status="published",
                published_at=start + dt.timedelta(days=n),
                audio=f"episodes/{slug}/{slug}.mp3",
                chapters=f"episodes/{slug}/chapters.json",
                duration_seconds=1800.0 + n,
            )
            episode.people = [
                Person(name=f"Gäst {n}", role="guest", consent_named=True),
                Person(name=f"Anonym {n}", role="guest", consent_named=False),
            ]
            session.add(episode)
    return workspace.root


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp), count)
        from outreach.workspace import open_workspace

        workspace = open_workspace(root)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            with session_scope(workspace) as session:
                report = build_feeds(session, workspace)
            timings.append(time.perf_counter() - started)
        size = (workspace.feeds_dir / "podcast.xml").stat().st_size
    best, median = min(timings), statistics.median(timings)
    print(
        f"feed build, {report.episodes} episodes: best {best:.3f} s, median {median:.3f} s "
        f"(target ≤ {TARGET_SECONDS:.1f} s); podcast.xml {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
