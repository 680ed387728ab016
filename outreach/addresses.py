"""E-mail addresses as every domain sees them: validation and normalisation (email-validator,
syntax only, no DNS), and whether an address needs SMTPUTF8 (RFC 6531) to travel."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from outreach.errors import ValidationError

SMTPUTF8_REQUIREMENT = "a non-ASCII local part needs a mail server that offers SMTPUTF8 (RFC 6531)"


def normalize_email(address: str) -> str:
    """Validate an address (syntax only, no DNS) and return it normalised and lower-cased."""
    address = address.strip()
    if not address:
        raise ValidationError("empty e-mail address")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid e-mail address {address!r}: {exc}") from None
    return result.normalized.lower()


def needs_smtputf8(address: str) -> bool:
    """True if the local part (before the last @) is not ASCII, e.g. märta.nord@kiruna.se."""
    return not address.rpartition("@")[0].isascii()
