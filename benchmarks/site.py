"""The public podcast pages: render time and size of the show page and a one-hour episode page.

A workspace with 120 published episodes (the show page lists 50 a page) and one of them with a
one-hour transcript (~9,600 words in 640 segments, two speakers, word timings, chapters), rendered
by `outreach.site` (database queries included) and fetched through the app (Flask test client).

    .venv/bin/python benchmarks/site.py
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OUTREACH_SECRET_KEY", "benchmark-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from outreach.db import session_scope  # noqa: E402
from outreach.models import Episode, Person  # noqa: E402
from outreach.podcast import transcripts  # noqa: E402
from outreach.site import render  # noqa: E402
from outreach.site.episode import episode_page  # noqa: E402
from outreach.site.show import show_page  # noqa: E402
from outreach.web import create_app  # noqa: E402
from outreach.workspace import Workspace, init_workspace  # noqa: E402
from tests.helpers.site import (  # noqa: E402  (the same hour the browser tests use)
    HOUR_SEGMENTS,
    HOUR_WORDS_PER_SEGMENT,
    hour_segments,
)

EPISODES = 120


def populate(workspace: Workspace) -> None:
    chapters = workspace.episodes_dir / "timme" / "chapters.json"
    chapters.parent.mkdir(parents=True)
    chapters.write_text(
        '{"version": "1.2.0", "chapters": ['
        + ",".join(f'{{"startTime": {n * 300}, "title": "Del {n + 1}"}}' for n in range(12))
        + "]}",
        encoding="utf-8",
    )
    start = dt.datetime(2020, 1, 6, 6, 0, tzinfo=dt.UTC)
    with session_scope(workspace) as session:
        for n in range(1, EPISODES + 1):
            slug = "timme" if n == EPISODES else f"avsnitt-{n}"
            episode = Episode(
                guid=str(uuid.uuid4()),
                slug=slug,
                title=f"Avsnitt {n}: AI i kommunen och civilsamhället",
                number=n,
                summary="Ett samtal om hur kommuner börjar med AI. " * 6,
                status="published",
                published_at=start + dt.timedelta(days=7 * n),
                duration_seconds=3584.0,
                chapters="episodes/timme/chapters.json" if slug == "timme" else None,
            )
            episode.people = [
                Person(name="Anna Andersson", role="guest", consent_named=True),
                Person(name="Karin Värd", role="host"),
            ]
            session.add(episode)
            if slug == "timme":
                session.flush()
                version = transcripts.create_version(
                    session, episode, hour_segments(), author="whisper"
                )
                transcripts.accept_version(session, version)
                transcripts.publish_exports(session, workspace, episode)


def timed(label: str, runs: int, fn: Callable[[], object]) -> None:
    """Median wall time, and median CPU time of this process (less sensitive to other load on
    the machine), over `runs` runs."""
    wall, cpu = [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    print(
        f"{label:<52} median {statistics.median(wall) * 1000:7.1f} ms wall, "
        f"{statistics.median(cpu) * 1000:6.1f} ms CPU over {runs} runs"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = init_workspace(Path(folder) / "ws")
        populate(workspace)

        def show_html() -> str:
            with session_scope(workspace) as session:
                page = show_page(session, workspace)
                assert page is not None
                return render.render_show(workspace, page)

        def episode_html() -> str:
            with session_scope(workspace) as session:
                page = episode_page(session, workspace, "timme")
                assert page is not None
                return render.render_episode(workspace, page)

        show, episode = show_html(), episode_html()
        print(
            f"show page: {EPISODES} published episodes, 50 listed, {len(show.encode()) / 1024:.1f} KiB HTML"
        )
        print(
            f"episode page: {HOUR_SEGMENTS} segments, {HOUR_SEGMENTS * HOUR_WORDS_PER_SEGMENT} words, "
            f"{len(episode.encode()) / 1024:.1f} KiB HTML (target < 244 KiB = 250 KB)"
        )
        timed("show page (outreach.site, queries included)", 20, show_html)

        def cold_episode_html() -> str:
            render.clear_transcript_cache()
            return episode_html()

        timed("one-hour episode page, first render of the version", 20, cold_episode_html)
        timed("one-hour episode page, transcript section cached", 20, episode_html)
        client = create_app(workspace).test_client()
        timed("GET /digitalsamtal/ (through the app)", 20, lambda: client.get("/digitalsamtal/"))
        timed(
            "GET /digitalsamtal/timme/ (through the app)",
            20,
            lambda: client.get("/digitalsamtal/timme/"),
        )


if __name__ == "__main__":
    main()
