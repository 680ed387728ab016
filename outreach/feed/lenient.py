"""Forgiving readers for real-world feeds: wrong encodings, HTML entities, broken markup,
variant namespace URIs, and the many ways feeds write durations, dates and explicit flags.

Used by `feed.importer`; nothing here knows about the database.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html.entities
import re
from typing import Any

from lxml import etree

from outreach.errors import FeedError

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_XML_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_ENTITY = re.compile(r"&(#[0-9]+;|#[xX][0-9A-Fa-f]+;|[A-Za-z][A-Za-z0-9]*;)?")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
# Zone names that RFC 2822 parsers do not know but feeds use.
_ZONES = {"CET": "+0100", "CEST": "+0200", "BST": "+0100", "EET": "+0200", "EEST": "+0300"}


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


def kind(elem: Any) -> tuple[str, str]:
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


def children(elem: Any, family: str, local: str) -> list[Any]:
    return [child for child in elem if kind(child) == (family, local)]


def child_text(elem: Any, family: str, local: str) -> str | None:
    for child in children(elem, family, local):
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


def whole_number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None
