"""Rules for each <item>: identity (title, GUID, date, link), the enclosure, Apple's episode tags
and the Podcasting 2.0 episode tags (transcripts, chapters, season/episode, persons); and the
rules across items (duplicate GUIDs and enclosures, episode numbers in a serial show)."""

from __future__ import annotations

import email.utils
import urllib.parse
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from outreach.feed.spec import NAMESPACES
from outreach.feed.validate.checks import Checks
from outreach.feed.validate.taxonomy import (
    DURATION_PATTERN,
    ENCLOSURE_ALIASES,
    ENCLOSURE_TYPES,
    EPISODE_TYPES,
    EXTENSION_TYPES,
    LANGUAGE_PATTERN,
    TIMED_TRANSCRIPT_TYPES,
    TRANSCRIPT_MIME,
    TRANSCRIPT_TYPES,
)
from outreach.sanitize import disallowed_tags


@dataclass
class _Seen:
    """What earlier items used, to find duplicates."""

    guids: dict[str, str] = field(default_factory=dict)
    enclosures: dict[str, str] = field(default_factory=dict)
    unnumbered: int = 0


def check_items(checks: Checks, channel: Any) -> None:
    seen = _Seen()
    items = channel.findall("item")
    if not items:
        checks.error(
            "items-missing",
            "channel/item",
            "the feed has no episodes; Apple accepts a show only with at least one",
            "publish an episode first",
        )
    for index, item in enumerate(items, start=1):
        check_item(checks, f"channel/item[{index}]", item, seen)
    show_type = channel.find("itunes:type", NAMESPACES)
    if show_type is not None and (show_type.text or "").strip() == "serial" and seen.unnumbered:
        checks.warning(
            "serial-episode-numbers",
            "channel/itunes:type",
            f"a serial show, but {seen.unnumbered} episode(s) have no <itunes:episode>",
            "number every episode (apps play a serial show in that order) or use episodic",
        )


def check_item(checks: Checks, where: str, item: Any, seen: _Seen) -> None:
    title = item.find("title")
    checks.title(
        f"{where}/title", None if title is None else title.text, "give every episode a title"
    )
    _check_guid(checks, where, item.find("guid"), seen)
    _check_pub_date(checks, where, item.find("pubDate"))
    link = item.find("link")
    if link is None or not (link.text or "").strip():
        checks.warning(
            "item-link-missing", f"{where}/link", "missing", "link the episode's web page"
        )
    else:
        checks.url(f"{where}/link", link.text.strip())
    check_enclosure(checks, f"{where}/enclosure", item.find("enclosure"), seen)
    _check_description(checks, where, item)
    _check_itunes_item(checks, where, item)
    if item.find("itunes:episode", NAMESPACES) is None:
        seen.unnumbered += 1
    check_podcast_item(checks, where, item)


def _check_guid(checks: Checks, where: str, guid: Any, seen: _Seen) -> None:
    if guid is None or not (guid.text or "").strip():
        # Apple lists the GUID as recommended and falls back on the enclosure URL.
        checks.warning(
            "item-guid-missing",
            f"{where}/guid",
            "missing or empty (apps fall back on the enclosure URL, which changes when the "
            "audio moves)",
            "give every episode a permanent, unique GUID",
        )
        return
    value = guid.text.strip()
    if value in seen.guids:
        checks.error(
            "item-guid-duplicate",
            f"{where}/guid",
            f"{value!r} is also the GUID of {seen.guids[value]}",
            "every episode needs its own GUID; never reuse one",
        )
    else:
        seen.guids[value] = where
    if guid.get("isPermaLink", "true") == "true" and not value.startswith(("http://", "https://")):
        checks.warning(
            "item-guid-permalink",
            f"{where}/guid",
            "isPermaLink is true (the default) but the GUID is not a URL",
            'add isPermaLink="false"',
        )


