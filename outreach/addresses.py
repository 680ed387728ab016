"""E-mail addresses as every domain sees them: validation and normalisation (email-validator,
syntax only, no DNS), and whether an address needs SMTPUTF8 (RFC 6531) to travel."""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from outreach.errors import ValidationError

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
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

SMTPUTF8_REQUIREMENT = "a non-ASCII local part needs a mail server that offers SMTPUTF8 (RFC 6531)"


def _is_plain(address: str) -> bool:
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return False
    local, domain = address.rsplit("@", 1)
    if len(local) > 64 or "--" in domain:  # xn-- and "ab--" labels need the IDNA rules
        return False
    return domain.rsplit(".", 1)[-1] not in _SPECIAL_TLDS


def normalize_email(address: str) -> str:
    """Validate an address (syntax only, no DNS) and return it normalised and lower-cased."""
    address = _CONTROLS.sub("", address).strip()
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


def needs_smtputf8(address: str) -> bool:
    """True if the local part (before the last @) is not ASCII, e.g. märta.nord@kiruna.se."""
    return not address.rpartition("@")[0].isascii()
