"""One <item> of an imported feed as a `FeedItem`, read in named steps, each forgiving.

Durations may be seconds, MM:SS or HH:MM:SS (kept only within 0–48 h), `explicit` may be
yes/no/clean/true/false, an item without a GUID gets its enclosure URL as GUID (as Apple does),
`audio/mp3` becomes `audio/mpeg` while video stays video, and a missing, zero or negative byte
length is left empty. Descriptions stay sanitised HTML up to Apple's 4000 bytes; every text is
made safe from newsletter placeholders. What is odd becomes a warning; an item that cannot be
used (no audio) is skipped and reported. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from outreach.feed.lenient import (
    Fields,
    element_text,
    parse_date,
    parse_duration,
    parse_explicit,
    whole_number,
)
from outreach.feed.spec import MAX_DESCRIPTION_BYTES, MEDIA_TYPES
from outreach.feed.text import defuse_placeholders, shorten_html
from outreach.sanitize import apple_html, strip_html, xml_text

MAX_GUID_LENGTH = 300  # Episode.guid
MAX_TITLE_LENGTH = 300  # Episode.title
MAX_DURATION_SECONDS = 48 * 3600
MAX_BYTES = 10**13  # 10 TB: any larger "length" is a typo
MAX_ATTRIBUTE = 1000  # characters kept of an attribute or text of a Podcasting 2.0 tag
# Enclosure types feeds write for a registered one.
TYPE_ALIASES = {
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-mpeg-3": "audio/mpeg",
    "audio/m4a": "audio/x-m4a",
    "video/m4v": "video/x-m4v",
}
# Podcasting 2.0 item tags kept as they are (attributes, text and children) and written back.
KEPT_TAGS = ("soundbite", "location", "value", "funding", "license", "socialInteract", "txt")

Warn = Callable[[str], None]


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
    season_name: str | None = None
    episode_type: str = "full"
    transcripts: list[dict[str, str]] = field(default_factory=list)
    chapters: str | None = None
    link: str | None = None
    image: str | None = None
    persons: list[dict[str, str]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)

    def kept_links(self) -> dict[str, Any]:
        """What the episode keeps beside its columns (stored as JSON, read by `feed build`)."""
        values: dict[str, Any] = {
            "transcripts": self.transcripts,
            "chapters": self.chapters,
            "enclosure_type": self.enclosure_type,
            "link": self.link,
            "image": self.image,
            "persons": self.persons,
            "season_name": self.season_name,
            "tags": self.tags,
        }
        return {key: value for key, value in values.items() if value}


@dataclass
class ItemContext:
    """What every item of one feed shares: the show's fallbacks and where problems go."""

    explicit: bool
    date: dt.datetime | None
    source_url: str | None
    warnings: list[str]
    skipped: list[str]


def absolute_url(url: str | None, base: str | None, warn: Warn, label: str) -> str | None:
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


def plain_text(text: str) -> str:
    """`sanitize.strip_html`, without running the sanitiser on text that has no markup."""
    if "<" in text:
        return strip_html(text)
    return " ".join(xml_text(html.unescape(text)).split())


def clean_text(text: str, limit: int = MAX_ATTRIBUTE) -> str:
    """Imported text as we keep it: placeholder-safe and bounded. (It comes from the XML
    parser, so it holds only characters XML allows; `feed.build` checks again on the way out.)"""
    return defuse_placeholders(text)[:limit]


