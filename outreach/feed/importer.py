"""`episode import-feed`: bring an existing show's back catalogue in from its RSS feed.

Real feeds are messy, so reading is forgiving: the declared encoding may be wrong (we fall back
to UTF-8, then Windows-1252), HTML entities such as `&nbsp;` and bare `&` are repaired, lxml
recovers from broken markup, namespace URIs are matched loosely, durations may be seconds,
MM:SS or HH:MM:SS, `explicit` may be yes/no/clean/true/false, and an item without a GUID gets
its enclosure URL as GUID (as Apple does). Everything odd becomes a warning; items that cannot
be used (no audio) are skipped and reported. An episode whose GUID is already in the database
is left alone, so importing the same feed twice adds nothing.

Imported episodes are published (they already were, in the old feed) and keep pointing at their
original audio (`Episode.enclosure_url`) unless `--download` fetched it. Their transcript and
chapters links are kept in the `meta` table (key `episode-links:<episode id>`), which
`feed.build` reads when the episode has no local exports.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import FeedError
from outreach.feed.lenient import (
    child_text,
    children,
    kind,
    parse_date,
    parse_duration,
    parse_explicit,
    parse_xml,
    whole_number,
)
from outreach.feed.spec import AUDIO_TYPES, IMPORTED_LINKS_KEY
from outreach.fetch import download
from outreach.models import Episode, Meta
from outreach.podcast.episodes import slugify
from outreach.sanitize import apple_html, strip_html
from outreach.workspace import Workspace

MAX_GUID_LENGTH = 300  # Episode.guid


@dataclass
class FeedItem:
    """One usable item of the imported feed."""

    guid: str
    title: str
    summary: str
    published_at: dt.datetime
    enclosure_url: str
    enclosure_type: str
    byte_size: int | None
    duration_seconds: float | None
    explicit: bool
    number: int | None = None
    season: int | None = None
    episode_type: str = "full"
    transcripts: list[dict[str, str]] = field(default_factory=list)
    chapters: str | None = None


@dataclass
class ParsedFeed:
    title: str
    language: str
    items: list[FeedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)


# -- the feed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChannelDefaults:
    """What an item falls back on: the show's explicit flag and date, the feed's own URL."""

    explicit: bool
    date: dt.datetime | None
    source_url: str | None


def parse_feed_items(data: bytes, source_url: str | None = None) -> ParsedFeed:
    """Read every usable item; what is odd goes into warnings, what is unusable into skipped.
    Relative enclosure and link URLs are resolved against `source_url` (the feed's own URL)."""
    root, warnings = parse_xml(data)
    channel = root.find("channel") if kind(root)[1] == "rss" else None
    if channel is None:
        raise FeedError(f"this is not an RSS feed (the root element is <{kind(root)[1]}>)")
    language = (child_text(channel, "", "language") or "sv").split("-")[0].lower()[:8]
    parsed = ParsedFeed(
        title=strip_html(child_text(channel, "", "title") or ""),
        language=language,
        warnings=warnings,
    )
    fallback_date = None
    for tag in ("pubDate", "lastBuildDate"):
        fallback_date = fallback_date or parse_date(child_text(channel, "", tag) or "")
    defaults = _ChannelDefaults(
        explicit=parse_explicit(child_text(channel, "itunes", "explicit") or "") or False,
        date=fallback_date,
        source_url=source_url,
    )
    seen: set[str] = set()
    for position, item in enumerate(children(channel, "", "item"), start=1):
        feed_item = _read_item(item, position, parsed, defaults)
        if feed_item is None:
            continue
        if feed_item.guid in seen:
            parsed.skipped.append(f"item {position}: GUID {feed_item.guid!r} appears twice")
            continue
        seen.add(feed_item.guid)
        parsed.items.append(feed_item)
    return parsed


Warn = Callable[[str], None]


def _read_item(
    item: Any, position: int, parsed: ParsedFeed, defaults: _ChannelDefaults
) -> FeedItem | None:
    """One item as a FeedItem, or None (and a line in `parsed.skipped`) if it cannot be used."""
    raw_title = child_text(item, "", "title") or child_text(item, "itunes", "title") or ""
    title = strip_html(raw_title)
    label = f"item {position}" + (f" ({title})" if title else "")
    warn = parsed.warnings.append
    enclosure = _find_enclosure(item)
    if enclosure is None:
        parsed.skipped.append(f"{label}: no audio enclosure")
        return None
    url = _absolute_url(enclosure.get("url"), defaults.source_url, label, warn)
    if url is None:
        parsed.skipped.append(f"{label}: the enclosure URL {enclosure.get('url')!r} is not http(s)")
        return None
    title = _title_or_file_name(title, raw_title, url, position, label, warn)
    guid = child_text(item, "", "guid")
    if not guid:
        guid = url
        warn(f"{label}: no GUID, using the enclosure URL (as Apple does)")
    if len(guid) > MAX_GUID_LENGTH:
        parsed.skipped.append(f"{label}: GUID longer than {MAX_GUID_LENGTH} characters")
        return None
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    media_type = (enclosure.get("type") or "").strip() or AUDIO_TYPES.get(suffix, "audio/mpeg")
    length = _byte_length(enclosure, label, warn)
    published = _published(item, defaults.date, label, warn)
    duration = _duration(item, label, warn)
    explicit = _explicit(item, defaults.explicit, label, warn)
    episode_type = _episode_type(item, label, warn)
    transcripts = _transcript_links(item, defaults.source_url, label, warn)
    return FeedItem(
        guid=guid,
        title=title[:300],
        summary=apple_html(_description(item)),
        published_at=published,
        enclosure_url=url,
        enclosure_type=media_type,
        byte_size=length,
        duration_seconds=duration,
        explicit=explicit,
        number=whole_number(
            child_text(item, "itunes", "episode") or child_text(item, "podcast", "episode")
        ),
        season=whole_number(
            child_text(item, "itunes", "season") or child_text(item, "podcast", "season")
        ),
        episode_type=episode_type,
        transcripts=transcripts,
        chapters=_chapters_link(item, defaults.source_url, label, warn),
    )


def _find_enclosure(item: Any) -> Any:
    """The <enclosure> with a URL, else an audio or video <media:content>, else None."""
    enclosure = next(
        (e for e in children(item, "", "enclosure") if (e.get("url") or "").strip()), None
    )
    if enclosure is not None:
        return enclosure
    return next(
        (
            e
            for e in children(item, "media", "content")
            if (e.get("url") or "").strip()
            and (e.get("type") or "audio/").startswith(("audio/", "video/"))
        ),
        None,
    )


def _title_or_file_name(
    title: str, raw_title: str, url: str, position: int, label: str, warn: Warn
) -> str:
    if not title:
        title = Path(urllib.parse.urlsplit(url).path).stem or f"Avsnitt {position}"
        warn(f"{label}: no title, using {title!r}")
    elif raw_title != title and "<" in raw_title:
        warn(f"{label}: HTML removed from the title")
    return title


def _byte_length(enclosure: Any, label: str, warn: Warn) -> int | None:
    length = whole_number(enclosure.get("length"))
    if not length:
        warn(f"{label}: enclosure has no byte length")
        return None
    return length


def _published(item: Any, fallback: dt.datetime | None, label: str, warn: Warn) -> dt.datetime:
    published = parse_date(child_text(item, "", "pubDate") or child_text(item, "dc", "date") or "")
    if published is None:
        published = fallback or dt.datetime.now(dt.UTC)
        warn(f"{label}: no readable pubDate, using {published:%Y-%m-%d}")
    return published


def _duration(item: Any, label: str, warn: Warn) -> float | None:
    duration_text = child_text(item, "itunes", "duration")
    if duration_text is None:
        return None
    duration = parse_duration(duration_text)
    if duration is None:
        warn(f"{label}: duration {duration_text!r} not understood, left empty")
    return duration


def _explicit(item: Any, channel_explicit: bool, label: str, warn: Warn) -> bool:
    explicit_text = child_text(item, "itunes", "explicit")
    if explicit_text is None:
        return channel_explicit
    value = parse_explicit(explicit_text)
    if value is None:
        warn(f"{label}: explicit {explicit_text!r} not understood, taken as false")
    return bool(value)


def _description(item: Any) -> str:
    return (
        child_text(item, "content", "encoded")
        or child_text(item, "", "description")
        or child_text(item, "itunes", "summary")
        or child_text(item, "itunes", "subtitle")
        or ""
    )


def _episode_type(item: Any, label: str, warn: Warn) -> str:
    episode_type = (child_text(item, "itunes", "episodeType") or "full").lower()
    if episode_type not in ("full", "trailer", "bonus"):
        warn(f"{label}: episode type {episode_type!r} taken as full")
        return "full"
    return episode_type


def _transcript_links(
    item: Any, source_url: str | None, label: str, warn: Warn
) -> list[dict[str, str]]:
    transcripts = []
    for elem in children(item, "podcast", "transcript"):
        link = {k: (elem.get(k) or "").strip() for k in ("url", "type", "language", "rel")}
        link["url"] = _absolute_url(link["url"], source_url, label, warn) or ""
        if link["url"] and link["type"]:
            transcripts.append({k: v for k, v in link.items() if v})
        else:
            warn(f"{label}: a podcast:transcript without url or type was left out")
    return transcripts


def _chapters_link(item: Any, source_url: str | None, label: str, warn: Warn) -> str | None:
    return next(
        (
            _absolute_url(e.get("url"), source_url, label, warn)
            for e in children(item, "podcast", "chapters")
            if (e.get("url") or "").strip()
        ),
        None,
    )


# -- into the workspace ------------------------------------------------------------------------


def _absolute_url(url: str | None, base: str | None, label: str, warn: Warn) -> str | None:
    """An absolute, ASCII http(s) URL (relative ones resolved, others percent-encoded), or None."""
    url = (url or "").strip()
    if base:
        url = urllib.parse.urljoin(base, url)
    if not url.lower().startswith(("http://", "https://")):
        return None
    if not url.isascii() or " " in url:
        url = urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")
        warn(f"{label}: percent-encoded the URL {url}")
    return url


def _unique_slug(session: Session, title: str, taken: set[str]) -> str:
    base = slugify(title)
    existing = set(session.scalars(select(Episode.slug).where(Episode.slug.like(f"{base}%"))).all())
    candidate, number = base, 2
    while candidate in existing or candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def import_items(
    workspace: Workspace,
    session: Session,
    parsed: ParsedFeed,
    *,
    download_audio: bool = False,
    on_item: Callable[[], None] | None = None,
) -> ImportReport:
    """Add the parsed items that are not in the database yet (matched by GUID)."""
    report = ImportReport(skipped=list(parsed.skipped), warnings=list(parsed.warnings))
    guids = [item.guid for item in parsed.items]
    known = {
        episode.guid: episode
        for episode in session.scalars(select(Episode).where(Episode.guid.in_(guids)))
    }
    taken: set[str] = set()
    for item in parsed.items:
        existing = known.get(item.guid)
        if existing is not None:
            report.existing.append(item.title)
            # Left as it is, except that --download fetches audio an earlier import did not.
            if download_audio and existing.audio is None and existing.enclosure_url:
                _download_audio(workspace, existing, item, report)
            if on_item:
                on_item()
            continue
        episode = Episode(
            guid=item.guid,
            slug=_unique_slug(session, item.title, taken),
            title=item.title,
            summary=item.summary or None,
            number=item.number,
            season=item.season,
            episode_type=item.episode_type,
            language=parsed.language or "sv",
            explicit=item.explicit,
            status="published",
            published_at=item.published_at,
            enclosure_url=item.enclosure_url,
            byte_size=item.byte_size,
            duration_seconds=item.duration_seconds,
        )
        session.add(episode)
        session.flush()
        links: dict[str, Any] = {}
        if item.transcripts:
            links["transcripts"] = item.transcripts
        if item.chapters:
            links["chapters"] = item.chapters
        if links:
            session.add(Meta(key=IMPORTED_LINKS_KEY.format(id=episode.id), value=json.dumps(links)))
        if download_audio:
            _download_audio(workspace, episode, item, report)
        report.added.append(item.title)
        if on_item:
            on_item()
    session.flush()
    return report


def _download_audio(
    workspace: Workspace, episode: Episode, item: FeedItem, report: ImportReport
) -> None:
    url = episode.enclosure_url or item.enclosure_url
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    suffix = suffix if suffix in AUDIO_TYPES else ".mp3"
    relative = f"episodes/{episode.slug}/{episode.slug}{suffix}"
    try:
        size = download(url, workspace.path(relative))
    except FeedError as exc:
        report.warnings.append(f"{item.title}: audio not downloaded, the feed keeps its URL: {exc}")
        return
    episode.audio = relative
    episode.byte_size = size
    report.downloaded.append(episode.title)
    if suffix == ".mp3":
        # Our copy is served from base_url from now on (see feed_build).
        episode.enclosure_url = None