def _check_pub_date(checks: Checks, where: str, pub_date: Any) -> None:
    if pub_date is None:
        checks.warning(
            "pubdate-missing", f"{where}/pubDate", "missing", "add the publication date (RFC 2822)"
        )
        return
    try:
        email.utils.parsedate_to_datetime((pub_date.text or "").strip())
    except (TypeError, ValueError):
        checks.error(
            "pubdate-invalid",
            f"{where}/pubDate",
            f"{pub_date.text!r} is not an RFC 2822 date",
            "use e.g. Wed, 26 Apr 2023 08:00:00 +0000",
        )


def _check_description(checks: Checks, where: str, item: Any) -> None:
    description = item.find("description")
    if description is None:
        description = item.find("content:encoded", NAMESPACES)
    checks.description(
        f"{where}/description",
        None if description is None else description.text,
        required=False,
    )
    extra_tags = disallowed_tags(description.text or "") if description is not None else set()
    if extra_tags:
        checks.warning(
            "description-html",
            f"{where}/description",
            f"HTML Apple does not show: {', '.join(sorted(extra_tags))}",
            "use only <p>, <ol>, <ul>, <li> and <a href>",
        )


def _check_itunes_item(checks: Checks, where: str, item: Any) -> None:
    def find(path: str) -> Any:
        return item.find(path, NAMESPACES)

    check_duration(checks, f"{where}/itunes:duration", find("itunes:duration"))
    checks.explicit(f"{where}/itunes:explicit", find("itunes:explicit"), required=False)
    checks.integer(f"{where}/itunes:episode", find("itunes:episode"))
    checks.integer(f"{where}/itunes:season", find("itunes:season"))
    episode_type = find("itunes:episodeType")
    if episode_type is not None and (episode_type.text or "").strip() not in EPISODE_TYPES:
        checks.error(
            "episode-type-invalid",
            f"{where}/itunes:episodeType",
            f"{episode_type.text!r} is not valid",
            "use full, trailer or bonus",
        )
    image = find("itunes:image")
    if image is not None:
        checks.image(f"{where}/itunes:image", image.get("href"))


def check_enclosure(checks: Checks, where: str, enclosure: Any, seen: _Seen | None = None) -> None:
    if enclosure is None:
        checks.error(
            "enclosure-missing",
            where,
            "missing",
            "add <enclosure url=… length=… type=…/> with the audio",
        )
        return
    url = enclosure.get("url")
    if checks.url(where, url) and seen is not None:
        assert url is not None
        if url in seen.enclosures:
            checks.warning(
                "enclosure-duplicate",
                where,
                f"the same audio URL as {seen.enclosures[url]} (Apple ignores an enclosure URL "
                "it has seen before)",
                "give every episode its own audio file",
            )
        else:
            seen.enclosures[url] = where
    _check_enclosure_type(checks, where, enclosure.get("type"), url or "")
    _check_enclosure_length(checks, where, (enclosure.get("length") or "").strip())


def _check_enclosure_type(checks: Checks, where: str, kind: str | None, url: str) -> None:
    if kind in ENCLOSURE_ALIASES:
        checks.warning(
            "enclosure-type-alias",
            where,
            f"type {kind!r} is not the registered name",
            f'use type="{ENCLOSURE_ALIASES[kind]}"',
        )
        kind = ENCLOSURE_ALIASES[kind]
    elif kind not in ENCLOSURE_TYPES:
        media = (kind or "").startswith(("audio/", "video/"))
        (checks.warning if media else checks.error)(
            "enclosure-type",
            where,
            f"type {kind!r} is not one Apple accepts",
            "use audio/mpeg for MP3 (audio/x-m4a for AAC, video/mp4 for video)",
        )
        return
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    expected = EXTENSION_TYPES.get(suffix)
    if expected is not None and kind not in expected:
        checks.warning(
            "enclosure-type-extension",
            where,
            f"type {kind!r} does not match the file name ending {suffix}",
            f'use type="{sorted(expected)[0]}" or check the file',
        )