def read_item(item: Any, position: int, context: ItemContext) -> FeedItem | None:
    """One item as a FeedItem, or None (and a line in `context.skipped`) if it cannot be used."""
    fields = Fields(item)
    raw_title = fields.text("", "title") or fields.text("itunes", "title") or ""
    title = plain_text(raw_title)
    label = f"item {position}" + (f" ({title})" if title else "")

    def warn(message: str) -> None:
        context.warnings.append(f"{label}: {message}")

    enclosure = _find_enclosure(fields)
    if enclosure is None:
        context.skipped.append(f"{label}: no audio enclosure")
        return None
    url = absolute_url(enclosure.get("url"), context.source_url, context.warnings.append, label)
    if url is None:
        context.skipped.append(
            f"{label}: the enclosure URL {enclosure.get('url')!r} is not http(s)"
        )
        return None
    title = _title_or_file_name(title, raw_title, url, position, warn)
    guid = fields.text("", "guid")
    if not guid:
        guid = url
        warn("no GUID, using the enclosure URL (as Apple does)")
    if len(guid) > MAX_GUID_LENGTH:
        context.skipped.append(f"{label}: GUID longer than {MAX_GUID_LENGTH} characters")
        return None
    feed_item = FeedItem(
        guid=guid,
        title=clean_text(title, MAX_TITLE_LENGTH),
        summary="",
        enclosure_url=url,
        enclosure_type=_enclosure_type(enclosure, url, warn),
        byte_size=_byte_length(enclosure, warn),
        published_at=_published(fields, context.date, warn),
        duration_seconds=_duration(fields, warn),
        explicit=_explicit(fields, context.explicit, warn),
        episode_type=_episode_type(fields, warn),
    )
    feed_item.summary = _description(fields, warn)
    _read_numbers(fields, feed_item)
    _read_links(fields, feed_item, context, label)
    return feed_item


def _find_enclosure(fields: Fields) -> Any:
    """The <enclosure> with a URL, else an audio or video <media:content>, else None."""
    enclosure = next((e for e in fields.all("", "enclosure") if (e.get("url") or "").strip()), None)
    if enclosure is not None:
        return enclosure
    return next(
        (
            e
            for e in fields.all("media", "content")
            if (e.get("url") or "").strip()
            and (e.get("type") or "audio/").startswith(("audio/", "video/"))
        ),
        None,
    )


def _title_or_file_name(title: str, raw_title: str, url: str, position: int, warn: Warn) -> str:
    if not title:
        title = PurePosixPath(urllib.parse.urlsplit(url).path).stem or f"Avsnitt {position}"
        warn(f"no title, using {title!r}")
    elif raw_title != title and "<" in raw_title:
        warn("HTML removed from the title")
    return title


def _enclosure_type(enclosure: Any, url: str, warn: Warn) -> str:
    """The declared type (aliases such as audio/mp3 corrected), else one from the file name."""
    declared = (enclosure.get("type") or "").strip().lower()
    if declared in TYPE_ALIASES:
        warn(f"enclosure type {declared!r} written as {TYPE_ALIASES[declared]!r}")
        return TYPE_ALIASES[declared]
    if declared.startswith(("audio/", "video/")) or declared == "application/pdf":
        return declared
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    guessed = MEDIA_TYPES.get(suffix, "audio/mpeg")
    if declared:
        warn(f"enclosure type {declared!r} is not audio or video, taken as {guessed!r}")
    return guessed


def _byte_length(enclosure: Any, warn: Warn) -> int | None:
    text = enclosure.get("length")
    length = whole_number(text, MAX_BYTES)
    if text is None or not text.strip():
        warn("enclosure has no byte length")
        return None
    if not length:
        warn(f"enclosure length {text.strip()!r} is not a byte count, left empty")
        return None
    return length


def _published(fields: Fields, fallback: dt.datetime | None, warn: Warn) -> dt.datetime:
    published = parse_date(fields.text("", "pubDate") or fields.text("dc", "date") or "")
    if published is None:
        published = fallback or dt.datetime.now(dt.UTC)
        warn(f"no readable pubDate, using {published:%Y-%m-%d}")
    return published


def _duration(fields: Fields, warn: Warn) -> float | None:
    duration_text = fields.text("itunes", "duration")
    if duration_text is None:
        return None
    duration = parse_duration(duration_text)
    if duration is None:
        warn(f"duration {duration_text[:40]!r} not understood, left empty")
    elif duration > MAX_DURATION_SECONDS:
        warn(f"duration {duration_text[:40]!r} is over 48 hours, left empty")
        return None
    return duration


def _explicit(fields: Fields, channel_explicit: bool, warn: Warn) -> bool:
    explicit_text = fields.text("itunes", "explicit")
    if explicit_text is None:
        return channel_explicit
    value = parse_explicit(explicit_text)
    if value is None:
        warn(f"explicit {explicit_text!r} not understood, taken as false")
    return bool(value)


