"""Podcast episodes: add (copy sources in, permanent GUID), list, show, normalise.

Files of an episode live in `episodes/<slug>/` (see DESIGN.md): the copied sources in `source/`
(one Track row per file, `source/mix.<ext>` for a mixed file of a multitrack recording), the cover
and `chapters.json`, and after `normalize` the MP3 `<slug>.mp3`. Adding is all or nothing: every
input is checked (audio decoded in full by ffmpeg, cover, chapters) before anything is written,
files are copied into a hidden staging folder, and the folder is moved into place only together
with the database commit.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from outreach.audio import decode
from outreach.audio.encode import Tags
from outreach.audio.normalize import NormalizeReport, normalize_loudness
from outreach.audio.programme import Progress
from outreach.errors import NotFoundError, OutreachError, ValidationError
from outreach.models import Episode, Person, Track, utcnow
from outreach.podcast.chapters import Chapter, load_chapters
from outreach.podcast.covers import CoverInfo, check_cover
from outreach.podcast.people import PersonSpec, assign_speakers
from outreach.podcast.summary import summary_text
from outreach.workspace import Workspace

MAX_SLUG = 80
STATUSES = ("draft", "published")
# ISO 639-2 codes for the ID3 TLAN frame.
ID3_LANGUAGES = {"sv": "swe", "en": "eng", "fi": "fin", "no": "nor", "da": "dan", "de": "deu"}
# Letters that Unicode decomposition does not reduce to ASCII.
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "đ": "d", "ł": "l", "Ł": "l", "þ": "th"}
)
_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(title: str) -> str:
    """ASCII-only slug: "Möte i Umeå" becomes "mote-i-umea" (Apple rejects å, ä, ö in URLs)."""
    text = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    slug = slug[:MAX_SLUG].rstrip("-")
    return slug or "avsnitt"


def _slug_taken(session: Session, workspace: Workspace, slug: str) -> bool:
    in_db = session.scalar(select(Episode.id).where(Episode.slug == slug)) is not None
    return in_db or (workspace.episodes_dir / slug).exists()


def unique_slug(session: Session, workspace: Workspace, base: str) -> str:
    slug, n = base, 2
    while _slug_taken(session, workspace, slug):
        suffix = f"-{n}"
        slug = base[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
        n += 1
    return slug


def _safe_name(path: Path) -> str:
    return slugify(path.stem) + path.suffix.lower()


@dataclass(frozen=True)
class _CheckedInputs:
    """Everything `add_episode` was given, checked before anything is written."""

    slug: str
    infos: list[decode.AudioInfo]
    speakers: list[str | None]
    mix: decode.AudioInfo | None
    cover: CoverInfo | None
    chapters: Path | None


def add_episode(
    session: Session,
    workspace: Workspace,
    sources: Sequence[Path],
    *,
    title: str,
    slug: str | None = None,
    number: int | None = None,
    season: int | None = None,
    published: dt.datetime | None = None,
    summary: str | None = None,
    hosts: Sequence[PersonSpec] = (),
    guests: Sequence[PersonSpec] = (),
    speakers: Sequence[str] = (),
    cover: Path | None = None,
    chapters: Path | None = None,
    mix: Path | None = None,
    language: str = "sv",
) -> Episode:
    """Create an episode with a new permanent GUID; nothing is left behind if anything fails."""
    title = " ".join(title.split())
    if not title:
        raise ValidationError("an episode needs a title")
    people = [*hosts, *guests]
    checked = _check_inputs(
        session, workspace, sources, title, slug, people, speakers, cover, chapters, mix
    )
    episode = Episode(
        guid=str(uuid.uuid4()),
        slug=checked.slug,
        title=title,
        number=number,
        season=season,
        summary=summary.strip() if summary else None,
        language=language,
        status="draft",
        published_at=published,
    )
    for person in people:
        episode.people.append(
            Person(
                name=person.name,
                email=person.email,
                role=person.role,
                consent_named=person.consent_named,
            )
        )
    _store(session, workspace, episode, checked)
    return episode


def _checked_slug(session: Session, workspace: Workspace, slug: str | None, title: str) -> str:
    if slug is None:
        return unique_slug(session, workspace, slugify(title))
    if not _SLUG_RE.fullmatch(slug) or len(slug) > MAX_SLUG:
        raise ValidationError(
            f"invalid slug {slug!r}: lower-case ASCII letters, digits and hyphens only"
        )
    if _slug_taken(session, workspace, slug):
        raise ValidationError(f"slug {slug!r} is taken by another episode (or folder)")
    return slug


def _check_inputs(
    session: Session,
    workspace: Workspace,
    sources: Sequence[Path],
    title: str,
    slug: str | None,
    people: Sequence[PersonSpec],
    speakers: Sequence[str],
    cover: Path | None,
    chapters: Path | None,
    mix: Path | None,
) -> _CheckedInputs:
    """Decode every audio file in full, check cover and chapters: raise before writing anything."""
    if not sources:
        raise ValidationError("give at least one audio file")
    slug = _checked_slug(session, workspace, slug, title)
    infos = [decode.probe(Path(p)) for p in sources]
    mix_info = decode.probe(Path(mix)) if mix is not None else None
    if mix is not None and len(sources) < 2:
        raise ValidationError("--mix is for multitrack episodes (two or more audio files)")
    track_speakers = assign_speakers(len(sources), speakers, people)
    duration = (mix_info or max(infos, key=lambda i: i.duration_seconds)).duration_seconds
    cover_info = check_cover(Path(cover)) if cover is not None else None
    if chapters is not None:
        load_chapters(Path(chapters), duration)
    return _CheckedInputs(slug, infos, track_speakers, mix_info, cover_info, chapters)


def _store(
    session: Session, workspace: Workspace, episode: Episode, checked: _CheckedInputs
) -> None:
    """Copy the files into a hidden staging folder, then move it into place with the commit."""
    slug = checked.slug
    final = workspace.episodes_dir / slug
    staging = workspace.episodes_dir / f".{slug}.adding-{uuid.uuid4().hex[:8]}"
    moved = False
    try:
        _stage_files(staging, episode, checked)
        session.add(episode)
        session.flush()
        staging.rename(final)
        moved = True
        session.commit()
    except BaseException:
        session.rollback()
        shutil.rmtree(final if moved else staging, ignore_errors=True)
        raise


def _stage_files(staging: Path, episode: Episode, checked: _CheckedInputs) -> None:
    """Copy sources (one Track each), the mix, cover and chapters into `staging`."""
    slug = checked.slug
    (staging / "source").mkdir(parents=True)
    for position, (info, speaker) in enumerate(
        zip(checked.infos, checked.speakers, strict=True), start=1
    ):
        name = f"{position}-{_safe_name(info.path)}"
        shutil.copyfile(info.path, staging / "source" / name)
        episode.tracks.append(
            Track(position=position, path=f"episodes/{slug}/source/{name}", speaker=speaker)
        )
    if checked.mix is not None:
        suffix = checked.mix.path.suffix.lower()
        shutil.copyfile(checked.mix.path, staging / "source" / f"mix{suffix}")
    if checked.cover is not None:
        shutil.copyfile(checked.cover.path, staging / f"cover{checked.cover.suffix}")
        episode.cover = f"episodes/{slug}/cover{checked.cover.suffix}"
    if checked.chapters is not None:
        shutil.copyfile(checked.chapters, staging / "chapters.json")
        episode.chapters = f"episodes/{slug}/chapters.json"


def get_episode(session: Session, slug: str) -> Episode:
    episode = session.scalar(select(Episode).where(Episode.slug == slug))
    if episode is None:
        raise NotFoundError(f"no episode {slug!r} (see: outreach episode list)")
    return episode


def list_episodes(session: Session, status: str | None = None) -> list[Episode]:
    query = select(Episode).order_by(Episode.number.is_(None), Episode.number, Episode.created_at)
    if status:
        query = query.where(Episode.status == status)
    return list(session.scalars(query))


def published_episodes(
    session: Session, *, offset: int = 0, limit: int | None = None
) -> list[Episode]:
    """What the public may see: published episodes, newest first (people loaded); `offset` and
    `limit` pick one page of them."""
    return list(
        session.scalars(
            select(Episode)
            .where(Episode.status == "published")
            .options(selectinload(Episode.people))
            .order_by(Episode.published_at.desc().nulls_last(), Episode.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )


def count_published(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Episode).where(Episode.status == "published")
        )
        or 0
    )


def published_slugs(session: Session) -> list[str]:
    """The slugs of `published_episodes`, in the same order (one light query)."""
    return list(
        session.scalars(
            select(Episode.slug)
            .where(Episode.status == "published")
            .order_by(Episode.published_at.desc().nulls_last(), Episode.id.desc())
        )
    )


def published_episode(session: Session, slug: str) -> Episode | None:
    """The episode `slug` if it is published (None for drafts and unknown slugs)."""
    return session.scalar(
        select(Episode).where(Episode.slug == slug, Episode.status == "published")
    )


def mix_path(workspace: Workspace, episode: Episode) -> Path | None:
    folder = workspace.episodes_dir / episode.slug / "source"
    found = sorted(folder.glob("mix.*")) if folder.is_dir() else []
    return found[0] if found else None


def normalisation_sources(workspace: Workspace, episode: Episode) -> list[Path]:
    """The mixed file if one was given, else every track (summed while decoding)."""
    mixed = mix_path(workspace, episode)
    if mixed is not None:
        return [mixed]
    paths = [workspace.path(track.path) for track in episode.tracks]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValidationError(f"source audio missing: {', '.join(map(str, missing))}")
    if not paths:
        raise ValidationError(f"episode {episode.slug!r} has no source audio")
    return paths


def _tags(workspace: Workspace, episode: Episode, chapters: list[Chapter]) -> Tags:
    show = workspace.settings.show
    cover: Path | None = workspace.path(episode.cover) if episode.cover else None
    if cover is None and show.cover and workspace.path(show.cover).is_file():
        cover = workspace.path(show.cover)
    when = episode.published_at or utcnow()
    return Tags(
        title=episode.title,
        show=show.title,
        author=show.author,
        year=when.year,
        language=ID3_LANGUAGES.get(episode.language, "swe"),
        summary=summary_text(episode.summary) or None,
        number=episode.number,
        season=episode.season,
        cover=cover,
        chapters=chapters,
    )


def normalize_episode(
    session: Session,
    workspace: Workspace,
    slug: str,
    progress: Progress | None = None,
) -> NormalizeReport:
    """Loudness-normalise to the [audio] targets, encode `<slug>.mp3` with tags, store the figures."""
    episode = get_episode(session, slug)
    settings = workspace.settings.audio
    sources = normalisation_sources(workspace, episode)
    headers = [decode.probe_header(p) for p in sources]
    for header in headers:  # added before `episode add` checked the rate
        if header.sample_rate < decode.MIN_SAMPLE_RATE:
            raise ValidationError(
                f"{header.path.name}: sample rate {header.sample_rate} Hz is below"
                f" {decode.MIN_SAMPLE_RATE // 1000} kHz (a damaged header?)"
            )
    channels = 1 if all(h.channels == 1 for h in headers) else 2
    target, dual_mono = loudness_target(workspace, channels)
    chapters = load_chapters(workspace.path(episode.chapters), None) if episode.chapters else []
    folder = workspace.episodes_dir / episode.slug
    output = folder / f"{episode.slug}.mp3"
    lock = FileLock(str(folder / ".normalize.lock"))
    try:
        with lock.acquire(timeout=0):
            report = normalize_loudness(
                sources,
                output,
                target_lufs=target,
                ceiling_dbtp=settings.ceiling_dbtp,
                channels=channels,
                sample_rate=settings.sample_rate,
                bitrate_kbps=settings.bitrate_mono if channels == 1 else settings.bitrate_stereo,
                dual_mono=dual_mono,
                tags=_tags(workspace, episode, chapters),
                progress=progress,
                duration_hint=max(h.duration_seconds for h in headers),
            )
    except Timeout:
        raise OutreachError(f"episode {slug!r} is being normalised by another process") from None
    finally:
        Path(lock.lock_file).unlink(missing_ok=True)
    for chapter in chapters:
        if chapter.start >= report.after.duration_seconds:
            report.notes.append(f"chapter {chapter.title!r} starts after the end of the audio")
    episode.audio = f"episodes/{episode.slug}/{episode.slug}.mp3"
    episode.duration_seconds = round(report.after.duration_seconds, 3)
    episode.byte_size = report.byte_size
    episode.loudness_lufs = round(report.after.integrated_lufs, 2)
    episode.true_peak_dbtp = round(report.after.true_peak_dbtp, 2)
    episode.loudness_range_lu = round(report.after.loudness_range_lu, 2)
    episode.audio_sha256 = report.sha256
    return report


def loudness_target(workspace: Workspace, channels: int) -> tuple[float, bool]:
    """The [audio] target for an MP3 of `channels`, and whether mono is measured as dual mono."""
    settings = workspace.settings.audio
    if channels == 1 and not settings.mono_as_dual_mono:
        return settings.mono_target_lufs, False
    return settings.target_lufs, channels == 1


def episode_row(episode: Episode) -> dict[str, Any]:
    """One episode as `episode list --json` prints it."""
    return {
        "slug": episode.slug,
        "guid": episode.guid,
        "number": episode.number,
        "season": episode.season,
        "title": episode.title,
        "status": episode.status,
        "published_at": episode.published_at.isoformat() if episode.published_at else None,
        "audio": episode.audio,
        "duration_seconds": episode.duration_seconds,
        "byte_size": episode.byte_size,
        "loudness_lufs": episode.loudness_lufs,
        "true_peak_dbtp": episode.true_peak_dbtp,
        "loudness_range_lu": episode.loudness_range_lu,
    }


def episode_details(workspace: Workspace, episode: Episode) -> dict[str, Any]:
    """`episode_row` with summary, files, tracks and people (`episode show --json`)."""
    data = episode_row(episode)
    data["summary"] = episode.summary
    data["cover"] = episode.cover
    data["chapters"] = episode.chapters
    mixed = mix_path(workspace, episode)
    data["mix"] = str(mixed.relative_to(workspace.root)) if mixed else None
    data["tracks"] = [
        {"position": t.position, "path": t.path, "speaker": t.speaker} for t in episode.tracks
    ]
    data["people"] = [
        {"name": p.name, "email": p.email, "role": p.role, "consent_named": p.consent_named}
        for p in episode.people
    ]
    return data
