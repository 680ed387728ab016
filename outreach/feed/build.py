"""`feed build`: the podcast feed, the newsletter archive feed and the events calendar.

Gathers the published episodes, their publishable transcript exports, chapters and consenting
guests, and the show settings; renders with `outreach.feed` (feedgen), checks the result with
`outreach.feed_validate` and writes atomically. A feed that fails validation is never written.

URL layout (the same as `outreach serve` and `export-site`, see `outreach/web/media.py`):
`{base_url}feeds/<file>`, `{base_url}episodes/<show cover>`, `{base_url}episodes/<slug>/<file>`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach import urls
from outreach.errors import FeedError
from outreach.feed import ical
from outreach.feed import render as feed
from outreach.feed.validate import (
    MAX_DESCRIPTION_BYTES,
    ImageFetcher,
    Problem,
    errors_in,
    podcast_guid_for,
    validate_feed,
)
from outreach.fsutil import atomic_write_bytes
from outreach.models import Edition, Episode, Event, Meta, Transcript
from outreach.podcast.transcripts import episodes_with_publishable_version
from outreach.sanitize import apple_html, shorten_html, xml_text
from outreach.workspace import Workspace

PODCAST_FEED = "podcast.xml"
NEWSLETTER_FEED = "nyhetsbrev.xml"
EVENTS_FEED = "evenemang.ics"
PODCAST_GUID_KEY = "podcast_guid"
# Links an imported episode keeps pointing at (its old transcripts and chapters), as JSON.
IMPORTED_LINKS_KEY = "episode-links:{id}"
# Published transcript exports, in the order the feed lists them (VTT first): suffix, type, timed.
TRANSCRIPT_FORMATS = (
    (".vtt", "text/vtt", True),
    (".srt", "application/x-subrip", True),
    (".json", "application/json", True),
    (".html", "text/html", False),
    (".txt", "text/plain", False),
)
CHAPTERS_TYPE = "application/json+chapters"
AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/x-m4a",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
}
NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TAG_AUTHORITY = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class FeedInvalidError(FeedError):
    """The built feed failed validation; `problems` says where and how to fix it."""

    def __init__(self, message: str, problems: list[Problem], warnings: list[str]) -> None:
        super().__init__(message)
        self.problems = problems
        self.warnings = warnings


@dataclass
class BuildReport:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    episodes: int = 0
    editions: int = 0
    events: int = 0
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def podcast_feed_url(workspace: Workspace) -> str:
    return urls.quoted(workspace.settings.show.base_url, "feeds", PODCAST_FEED)


def podcast_guid(session: Session, workspace: Workspace) -> str:
    """The show's podcast:guid: computed from the feed URL the first time, then kept as stored."""
    stored = session.get(Meta, PODCAST_GUID_KEY)
    if stored is not None:
        return stored.value
    value = podcast_guid_for(podcast_feed_url(workspace))
    session.add(Meta(key=PODCAST_GUID_KEY, value=value))
    session.flush()
    return value


def imported_links(session: Session) -> dict[int, dict[str, Any]]:
    """Episode id -> the transcript and chapters links an imported episode keeps (one query)."""
    prefix = IMPORTED_LINKS_KEY.format(id="")
    links: dict[int, dict[str, Any]] = {}
    for row in session.scalars(select(Meta).where(Meta.key.startswith(prefix))):
        try:
            episode_id, value = int(row.key[len(prefix) :]), json.loads(row.value)
        except ValueError:
            continue
        if isinstance(value, dict):
            links[episode_id] = value
    return links


def local_image_fetcher(workspace: Workspace) -> ImageFetcher:
    """Read images under `{base_url}episodes/` from the workspace (as `outreach serve` would)."""
    base = urls.quoted(workspace.settings.show.base_url, "episodes") + "/"
    cover = workspace.path(workspace.settings.show.cover) if workspace.settings.show.cover else None
    root = workspace.episodes_dir.resolve()

    def fetch(url: str) -> bytes | None:
        if not url.startswith(base):
            return None
        parts = [urllib.parse.unquote(part) for part in url[len(base) :].split("/")]
        if len(parts) == 1 and cover is not None and parts[0] == cover.name:
            path = cover
        elif len(parts) == 2 and all(p and not p.startswith(".") for p in parts):
            path = (workspace.episodes_dir / parts[0] / parts[1]).resolve()
            if not path.is_relative_to(root):
                return None
        else:
            return None
        return path.read_bytes() if path.is_file() else None

    return fetch