def _check_enclosure_length(checks: Checks, where: str, length: str) -> None:
    if not length.isdigit():
        checks.error(
            "enclosure-length",
            where,
            f"length {length!r} is not a byte count",
            "give the file's exact size in bytes",
        )
    elif int(length) == 0:
        checks.warning(
            "enclosure-length-zero",
            where,
            "length '0' (unknown); apps show no size and some check it",
            "give the file's exact size in bytes",
        )


def check_duration(checks: Checks, where: str, elem: Any) -> None:
    if elem is None:
        checks.warning("duration-missing", where, "missing", "add the duration in whole seconds")
        return
    text = (elem.text or "").strip()
    if text.isdigit():
        return
    if DURATION_PATTERN.match(text):
        checks.warning(
            "duration-format",
            where,
            f"{text!r} is HH:MM:SS; seconds are preferred",
            "give whole seconds",
        )
        return
    try:
        seconds = float(text)
    except ValueError:
        checks.error(
            "duration-invalid",
            where,
            f"{text!r} is not a duration",
            "give whole seconds, e.g. 1830",
        )
        return
    if seconds < 0:
        checks.error(
            "duration-invalid", where, f"{text!r} is negative", "give whole seconds, e.g. 1830"
        )
    else:
        checks.warning("duration-format", where, f"{text!r} has a fraction", "give whole seconds")


def _check_transcript_type(checks: Checks, element: str, kind: str | None) -> None:
    if kind in TRANSCRIPT_TYPES:
        return
    listed = ", ".join(sorted(TRANSCRIPT_TYPES))
    if kind and TRANSCRIPT_MIME.match(kind):
        # The spec's list is "such as", not closed: apps skip what they cannot read.
        checks.warning(
            "transcript-type-unlisted",
            element,
            f"type {kind!r} is not in the spec's list, so some apps will not show it",
            f"offer one of {listed} as well",
        )
        return
    checks.error(
        "transcript-type-invalid",
        element,
        f"type {kind!r} is not a text format",
        f"use one of {listed}",
    )


def _check_transcript(checks: Checks, element: str, transcript: Any) -> None:
    checks.url(element, transcript.get("url"))
    kind = transcript.get("type")
    _check_transcript_type(checks, element, kind)
    rel = transcript.get("rel")
    if rel is not None and rel != "captions":
        checks.error(
            "transcript-rel", element, f'rel="{rel}" is not valid', 'use rel="captions" or none'
        )
    if rel == "captions" and kind not in TIMED_TRANSCRIPT_TYPES:
        checks.warning(
            "transcript-rel",
            element,
            f'rel="captions" on {kind}, which has no timing',
            'drop rel="captions" from untimed formats',
        )
    language = transcript.get("language")
    if language is not None and not LANGUAGE_PATTERN.match(language):
        checks.error(
            "transcript-language",
            element,
            f"{language!r} is not a language code",
            f"use e.g. {checks.language or 'en'}",
        )


def check_podcast_item(checks: Checks, where: str, item: Any) -> None:
    for transcript in item.findall("podcast:transcript", NAMESPACES):
        _check_transcript(checks, f"{where}/podcast:transcript", transcript)
    for chapters in item.findall("podcast:chapters", NAMESPACES):
        checks.url(f"{where}/podcast:chapters", chapters.get("url"))
        if chapters.get("type") != "application/json+chapters":
            checks.error(
                "chapters-type",
                f"{where}/podcast:chapters",
                f"type {chapters.get('type')!r}",
                'use type="application/json+chapters"',
            )
    for tag in ("season", "episode"):
        elem = item.find(f"podcast:{tag}", NAMESPACES)
        if elem is None:
            continue
        try:
            float((elem.text or "").strip())
        except ValueError:
            checks.error(
                "number-invalid",
                f"{where}/podcast:{tag}",
                f"{elem.text!r} is not a number",
                "use 1, 2…",
            )
    checks.persons(where, item)