def _description(fields: Fields, warn: Warn) -> str:
    text = (
        fields.text("content", "encoded")
        or fields.text("", "description")
        or fields.text("itunes", "summary")
        or fields.text("itunes", "subtitle")
        or ""
    )
    cleaned = defuse_placeholders(apple_html(text))
    shortened = shorten_html(cleaned, MAX_DESCRIPTION_BYTES)
    if shortened != cleaned:
        warn(f"description over {MAX_DESCRIPTION_BYTES} bytes, shortened (links kept)")
    return shortened


def _episode_type(fields: Fields, warn: Warn) -> str:
    episode_type = (fields.text("itunes", "episodeType") or "full").lower()
    if episode_type not in ("full", "trailer", "bonus"):
        warn(f"episode type {episode_type!r} taken as full")
        return "full"
    return episode_type


def _read_numbers(fields: Fields, item: FeedItem) -> None:
    item.number = whole_number(
        fields.text("itunes", "episode") or fields.text("podcast", "episode")
    )
    season = fields.first("podcast", "season")
    item.season = whole_number(fields.text("itunes", "season") or fields.text("podcast", "season"))
    if season is not None and (season.get("name") or "").strip():
        item.season_name = clean_text(season.get("name").strip(), 128)


def _read_links(fields: Fields, item: FeedItem, context: ItemContext, label: str) -> None:
    """Transcripts, chapters, <link>, artwork, persons and the kept Podcasting 2.0 tags."""
    base = context.source_url
    warn = context.warnings.append
    item.transcripts = _transcript_links(fields, base, warn, label)
    item.chapters = next(
        (
            absolute_url(e.get("url"), base, warn, label)
            for e in fields.all("podcast", "chapters")
            if (e.get("url") or "").strip()
        ),
        None,
    )
    item.link = absolute_url(fields.text("", "link"), base, warn, label)
    image = fields.first("itunes", "image")
    if image is not None:
        item.image = absolute_url(image.get("href"), base, warn, label)
    item.persons = [
        person
        for elem in fields.all("podcast", "person")
        if (person := read_person(elem, base, warn, label))
    ]
    item.tags = [capture_tag(elem) for local in KEPT_TAGS for elem in fields.all("podcast", local)]


def _transcript_links(
    fields: Fields, base: str | None, warn: Warn, label: str
) -> list[dict[str, str]]:
    """Transcript links with the language only where the feed states one."""
    transcripts = []
    for elem in fields.all("podcast", "transcript"):
        link = {k: (elem.get(k) or "").strip() for k in ("url", "type", "language", "rel")}
        link["url"] = absolute_url(link["url"], base, warn, label) or ""
        if link["url"] and link["type"]:
            transcripts.append({k: clean_text(v) for k, v in link.items() if v})
        else:
            warn(f"{label}: a podcast:transcript without url or type was left out")
    return transcripts


def read_person(elem: Any, base: str | None, warn: Warn, label: str) -> dict[str, str] | None:
    """A podcast:person as name, role, group, href and img (the URLs only when http(s))."""
    name = clean_text(plain_text(element_text(elem)), 128)
    if not name:
        return None
    person = {"name": name}
    for key in ("role", "group"):
        if (elem.get(key) or "").strip():
            person[key] = clean_text(elem.get(key).strip(), 64)
    for key in ("href", "img"):
        url = absolute_url(elem.get(key), base, warn, label) if elem.get(key) else None
        if url:
            person[key] = url
    return person


def capture_tag(elem: Any, depth: int = 0) -> dict[str, Any]:
    """A Podcasting 2.0 element as plain data (name, attributes, text, children), bounded."""
    local = elem.tag.split("}")[-1].split(":")[-1] if isinstance(elem.tag, str) else ""
    captured: dict[str, Any] = {"tag": local}
    attributes = {
        key: clean_text(value)
        for key, value in elem.attrib.items()
        if "{" not in key and ":" not in key
    }
    if attributes:
        captured["attrs"] = attributes
    text = clean_text((elem.text or "").strip())
    if text:
        captured["text"] = text
    if depth < 2:
        kids = [
            capture_tag(child, depth + 1)
            for child in list(elem)[:100]
            if isinstance(child.tag, str)
        ]
        if kids:
            captured["children"] = kids
    return captured
