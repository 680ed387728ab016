"""Small real media and rows for the feed tests: an MP3 made with ffmpeg, cover art made with
Pillow, published episodes with people, and a static HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw

from outreach.db import session_scope
from outreach.models import Episode, Person
from outreach.workspace import Workspace


def make_mp3(path: Path, seconds: float = 2.0, frequency: int = 440) -> Path:
    """A real MP3 (sine tone) of `seconds`; a different `frequency` gives different bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:duration={seconds}",
            "-ac",
            "1",
            "-b:a",
            "64k",
            str(path),
        ],
        check=True,
    )
    return path


def make_cover(path: Path, width: int = 1400, height: int | None = None, mode: str = "RGB") -> Path:
    """A real PNG (or JPEG for .jpg) cover of the given size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (width, height or width), (20, 40, 90))
    ImageDraw.Draw(image).ellipse(
        (100, 100, width - 100, (height or width) - 100), fill=(90, 140, 220)
    )
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path)
    return path


def add_episode(
    workspace: Workspace,
    slug: str,
    title: str,
    *,
    mp3: Path | None,
    published: dt.datetime | None = dt.datetime(2023, 4, 26, 8, 0, tzinfo=dt.UTC),
    guid: str | None = None,
    number: int | None = None,
    season: int | None = None,
    summary: str | None = None,
    duration: float | None = 2.0,
    people: tuple[tuple[str, str, bool], ...] = (),
    chapters: bool = False,
    transcripts: tuple[str, ...] = (),
) -> str:
    """Create an episode folder and row; `published=None` leaves it a draft. Returns its GUID."""
    folder = workspace.episodes_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    audio = None
    if mp3 is not None:
        shutil.copyfile(mp3, folder / f"{slug}.mp3")
        audio = f"episodes/{slug}/{slug}.mp3"
    chapters_path = None
    if chapters:
        (folder / "chapters.json").write_text(
            '{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]}',
            encoding="utf-8",
        )
        chapters_path = f"episodes/{slug}/chapters.json"
    for suffix in transcripts:
        (folder / f"{slug}.{suffix}").write_text(f"transcript {suffix}", encoding="utf-8")
    guid = guid or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, slug)}"
    with session_scope(workspace) as session:
        episode = Episode(
            guid=guid,
            slug=slug,
            title=title,
            summary=summary,
            number=number,
            season=season,
            status="published" if published else "draft",
            published_at=published,
            audio=audio,
            duration_seconds=duration,
            chapters=chapters_path,
        )
        episode.people = [
            Person(name=name, role=role, consent_named=consent) for name, role, consent in people
        ]
        session.add(episode)
    return guid


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_server(
    folder: Path, handler_class: type[http.server.SimpleHTTPRequestHandler] = _QuietHandler
) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port); yields the base URL with a trailing slash."""
    handler = functools.partial(handler_class, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
