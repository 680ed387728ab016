"""Rules for each <item>: identity (title, GUID, date), the enclosure, Apple's episode tags and
the Podcasting 2.0 episode tags (transcripts, chapters, season/episode, persons)."""

from __future__ import annotations

import email.utils
from typing import Any

from outreach.feed.spec import NAMESPACES
from outreach.feed.validate.checks import Checks
from outreach.feed.validate.taxonomy import (
    DURATION_PATTERN,
    ENCLOSURE_TYPES,
    EPISODE_TYPES,
    LANGUAGE_PATTERN,
    TIMED_TRANSCRIPT_TYPES,
    TRANSCRIPT_TYPES,
)
from outreach.sanitize import disallowed_tags


def check_items(checks: Checks, channel: Any) -> None:
    seen: dict[str, str] = {}
    items = channel.findall("item")
    if not items:
        checks.error(
            "channel/item",
            "the feed has no episodes; Apple accepts a show only with at least one",
            "publish an episode first",
        )
    for index, item in enumerate(items, start=1):
        check_item(checks, f"channel/item[{index}]", item, seen)


def check_item(checks: Checks, where: str, item: Any, seen: dict[str, str]) -> None:
    title = item.find("title")
    if title is None or not (title.text or "").strip():
        checks.error(f"{where}/title", "missing or empty", "give every episode a title")
    _check_guid(checks, where, item.find("guid"), seen)
    _check_pub_date(checks, where, item.find("pubDate"))
    check_enclosure(checks, f"{where}/enclosure", item.find("enclosure"))
    _check_description(checks, where, item)
    _check_itunes_item(checks, where, item)
    check_podcast_item(checks, where, item)


def _check_guid(checks: Checks, where: str, guid: Any, seen: dict[str, str]) -> None:
    if guid is None or not (guid.text or "").strip():
        checks.error(
            f"{where}/guid", "missing or empty", "give every episode a permanent, unique GUID"
        )
        return
    value = guid.text.strip()
    if value in seen:
        checks.error(
            f"{where}/guid",
            f"{value!r} is also the GUID of {seen[value]}",
            "every episode needs its own GUID; never reuse one",
        )
    else:
        seen[value] = where
    if guid.get("isPermaLink", "true") == "true" and not value.startswith(("http://", "https://")):
        checks.warning(
            f"{where}/guid",
            "isPermaLink is true (the default) but the GUID is not a URL",
            'add isPermaLink="false"',
        )


def _check_pub_date(checks: Checks, where: str, pub_date: Any) -> None:
    if pub_date is None:
        checks.warning(f"{where}/pubDate", "missing", "add the publication date (RFC 2822)")
        return
    try:
        email.utils.parsedate_to_datetime((pub_date.text or "").strip())
    except (TypeError, ValueError):
        checks.error(
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
            f"{where}/itunes:episodeType",
            f"{episode_type.text!r} is not valid",
            "use full, trailer or bonus",
        )
    image = find("itunes:image")
    if image is not None:
        checks.image(f"{where}/itunes:image", image.get("href"))


def check_enclosure(checks: Checks, where: str, enclosure: Any) -> None:
    if enclosure is None:
        checks.error(where, "missing", "add <enclosure url=… length=… type=…/> with the audio")
        return
    checks.url(where, enclosure.get("url"))
    kind = enclosure.get("type")
    if kind not in ENCLOSURE_TYPES:
        checks.error(
            where,
            f"type {kind!r} is not one Apple accepts",
            "use audio/mpeg for MP3 (audio/x-m4a for AAC)",
        )
    length = (enclosure.get("length") or "").strip()
    if not length.isdigit() or int(length) <= 0:
        checks.error(
            where,
            f"length {length!r} is not a byte count",
            "give the file's exact size in bytes",
        )


def check_duration(checks: Checks, where: str, elem: Any) -> None:
    if elem is None:
        checks.warning(where, "missing", "add the duration in whole seconds")
        return
    text = (elem.text or "").strip()
    if text.isdigit():
        return
    if DURATION_PATTERN.match(text):
        checks.warning(where, f"{text!r} is HH:MM:SS; seconds are preferred", "give whole seconds")
        return
    try:
        seconds = float(text)
    except ValueError:
        checks.error(where, f"{text!r} is not a duration", "give whole seconds, e.g. 1830")
        return
    if seconds < 0:
        checks.error(where, f"{text!r} is negative", "give whole seconds, e.g. 1830")
    else:
        checks.warning(where, f"{text!r} has a fraction", "give whole seconds")


def _check_transcript(checks: Checks, element: str, transcript: Any) -> None:
    checks.url(element, transcript.get("url"))
    kind = transcript.get("type")
    if kind not in TRANSCRIPT_TYPES:
        checks.error(
            element,
            f"type {kind!r} is not a transcript type",
            "use text/vtt, application/x-subrip, application/json, text/html or text/plain",
        )
    rel = transcript.get("rel")
    if rel is not None and rel != "captions":
        checks.error(element, f'rel="{rel}" is not valid', 'use rel="captions" or none')
    if rel == "captions" and kind not in TIMED_TRANSCRIPT_TYPES:
        checks.error(
            element,
            f'rel="captions" on {kind}, which has no timing',
            'drop rel="captions" from untimed formats',
        )
    language = transcript.get("language")
    if language is not None and not LANGUAGE_PATTERN.match(language):
        checks.error(element, f"{language!r} is not a language code", "use e.g. sv")


def check_podcast_item(checks: Checks, where: str, item: Any) -> None:
    for transcript in item.findall("podcast:transcript", NAMESPACES):
        _check_transcript(checks, f"{where}/podcast:transcript", transcript)
    for chapters in item.findall("podcast:chapters", NAMESPACES):
        checks.url(f"{where}/podcast:chapters", chapters.get("url"))
        if chapters.get("type") != "application/json+chapters":
            checks.error(
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
            checks.error(f"{where}/podcast:{tag}", f"{elem.text!r} is not a number", "use 1, 2…")
    checks.persons(where, item)