def published_episodes(session: Session) -> list[Episode]:
    return list(
        session.scalars(
            select(Episode)
            .where(Episode.status == "published", Episode.published_at.is_not(None))
            .options(selectinload(Episode.people))
            .order_by(Episode.published_at.desc(), Episode.id.desc())
        )
    )


def _file_names(folder: Path) -> set[str]:
    """Names of the regular files in `folder` (one directory read instead of a stat per name)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except OSError:
        return set()


class _PodcastGatherer:
    """Turns the workspace and database into `feed.Channel` and `feed.Item` values."""

    def __init__(self, workspace: Workspace, session: Session, report: BuildReport) -> None:
        self.workspace = workspace
        self.session = session
        self.report = report
        self.show = workspace.settings.show
        self.hosts = tuple(feed.FeedPerson(name=name, role="host") for name in self.show.hosts)
        self.episodes_base = self.url("episodes") + "/"
        self.imported = imported_links(session)
        self.with_transcripts = set(session.scalars(select(Transcript.episode_id).distinct()))
        self.publishable = episodes_with_publishable_version(
            session, review_enabled=workspace.settings.review.enabled
        )

    def url(self, *parts: str) -> str:
        return urls.quoted(self.show.base_url, *parts)

    def episode_url(self, episode: Episode, name: str) -> str:
        """`{base_url}episodes/<slug>/<name>`, percent-encoded."""
        quote = urllib.parse.quote
        return f"{self.episodes_base}{quote(episode.slug, safe='')}/{quote(name, safe='')}"

    def channel(self, now: dt.datetime, items: list[feed.Item]) -> feed.Channel:
        show = self.show
        cover = self.workspace.path(show.cover) if show.cover else None
        if cover is None or not cover.is_file():
            raise FeedError(
                f"the show cover {show.cover or '(not set)'} does not exist: set [show] cover to a "
                "square JPEG or PNG of 1400 to 3000 px in the workspace"
            )
        image_url = self.url("episodes", cover.name)
        return feed.Channel(
            title=show.title,
            description=show.description,
            link=show.link,
            feed_url=podcast_feed_url(self.workspace),
            language=show.language,
            copyright=show.copyright,
            image_url=image_url,
            category=show.category,
            subcategory=show.subcategory,
            explicit=show.explicit,
            author=show.author,
            owner_name=show.owner_name,
            owner_email=show.owner_email,
            hide_owner=show.hide_owner,
            show_type=show.show_type,
            podcast_guid=podcast_guid(self.session, self.workspace),
            medium=show.medium,
            funding_url=show.funding_url,
            funding_text=show.funding_text,
            hosts=self.hosts,
            last_build=now,
            pub_date=max((item.pub_date for item in items), default=None),
        )

    def item(self, episode: Episode) -> feed.Item | None:
        links = self.imported.get(episode.id, {})
        enclosure = self.enclosure(episode)
        if enclosure is None:
            self.report.warnings.append(
                f"episode {episode.slug}: left out, it has no audio (run 'outreach episode "
                "normalize' first)"
            )
            return None
        url, length, kind = enclosure
        assert episode.published_at is not None
        return feed.Item(
            guid=episode.guid,
            title=xml_text(episode.title),
            description_html=self.description(episode),
            pub_date=episode.published_at,
            enclosure_url=url,
            enclosure_length=length,
            enclosure_type=kind,
            duration_seconds=(
                round(episode.duration_seconds) if episode.duration_seconds is not None else None
            ),
            explicit=episode.explicit or self.show.explicit,
            episode_type=episode.episode_type or "full",
            number=episode.number,
            season=episode.season,
            image_url=self.episode_image(episode),
            transcripts=self.transcripts(episode, links),
            chapters=self.chapters(episode, links),
            people=self.people(episode),
            link=urls.episode_page_url(self.workspace, episode.slug),
        )

    def enclosure(self, episode: Episode) -> tuple[str, int, str] | None:
        audio = self.workspace.path(episode.audio) if episode.audio else None
        size = audio.stat().st_size if audio is not None and audio.is_file() else None
        if episode.enclosure_url:
            suffix = Path(urllib.parse.urlsplit(episode.enclosure_url).path).suffix.lower()
            length = size if size is not None else (episode.byte_size or 0)
            if not length:
                self.report.warnings.append(
                    f"episode {episode.slug}: its old feed gave no byte length for the audio; "
                    "'outreach episode import-feed FEED --download' fetches the file and its size"
                )
            return episode.enclosure_url, length, AUDIO_TYPES.get(suffix, "audio/mpeg")
        if audio is None or size is None:
            return None
        return self.episode_url(episode, audio.name), size, "audio/mpeg"

    def description(self, episode: Episode) -> str:
        html_text = apple_html(episode.summary or "") or apple_html(episode.title)
        shortened = shorten_html(html_text, MAX_DESCRIPTION_BYTES)
        if shortened != html_text:
            self.report.warnings.append(
                f"episode {episode.slug}: description over {MAX_DESCRIPTION_BYTES} bytes, "
                "shortened to plain text in the feed"
            )
        return shortened

    def episode_image(self, episode: Episode) -> str | None:
        if not episode.cover:
            return None
        path = self.workspace.path(episode.cover)
        if not path.is_file():
            return None
        return self.episode_url(episode, path.name)

    def transcripts(self, episode: Episode, links: dict[str, Any]) -> tuple[feed.FeedLink, ...]:
        if episode.id in self.with_transcripts and episode.id not in self.publishable:
            self.report.warnings.append(
                f"episode {episode.slug}: no accepted transcript yet, so none in the feed"
            )
            return ()
        files = _file_names(self.workspace.episodes_dir / episode.slug)
        found = []
        for suffix, kind, timed in TRANSCRIPT_FORMATS:
            name = f"{episode.slug}{suffix}"
            if name in files:
                found.append(
                    feed.FeedLink(
                        url=self.episode_url(episode, name),
                        type=kind,
                        language=episode.language,
                        rel="captions" if timed else None,
                    )
                )
        if found:
            return tuple(found)
        return tuple(
            feed.FeedLink(
                url=str(link["url"]),
                type=str(link["type"]),
                language=link.get("language"),
                rel=link.get("rel"),
            )
            for link in links.get("transcripts", [])
            if isinstance(link, dict) and link.get("url") and link.get("type")
        )

    def chapters(self, episode: Episode, links: dict[str, Any]) -> feed.FeedLink | None:
        if episode.chapters:
            path = self.workspace.path(episode.chapters)
            if path.is_file():
                return feed.FeedLink(url=self.episode_url(episode, path.name), type=CHAPTERS_TYPE)
        chapters = links.get("chapters")
        if isinstance(chapters, str) and chapters:
            return feed.FeedLink(url=chapters, type=CHAPTERS_TYPE)
        return None

    def people(self, episode: Episode) -> tuple[feed.FeedPerson, ...]:
        """Item-level persons replace the channel's in Podcasting 2.0 apps, so hosts are repeated."""
        extra = []
        names = {host.name for host in self.hosts}
        for person in episode.people:
            if person.name in names:
                continue
            if person.role == "host":
                extra.append(feed.FeedPerson(name=xml_text(person.name), role="host"))
            elif person.role == "guest" and person.consent_named:
                extra.append(feed.FeedPerson(name=xml_text(person.name), role="guest"))
            else:
                continue
            names.add(person.name)
        return (*self.hosts, *extra) if extra else ()


