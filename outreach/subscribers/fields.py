"""What a subscriber's fields may hold: segments, languages and clean text (addresses are
checked by `outreach.addresses`, which every domain shares).

Every face (web form, CLI, CSV import, preference page) sends its input through these functions, so
control characters never reach the database or a terminal, whichever way they came in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from outreach.errors import ValidationError
from outreach.workspace import DEFAULT_SEGMENTS

LANGUAGES = ("sv", "en")
# English and older spellings people write in spreadsheets; used only when the key is configured.
SEGMENT_ALIASES = {
    "kommuner": "kommun",
    "municipality": "kommun",
    "region": "kommun",
    "regioner": "kommun",
    "civilsamhalle": "civilsamhälle",
    "civil society": "civilsamhälle",
    "civil-society": "civilsamhälle",
    "other": "annat",
}
# C0 and C1 control characters (and DEL). Tab and newline are listed apart: some fields keep them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str, *, keep_lines: bool = False) -> str:
    """`text` without control characters (NUL, escape sequences...); tab/newline kept on request."""
    pattern = _CONTROLS_BUT_LINES if keep_lines else _CONTROLS
    return pattern.sub("", text)


def clean_text(value: str | None) -> str | None:
    """A one-line text field: whitespace runs become one space, control characters go; None if empty."""
    if value is None:
        return None
    if value.isprintable() and "  " not in value:  # the common case, at a tenth of the cost
        return value.strip() or None
    value = strip_controls(" ".join(value.split()))
    value = " ".join(value.split())
    return value or None


def email_hash(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()


def _segment_key(value: str, allowed: Mapping[str, str]) -> str:
    wanted = " ".join(value.split()).casefold()
    for key, label in allowed.items():
        if wanted in (key.casefold(), label.casefold()):
            return key
    alias = SEGMENT_ALIASES.get(wanted)
    if alias is not None and alias in allowed:
        return alias
    raise ValidationError(f"unknown segment {value.strip()!r} (use {', '.join(allowed)})")


def normalize_segments(
    value: str | Iterable[str] | None, allowed: Mapping[str, str] = DEFAULT_SEGMENTS
) -> list[str]:
    """Segment keys from keys, labels or aliases; a text may list several ("kommun, annat")."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    keys: set[str] = set()
    for part in parts:
        for item in re.split(r"[,;|]", strip_controls(part)):
            if item.strip():
                keys.add(_segment_key(item, allowed))
    return sorted(keys)


def normalize_language(value: str | None) -> str:
    if value is None or not value.strip():
        return "sv"
    language = strip_controls(value).strip().lower()[:2]
    if language not in LANGUAGES:
        raise ValidationError(f"unknown language {value!r} (use {', '.join(LANGUAGES)})")
    return language
