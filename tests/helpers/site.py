"""Published episodes for the podcast-page tests: real audio, hand-made or hour-long transcripts."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import io
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from outreach.audio.decode import ffmpeg_exe
from outreach.db import session_scope
from outreach.models import Episode, Person
from outreach.podcast import transcripts
from outreach.transcription import Segment, Word
from outreach.workspace import Workspace

from .feed_media import make_cover, static_server
from .review import FIXTURES, make_segments

SPEECH_MP3_CACHE: dict[str, Path] = {}
HOUR_SEGMENTS = 640
HOUR_WORDS_PER_SEGMENT = 15
VOCABULARY = [
    "vi",
    "pratar",
    "om",
    "hur",
    "kommuner",
    "kan",
    "börja",
    "använda",
    "AI",
    "med",
    "tydliga",
    "problem",
    "och",
    "bra",
    "data",
]


def speech_mp3(folder: Path) -> Path:
    """speech-en.wav (about 12 s of real speech) as an MP3, made once per test session."""
    if "mp3" not in SPEECH_MP3_CACHE or not SPEECH_MP3_CACHE["mp3"].is_file():
        target = folder / "speech-en.mp3"
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i"]
            + [str(FIXTURES / "speech-en.wav"), "-ac", "1", "-b:a", "64k", str(target)],
            check=True,
        )
        SPEECH_MP3_CACHE["mp3"] = target
    return SPEECH_MP3_CACHE["mp3"]


def hour_segments(*, speakers: bool = True, uncertain_word: int | None = None) -> list[Segment]:
    """A one-hour conversation's worth of segments: 640 × 15 = 9,600 words, two speakers (or
    none, as Whisper leaves a single track); word `uncertain_word` of each segment, if given, has
    a low probability (the review page marks those)."""
    segments: list[Segment] = []
    for i in range(HOUR_SEGMENTS):
        start = i * 5.6
        words = [
            Word(
                start=round(start + j * 0.36, 3),
                end=round(start + j * 0.36 + 0.3, 3),
                word=VOCABULARY[(i + j) % len(VOCABULARY)],
                probability=0.4 if j == uncertain_word else 0.93,
            )
            for j in range(HOUR_WORDS_PER_SEGMENT)
        ]
        speaker = ("Karin Värd" if (i // 4) % 2 == 0 else "Anna Andersson") if speakers else None
        text = " ".join(w["word"] for w in words)
        segments.append(
            Segment(id=i, start=start, end=start + 5.5, speaker=speaker, text=text, words=words)
        )
    return segments


def publish(
    workspace: Workspace,
    slug: str,
    title: str,
    *,
    audio: Path | None = None,
    segments: list[Segment] | None = None,
    accept: bool = True,
    published: dt.datetime | None = dt.datetime(2024, 5, 14, 6, 0, tzinfo=dt.UTC),
    number: int | None = None,
    summary: str | None = "Ett samtal om AI i kommunen.",
    people: tuple[tuple[str, str, bool], ...] = (
        ("Anna Andersson", "guest", True),
        ("Bo Berg", "guest", False),
        ("Karin Värd", "host", False),
    ),
    chapters: str | None = None,
    duration: float = 12.0,
) -> int:
    """An episode (published unless `published` is None) with a transcript version 1, accepted
    and its exports published when `accept`; returns the episode id."""
    folder = workspace.episodes_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    cover = workspace.path(workspace.settings.show.cover)
    if not cover.is_file():
        make_cover(cover)
    audio_path = None
    if audio is not None:
        shutil.copyfile(audio, folder / f"{slug}{audio.suffix}")
        audio_path = f"episodes/{slug}/{slug}{audio.suffix}"
    chapters_path = None
    if chapters is not None:
        (folder / "chapters.json").write_text(chapters, encoding="utf-8")
        chapters_path = f"episodes/{slug}/chapters.json"
    with session_scope(workspace) as session:
        episode = Episode(
            guid=str(uuid.uuid4()),
            slug=slug,
            title=title,
            number=number,
            summary=summary,
            status="published" if published else "draft",
            published_at=published,
            audio=audio_path,
            chapters=chapters_path,
            duration_seconds=duration,
        )
        episode.people = [
            Person(name=name, role=role, consent_named=consent, email=None)
            for name, role, consent in people
        ]
        session.add(episode)
        session.flush()
        version = transcripts.create_version(
            session,
            episode,
            segments if segments is not None else make_segments(),
            author="whisper",
        )
        if accept:
            transcripts.accept_version(session, version)
            transcripts.publish_exports(session, workspace, episode)
        return episode.id


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges, as any real static host (nginx, Apache, object
    stores) serves them; browsers need ranges to seek in audio."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(match.group(1))
        end = min(int(match.group(2) or size - 1), size - 1)
        if start > end:
            self.send_error(416)
            return None
        with path.open("rb") as handle:
            handle.seek(start)
            body = handle.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def static_host(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 with byte ranges; yields the base URL with a trailing slash."""
    with static_server(folder, _RangeHandler) as base:
        yield base