def build_podcast_feed(
    workspace: Workspace, session: Session, now: dt.datetime, report: BuildReport
) -> bytes | None:
    """The validated podcast feed bytes, or None when no episode is published yet."""
    gatherer = _PodcastGatherer(workspace, session, report)
    items = [item for episode in published_episodes(session) if (item := gatherer.item(episode))]
    if not items:
        return None
    channel = gatherer.channel(now, items)
    data = feed.render_podcast(channel, items)

    problems = validate_feed(data, fetch=local_image_fetcher(workspace))
    report.problems = problems
    report.episodes = len(items)
    errors = errors_in(problems)
    if errors:
        raise FeedInvalidError(
            f"feeds/{PODCAST_FEED} not written: {len(errors)} problem(s) found by the validator",
            problems,
            report.warnings,
        )
    return data


def build_newsletter_feed(
    workspace: Workspace, session: Session, now: dt.datetime
) -> tuple[bytes, int]:
    """Atom feed of sent editions, newest first, linking to the archive pages; and their count."""
    settings = workspace.settings.newsletter
    base = settings.public_url.rstrip("/")
    editions = list(
        session.scalars(
            select(Edition)
            .where(Edition.status == "sent", Edition.sent_at.is_not(None))
            .order_by(Edition.sent_at.desc(), Edition.id.desc())
        )
    )
    entries = []
    for edition in editions:
        assert edition.sent_at is not None
        link = f"{base}/nyhetsbrev/{urllib.parse.quote(edition.slug)}/"
        entry_id = (
            f"tag:{settings.list_id},{edition.edition_date.isoformat()}:nyhetsbrev/{edition.slug}"
            if _TAG_AUTHORITY.match(settings.list_id)
            else link
        )
        entries.append(
            feed.AtomEntry(id=entry_id, title=edition.subject, link=link, updated=edition.sent_at)
        )
    atom = feed.AtomFeed(
        id=f"{base}/nyhetsbrev/",
        title=settings.name,
        subtitle="Nyhetsbrevets utskick",
        link=f"{base}/nyhetsbrev/",
        self_url=f"{base}/feeds/{NEWSLETTER_FEED}",
        language="sv",
        author=settings.name,
        # With nothing sent yet, a fixed instant keeps the bytes the same from build to build.
        updated=entries[0].updated if entries else NEVER,
        entries=entries,
    )
    return feed.render_atom(atom), len(entries)


