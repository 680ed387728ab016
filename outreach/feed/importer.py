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
`feed_build` reads when the episode has no local exports.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html.entities
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import FeedError
from outreach.feed.build import AUDIO_TYPES, IMPORTED_LINKS_KEY
from outreach.fetch import download
from outreach.models import Episode, Meta
from outreach.podcast.episodes import slugify
from outreach.sanitize import apple_html, strip_html
from outreach.workspace import Workspace

MAX_GUID_LENGTH = 300  # Episode.guid
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_XML_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_ENTITY = re.compile(r"&(#[0-9]+;|#[xX][0-9A-Fa-f]+;|[A-Za-z][A-Za-z0-9]*;)?")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
# Zone names that RFC 2822 parsers do not know but feeds use.
_ZONES = {"CET": "+0100", "CEST": "+0200", "BST": "+0100", "EET": "+0200", "EEST": "+0300"}


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


# -- reading messy XML -------------------------------------------------------------------------


def decode_feed(data: bytes) -> tuple[str, list[str]]:
    """The feed as text, whatever its encoding claims, and what was odd about it."""
    warnings: list[str] = []
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), warnings
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), warnings
    match = _XML_DECLARATION.match(data)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    for encoding in dict.fromkeys((declared, "utf-8")):
        try:
            text = data.decode(encoding)
        except LookupError:
            warnings.append(f"the feed declares an unknown encoding {declared!r}")
            continue
        except UnicodeDecodeError:
            if encoding == declared:
                warnings.append(f"the feed says {declared} but is not valid {declared}")
            continue
        if encoding != declared:
            warnings.append(f"read the feed as {encoding} instead")
        return text, warnings
    warnings.append("read the feed as Windows-1252 (characters it lacks are replaced)")
    return data.decode("cp1252", errors="replace"), warnings


def _repair_entities(text: str) -> str:
    """HTML entities XML does not define become character references; bare & becomes &amp;."""

    def replace(match: re.Match[str]) -> str:
        entity = match.group(1)
        if entity is None:
            return "&amp;"
        if entity.startswith("#"):
            return match.group(0)
        name = entity[:-1]
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name)
        return f"&#{codepoint};" if codepoint is not None else f"&amp;{entity}"

    return _ENTITY.sub(replace, text)


def parse_xml(data: bytes) -> tuple[Any, list[str]]:
    text, warnings = decode_feed(data)
    text = _repair_entities(_XML_DECLARATION_TEXT.sub("", text, count=1))
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, huge_tree=False, encoding="utf-8"
    )
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        raise FeedError("this is not an RSS feed (no XML found)")
    if parser.error_log:
        warnings.append(
            f"the XML has {len(parser.error_log)} error(s), read as far as possible "
            f"(first: line {parser.error_log[0].line}: {parser.error_log[0].message})"
        )
    return root, warnings


def _kind(elem: Any) -> tuple[str, str]:
    """(namespace family, local name), tolerant of variant namespace URIs and unbound prefixes."""
    if not isinstance(elem.tag, str):
        return "", ""
    # Not etree.QName: recovered elements with an undeclared prefix have "itunes:x" as tag.
    namespace, _, local = (
        elem.tag[1:].partition("}") if elem.tag.startswith("{") else ("", "", elem.tag)
    )
    namespace = namespace.lower()
    if not namespace and ":" in local:
        prefix, local = local.split(":", 1)
        return prefix.lower(), local
    if "itunes.com" in namespace:
        return "itunes", local
    if "podcastindex" in namespace or "podcast-namespace" in namespace:
        return "podcast", local
    if "purl.org/rss/1.0/modules/content" in namespace:
        return "content", local
    if "search.yahoo.com/mrss" in namespace:
        return "media", local
    if "purl.org/dc/elements" in namespace:
        return "dc", local
    return ("", local) if not namespace else (namespace, local)


def _children(elem: Any, family: str, local: str) -> list[Any]:
    return [child for child in elem if _kind(child) == (family, local)]


def _text(elem: Any, family: str, local: str) -> str | None:
    for child in _children(elem, family, local):
        value = "".join(child.itertext()).strip()
        if value:
            return value
    return None


# -- values ----------------------------------------------------------------------------------


def parse_duration(text: str) -> float | None:
    """Seconds from `1830`, `1830.5`, `30:30` or `0:30:30`; None if it is none of those."""
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(parts):
        return None
    try:
        values = [float(part) for part in parts]
    except ValueError:
        return None
    if any(value < 0 for value in values) or any(value >= 60 for value in values[1:]):
        return None
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds


def parse_explicit(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("true", "yes", "explicit"):
        return True
    if value in ("false", "no", "clean", "not explicit"):
        return False
    return None


def parse_date(text: str) -> dt.datetime | None:
    """An aware UTC datetime from RFC 2822 (also with CET/CEST) or ISO 8601."""
    value = " ".join(text.split())
    words = value.split(" ")
    if words and words[-1].upper() in _ZONES:
        value = " ".join([*words[:-1], _ZONES[words[-1].upper()]])
    parsed: dt.datetime | None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _whole_number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


# -- the feed --------------------------------------------------------------------------------


def parse_feed_items(data: bytes, source_url: str | None = None) -> ParsedFeed:
    """Read every usable item; what is odd goes into warnings, what is unusable into skipped.
    Relative enclosure and link URLs are resolved against `source_url` (the feed's own URL)."""
    root, warnings = parse_xml(data)
    channel = root.find("channel") if _kind(root)[1] == "rss" else None
    if channel is None:
        raise FeedError(f"this is not an RSS feed (the root element is <{_kind(root)[1]}>)")
    language = (_text(channel, "", "language") or "sv").split("-")[0].lower()[:8]
    parsed = ParsedFeed(
        title=strip_html(_text(channel, "", "title") or ""), language=language, warnings=warnings
    )
    channel_explicit = parse_explicit(_text(channel, "itunes", "explicit") or "") or False
    fallback_date = None
    for tag in ("pubDate", "lastBuildDate"):
        fallback_date = fallback_date or parse_date(_text(channel, "", tag) or "")
    seen: set[str] = set()
    for position, item in enumerate(_children(channel, "", "item"), start=1):
        feed_item = _read_item(item, position, parsed, channel_explicit, fallback_date, source_url)
        if feed_item is None:
            continue
        if feed_item.guid in seen:
            parsed.skipped.append(f"item {position}: GUID {feed_item.guid!r} appears twice")
            continue
        seen.add(feed_item.guid)
        parsed.items.append(feed_item)
    return parsed


def _read_item(
    item: Any,
    position: int,
    parsed: ParsedFeed,
    channel_explicit: bool,
    fallback_date: dt.datetime | None,
    source_url: str | None = None,
) -> FeedItem | None:
    raw_title = _text(item, "", "title") or _text(item, "itunes", "title") or ""
    title = strip_html(raw_title)
    label = f"item {position}" + (f" ({title})" if title else "")
    warn = parsed.warnings.append
    enclosure = next(
        (e for e in _children(item, "", "enclosure") if (e.get("url") or "").strip()), None
    )
    if enclosure is None:
        enclosure = next(
            (
                e
                for e in _children(item, "media", "content")
                if (e.get("url") or "").strip()
                and (e.get("type") or "audio/").startswith(("audio/", "video/"))
            ),
            None,
        )
    if enclosure is None:
        parsed.skipped.append(f"{label}: no audio enclosure")
        return None
    url = _absolute_url(enclosure.get("url"), source_url, label, warn)
    if url is None:
        parsed.skipped.append(f"{label}: the enclosure URL {enclosure.get('url')!r} is not http(s)")
        return None
    if not title:
        title = Path(urllib.parse.urlsplit(url).path).stem or f"Avsnitt {position}"
        warn(f"{label}: no title, using {title!r}")
    elif raw_title != title and "<" in raw_title:
        warn(f"{label}: HTML removed from the title")
    guid = _text(item, "", "guid")
    if not guid:
        guid = url
        warn(f"{label}: no GUID, using the enclosure URL (as Apple does)")
    if len(guid) > MAX_GUID_LENGTH:
        parsed.skipped.append(f"{label}: GUID longer than {MAX_GUID_LENGTH} characters")
        return None
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    kind = (enclosure.get("type") or "").strip() or AUDIO_TYPES.get(suffix, "audio/mpeg")
    length = _whole_number(enclosure.get("length"))
    if not length:
        warn(f"{label}: enclosure has no byte length")
        length = None
    published = parse_date(_text(item, "", "pubDate") or _text(item, "dc", "date") or "")
    if published is None:
        published = fallback_date or dt.datetime.now(dt.UTC)
        warn(f"{label}: no readable pubDate, using {published:%Y-%m-%d}")
    duration = None
    duration_text = _text(item, "itunes", "duration")
    if duration_text is not None:
        duration = parse_duration(duration_text)
        if duration is None:
            warn(f"{label}: duration {duration_text!r} not understood, left empty")
    explicit = channel_explicit
    explicit_text = _text(item, "itunes", "explicit")
    if explicit_text is not None:
        value = parse_explicit(explicit_text)
        if value is None:
            warn(f"{label}: explicit {explicit_text!r} not understood, taken as false")
        explicit = bool(value)
    description = (
        _text(item, "content", "encoded")
        or _text(item, "", "description")
        or _text(item, "itunes", "summary")
        or _text(item, "itunes", "subtitle")
        or ""
    )
    episode_type = (_text(item, "itunes", "episodeType") or "full").lower()
    if episode_type not in ("full", "trailer", "bonus"):
        warn(f"{label}: episode type {episode_type!r} taken as full")
        episode_type = "full"
    transcripts = []
    for elem in _children(item, "podcast", "transcript"):
        link = {k: (elem.get(k) or "").strip() for k in ("url", "type", "language", "rel")}
        link["url"] = _absolute_url(link["url"], source_url, label, warn) or ""
        if link["url"] and link["type"]:
            transcripts.append({k: v for k, v in link.items() if v})
        else:
            warn(f"{label}: a podcast:transcript without url or type was left out")
    chapters = next(
        (
            _absolute_url(e.get("url"), source_url, label, warn)
            for e in _children(item, "podcast", "chapters")
            if (e.get("url") or "").strip()
        ),
        None,
    )
    return FeedItem(
        guid=guid,
        title=title[:300],
        summary=apple_html(description),
        published_at=published,
        enclosure_url=url,
        enclosure_type=kind,
        byte_size=length,
        duration_seconds=duration,
        explicit=explicit,
        number=_whole_number(_text(item, "itunes", "episode") or _text(item, "podcast", "episode")),
        season=_whole_number(_text(item, "itunes", "season") or _text(item, "podcast", "season")),
        episode_type=episode_type,
        transcripts=transcripts,
        chapters=chapters,
    )


# -- into the workspace ------------------------------------------------------------------------


def _absolute_url(
    url: str | None, base: str | None, label: str, warn: Callable[[str], None]
) -> str | None:
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
