"""What a subscriber's fields may hold: addresses, segments, languages, and clean text.

Every face (web form, CLI, CSV import, preference page) sends its input through these functions, so
control characters never reach the database or a terminal, whichever way they came in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

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
# A plain ASCII address whose normal form is simply its lower case (checked against
# email_validator in the tests). Anything else takes the full validator, which is ~30x slower:
# a million-row import cannot afford it for every row.
_PLAIN_ADDRESS = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)
# All special-use names are single labels, so the last label decides.
assert all("." not in name for name in SPECIAL_USE_DOMAIN_NAMES)
_SPECIAL_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


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


def _is_plain(address: str) -> bool:
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return False
    local, domain = address.rsplit("@", 1)
    if len(local) > 64 or "--" in domain:  # xn-- and "ab--" labels need the IDNA rules
        return False
    return domain.rsplit(".", 1)[-1] not in _SPECIAL_TLDS


def normalize_email(address: str) -> str:
    """Validate an address (syntax only, no DNS) and return it normalised and lower-cased."""
    address = strip_controls(address).strip()
    if not address:
        raise ValidationError("empty e-mail address")
    lowered = address.lower()
    if _is_plain(lowered):
        return lowered
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid e-mail address {address!r}: {exc}") from None
    return result.normalized.lower()


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