def build_events_feed(
    workspace: Workspace, session: Session, now: dt.datetime
) -> tuple[bytes, int]:
    """iCalendar of events that have not ended yet, and how many there are."""
    events = [
        event
        for event in session.scalars(select(Event).order_by(Event.starts, Event.id))
        if (event.ends or event.starts) >= now
    ]
    settings = workspace.settings.newsletter
    host = settings.list_id if _TAG_AUTHORITY.match(settings.list_id) else "outreach.invalid"
    return ical.render_events(events, name=settings.name, uid_domain=host), len(events)


def build_feeds(
    workspace: Workspace, session: Session, now: dt.datetime | None = None
) -> BuildReport:
    """Build and write all three feeds. The podcast feed is validated first and written only if
    it passes; the other two are written after it (nothing is written if it fails)."""
    now = now or dt.datetime.now(dt.UTC)
    report = BuildReport()
    folder = workspace.feeds_dir
    podcast = build_podcast_feed(workspace, session, now, report)
    newsletter, report.editions = build_newsletter_feed(workspace, session, now)
    events, report.events = build_events_feed(workspace, session, now)
    podcast_path = folder / PODCAST_FEED
    if podcast is None:
        report.warnings.append(
            "no published episode has audio yet, so feeds/podcast.xml is not written "
            "(Apple accepts a show only with at least one episode)"
        )
        if podcast_path.exists():
            podcast_path.unlink()
            report.removed.append(podcast_path)
    else:
        atomic_write_bytes(podcast_path, podcast)
        report.written.append(podcast_path)
    for name, data in ((NEWSLETTER_FEED, newsletter), (EVENTS_FEED, events)):
        atomic_write_bytes(folder / name, data)
        report.written.append(folder / name)
    return report
