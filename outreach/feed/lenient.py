"""Forgiving access to real-world feed XML: variant namespace URIs and unbound prefixes, and the
many ways feeds write durations, dates, numbers and explicit flags. Values outside sane bounds
(a duration of 1e20 seconds, an episode number of 10^30) are refused here, so nothing
downstream has to guess.

Used by `feed.importer`; nothing here knows about the database.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections import defaultdict
from typing import Any

# Zone names that RFC 2822 parsers do not know but feeds use.
_ZONES = {"CET": "+0100", "CEST": "+0200", "BST": "+0100", "EET": "+0200", "EEST": "+0300"}


# -- reading messy XML -------------------------------------------------------------------------


def kind(elem: Any) -> tuple[str, str]:
    """(namespace family, local name), tolerant of variant namespace URIs and unbound prefixes."""
    tag = elem.tag
    if not isinstance(tag, str):
        return "", ""
    found = _KINDS.get(tag)
    if found is None:
        found = _KINDS[tag] = _kind_of_tag(tag)
    return found


# Tags repeat in every item: each is worked out once.
_KINDS: dict[str, tuple[str, str]] = {}


def _kind_of_tag(tag: str) -> tuple[str, str]:
    # Not etree.QName: recovered elements with an undeclared prefix have "itunes:x" as tag.
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
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


def element_text(elem: Any) -> str:
    if len(elem) == 0:  # the usual case, without walking the subtree
        return (elem.text or "").strip()
    return "".join(elem.itertext()).strip()


def child_text(elem: Any, family: str, local: str) -> str | None:
    for child in children(elem, family, local):
        value = element_text(child)
        if value:
            return value
    return None


class Fields:
    """An element's children indexed by (family, local name): one pass instead of one per lookup."""

    def __init__(self, elem: Any) -> None:
        self._by_kind: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for child in elem:
            self._by_kind[kind(child)].append(child)

    def all(self, family: str, local: str) -> list[Any]:
        return self._by_kind.get((family, local), [])

    def first(self, family: str, local: str) -> Any:
        found = self._by_kind.get((family, local))
        return found[0] if found else None

    def text(self, family: str, local: str) -> str | None:
        """The first non-empty text of such a child, or None."""
        for child in self._by_kind.get((family, local), ()):
            value = element_text(child)
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
    if not all(math.isfinite(value) and value >= 0 for value in values):
        return None
    if any(value >= 60 for value in values[1:]):
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


MAX_NUMBER = 1_000_000_000  # far above any episode or season number, far below 64-bit limits


def whole_number(text: str | None, maximum: int = MAX_NUMBER) -> int | None:
    """A whole number from 0 to `maximum` (`12`, `12.0`), or None."""
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    if not number.is_integer() or not 0 <= number <= maximum:
        return None
    return int(number)
