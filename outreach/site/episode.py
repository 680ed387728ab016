"""One published episode's page: people, summary, player, chapters, transcript, downloads, neighbours.

Only public things get in: the episode must be published; the transcript is the publishable version
(the accepted one, or the latest with `[review] enabled = false`) and the transcript files are linked
only then; guests are named only if they agreed to be (`Person.consent_named`), hosts always.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from outreach import urls
from outreach.errors import ValidationError
from outreach.fsutil import file_inside
from outreach.models import Episode, Transcript
from outreach.podcast import transcripts
from outreach.podcast.chapters import Chapter, load_chapters
from outreach.podcast.episodes import published_episode, published_slugs
from outreach.podcast.privacy import hidden_names, public_speaker
from outreach.podcast.wordtimes import segment_start_text, timings_json
from outreach.sanitize import apple_html
from outreach.site.show import EpisodeCard, Link, ShowPage, episode_card, show_header
from outreach.workspace import Workspace

# A speaker's long turn (or a whole unlabelled single-track episode) is shown as paragraphs of at
# most this many segments; the paragraph is what is highlighted while it plays.
PARAGRAPH_SEGMENTS = 6
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".opus": "audio/ogg"}
# Public transcript exports, in the order the download list shows them.
DOWNLOADS = (
    ("vtt", "Undertexter (WebVTT)"),
    ("srt", "Undertexter (SRT)"),
    ("txt", "Transkript (text)"),
    ("html", "Transkript (HTML)"),
    ("json", "Transkript (JSON, med tider)"),
)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str

    @property
    def start_text(self) -> str:
        return segment_start_text(self.start)

    @property
    def end_text(self) -> str:
        return segment_start_text(self.end)


@dataclass
class Turn:
    """Consecutive segments of one speaker: one paragraph (`continued` for the later paragraphs
    of a long turn)."""

    speaker: str | None
    segments: list[Segment]
    continued: bool = False

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].end


@dataclass
class EpisodePage:
    show: ShowPage
    card: EpisodeCard
    summary_html: Markup
    guests: list[str]
    hosts: list[str]
    cover_path: str | None
    cover_url: str | None
    audio_path: str | None
    audio_type: str
    audio_url: str | None
    captions_path: str | None
    chapters: list[Chapter]
    transcript: Transcript | None
    hidden: dict[str, str]
    downloads: list[Link]
    newer: EpisodeCard | None
    older: EpisodeCard | None
    language: str

    @property
    def transcript_key(self) -> tuple[Any, ...] | None:
        """What the transcript part of the page depends on: the version (versions never change)
        and who is not to be named. None when there is no public transcript."""
        if self.transcript is None:
            return None
        transcript = self.transcript
        return (transcript.id, transcript.created_at, tuple(sorted(self.hidden.items())))

    def turns(self) -> list[Turn]:
        """The transcript as paragraphs (reads the version's segments)."""
        return paragraphs(self.transcript.segments, self.hidden) if self.transcript else []

    def word_times(self) -> Markup:
        return Markup(timings_json(self.transcript.segments if self.transcript else []))


def episode_page(session: Session, workspace: Workspace, slug: str) -> EpisodePage | None:
    """The page of published episode `slug`, or None (drafts and unknown slugs have no page)."""
    episode = published_episode(session, slug)
    if episode is None:
        return None
    slugs = published_slugs(session)
    index = slugs.index(slug)
    newer = published_episode(session, slugs[index - 1]) if index > 0 else None
    older = published_episode(session, slugs[index + 1]) if index + 1 < len(slugs) else None
    show = show_header(workspace)
    transcript = transcripts.publishable_version(
        session, episode, review_enabled=workspace.settings.review.enabled, with_segments=False
    )
    cover_path, cover_url = _episode_cover(workspace, episode, show)
    audio_path, audio_type, audio_url = _audio(workspace, episode)
    files = _transcript_files(workspace, episode) if transcript else {}
    guests, hosts = _people(workspace, episode)
    return EpisodePage(
        show=show,
        card=episode_card(workspace, episode),
        summary_html=Markup(apple_html(episode.summary or "")),
        guests=guests,
        hosts=hosts,
        cover_path=cover_path,
        cover_url=cover_url,
        audio_path=audio_path,
        audio_type=audio_type,
        audio_url=audio_url,
        captions_path=files.get("vtt"),
        chapters=_chapters(workspace, episode),
        transcript=transcript,
        hidden=hidden_names(episode),
        downloads=_downloads(workspace, episode, audio_path, files),
        newer=episode_card(workspace, newer) if newer else None,
        older=episode_card(workspace, older) if older else None,
        language=episode.language or workspace.settings.show.language,
    )


def paragraphs(segments: Sequence[dict[str, Any]], hidden: Mapping[str, str]) -> list[Turn]:
    """Segments grouped by speaker into paragraphs of at most PARAGRAPH_SEGMENTS (page order is
    segment order, which the word-timings block relies on). Speaker labels in `hidden` (folded
    names of guests who did not agree to be named, `podcast.privacy`) get their stand-in."""
    turns: list[Turn] = []
    for raw in segments:
        segment = Segment(float(raw["start"]), float(raw["end"]), str(raw["text"]))
        speaker = public_speaker(raw.get("speaker"), hidden)
        same = bool(turns) and turns[-1].speaker == speaker
        if same and len(turns[-1].segments) < PARAGRAPH_SEGMENTS:
            turns[-1].segments.append(segment)
        else:
            turns.append(Turn(speaker, [segment], continued=same))
    return turns


def _people(workspace: Workspace, episode: Episode) -> tuple[list[str], list[str]]:
    """(named guests, hosts): the show's hosts and the episode's, once each."""
    hosts = list(workspace.settings.show.hosts)
    guests: list[str] = []
    for person in episode.people:
        if person.role == "host" and person.name not in hosts:
            hosts.append(person.name)
        elif person.role == "guest" and person.consent_named and person.name not in guests:
            guests.append(person.name)
    return guests, hosts


def _public_file(workspace: Workspace, relative: str | None) -> Path | None:
    if not relative:
        return None
    path = workspace.path(relative)
    return path if file_inside(path, workspace.root) else None


def _audio(workspace: Workspace, episode: Episode) -> tuple[str | None, str, str | None]:
    """(path of the local audio on this site, its type, the absolute URL the feed gives).

    An imported episode whose audio stays on the old host gets no player (the page makes no
    requests elsewhere), only its URL as a link."""
    path = _public_file(workspace, episode.audio)
    kind = AUDIO_TYPES.get(path.suffix.lower(), "audio/mpeg") if path else "audio/mpeg"
    if episode.enclosure_url:
        remote = episode.enclosure_url
    elif path is not None:
        remote = urls.quoted(workspace.settings.show.base_url, "episodes", episode.slug, path.name)
    else:
        remote = None
    local = urls.episode_file_path(episode.slug, path.name) if path is not None else None
    return local, kind, remote


def _episode_cover(
    workspace: Workspace, episode: Episode, show: ShowPage
) -> tuple[str | None, str | None]:
    path = _public_file(workspace, episode.cover)
    if path is None:
        return show.cover_path, show.cover_url
    return urls.episode_file_path(episode.slug, path.name), urls.quoted(
        workspace.settings.show.base_url, "episodes", episode.slug, path.name
    )


def _transcript_files(workspace: Workspace, episode: Episode) -> dict[str, str]:
    """Format -> path on this site, for the published transcript exports that exist."""
    return {
        fmt: urls.episode_file_path(episode.slug, path.name)
        for fmt, path in transcripts.published_paths(workspace, episode).items()
        if file_inside(path, workspace.root)
    }


def _chapters(workspace: Workspace, episode: Episode) -> list[Chapter]:
    """The table of contents; a broken chapters file leaves the list out rather than the page."""
    path = _public_file(workspace, episode.chapters)
    if path is None:
        return []
    try:
        return [c for c in load_chapters(path) if c.toc]
    except ValidationError:
        return []


def _downloads(
    workspace: Workspace, episode: Episode, audio_path: str | None, files: dict[str, str]
) -> list[Link]:
    links: list[Link] = []
    audio = _public_file(workspace, episode.audio)
    if audio_path and audio is not None:
        size = audio.stat().st_size / 1_000_000
        kind = audio.suffix.lstrip(".").upper()
        links.append(Link(f"Ljudet ({kind})", audio_path, f"{size:.1f} MB".replace(".", ",")))
    for fmt, label in DOWNLOADS:
        if fmt in files:
            links.append(Link(label, files[fmt]))
    return links
