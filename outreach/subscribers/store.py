"""Subscribers and their consent: add, sign up, confirm, unsubscribe, erase (GDPR), list.

Every consent change appends a `consent_events` row. Erased or hard-bounced addresses are kept only
as a SHA-256 hash in `suppressions`, so they are never mailed again. CSV import lives in
`csv_import`, the GDPR export in `export`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import tokens
from outreach.addresses import normalize_email
from outreach.errors import NotFoundError, TokenError, ValidationError
from outreach.models import ConsentEvent, Subscriber, Suppression, utcnow

STATUSES = ("pending", "confirmed", "unsubscribed", "bounced", "erased")
SEGMENTS = ("kommun", "civilsamhälle", "annat")
LANGUAGES = ("sv", "en")
_SEGMENT_ALIASES = {
    "kommun": "kommun",
    "kommuner": "kommun",
    "municipality": "kommun",
    "region": "kommun",
    "civilsamhälle": "civilsamhälle",
    "civilsamhalle": "civilsamhälle",
    "civil society": "civilsamhälle",
    "civil-society": "civilsamhälle",
    "annat": "annat",
    "other": "annat",
}


def email_hash(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()


def normalize_segment(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    segment = _SEGMENT_ALIASES.get(value.strip().lower())
    if segment is None:
        raise ValidationError(f"unknown segment {value!r} (use {', '.join(SEGMENTS)})")
    return segment


def normalize_language(value: str | None) -> str:
    if value is None or not value.strip():
        return "sv"
    language = value.strip().lower()[:2]
    if language not in LANGUAGES:
        raise ValidationError(f"unknown language {value!r} (use {', '.join(LANGUAGES)})")
    return language


def clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def record_consent(
    session: Session,
    subscriber: Subscriber | None,
    email: str,
    action: str,
    source: str,
    detail: str | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        subscriber=subscriber,
        email_hash=email_hash(email),
        action=action,
        source=source,
        detail=detail,
    )
    session.add(event)
    return event


def is_suppressed(session: Session, normalized_email: str) -> bool:
    digest = email_hash(normalized_email)
    return (
        session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)) is not None
    )


def suppress(session: Session, normalized_email: str, reason: str) -> None:
    digest = email_hash(normalized_email)
    if session.scalar(select(Suppression).where(Suppression.email_hash == digest)) is None:
        session.add(Suppression(email_hash=digest, reason=reason))


def find_subscriber(session: Session, key: str) -> Subscriber:
    """A subscriber by id or e-mail address."""
    subscriber: Subscriber | None
    if key.strip().isdigit():
        subscriber = session.get(Subscriber, int(key))
    else:
        try:
            email = normalize_email(key)
        except ValidationError:
            email = key.strip().lower()
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is None:
        raise NotFoundError(f"no subscriber {key!r}")
    return subscriber


def add_subscriber(
    session: Session,
    email: str,
    *,
    name: str | None = None,
    organisation: str | None = None,
    segment: str | None = None,
    language: str | None = None,
    confirmed: bool = False,
    source: str = "cli",
) -> Subscriber:
    """Add one subscriber; `confirmed` records consent given elsewhere (with its source)."""
    normalized = normalize_email(email)
    if is_suppressed(session, normalized):
        raise ValidationError(f"{normalized} is suppressed (erased or bounced) and cannot be added")
    if session.scalar(select(Subscriber.id).where(Subscriber.email == normalized)) is not None:
        raise ValidationError(f"{normalized} is already a subscriber")
    subscriber = Subscriber(
        email=normalized,
        name=clean_text(name),
        organisation=clean_text(organisation),
        segment=normalize_segment(segment),
        language=normalize_language(language),
        status="confirmed" if confirmed else "pending",
    )
    session.add(subscriber)
    record_consent(session, subscriber, normalized, "confirmed" if confirmed else "added", source)
    session.flush()
    return subscriber


def set_status(
    session: Session, subscriber: Subscriber, status: str, source: str, detail: str | None = None
) -> bool:
    """Change a subscriber's status and record it; returns False if it already had that status."""
    if status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}")
    if subscriber.status == status:
        return False
    if subscriber.status == "erased":
        raise ValidationError("an erased subscriber cannot change status")
    subscriber.status = status
    record_consent(session, subscriber, subscriber.email or "", status, source, detail)
    return True


def remove_subscriber(session: Session, key: str, source: str = "cli") -> Subscriber:
    """Unsubscribe (the row and its history stay; use erase to remove personal data)."""
    subscriber = find_subscriber(session, key)
    set_status(session, subscriber, "unsubscribed", source)
    return subscriber


def erase_subscriber(session: Session, key: str, source: str = "cli") -> Subscriber:
    """Remove personal data, keep a hashed suppression entry and the anonymous history."""
    subscriber = find_subscriber(session, key)
    if subscriber.status == "erased" or subscriber.email is None:
        return subscriber
    email = subscriber.email
    suppress(session, email, "erased")
    record_consent(session, subscriber, email, "erased", source)
    subscriber.email = None
    subscriber.name = None
    subscriber.organisation = None
    subscriber.status = "erased"
    return subscriber


def list_subscribers(
    session: Session, status: str | None = None, segment: str | None = None
) -> Sequence[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        if status not in STATUSES:
            raise ValidationError(f"unknown status {status!r} (use {', '.join(STATUSES)})")
        query = query.where(Subscriber.status == status)
    if segment:
        query = query.where(Subscriber.segment == normalize_segment(segment))
    return session.scalars(query).all()


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {status: count for status, count in rows}


def _binding(subscriber: Subscriber) -> list[Any]:
    """What a subscriber's tokens are bound to: the row and (a hash of) the address it had."""
    if subscriber.email is None:
        raise ValidationError("an erased subscriber has no links")
    return _binding_for(subscriber.id, subscriber.email)


def _binding_for(subscriber_id: int, email: str) -> list[Any]:
    return [subscriber_id, email_hash(email)[:16]]


def _bound_subscriber(session: Session, payload: Any) -> Subscriber:
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise TokenError("the link is not valid")
    subscriber = session.get(Subscriber, payload[0])
    if subscriber is None or subscriber.email is None:
        raise TokenError("the link is not valid")
    if not hmac.compare_digest(email_hash(subscriber.email)[:16], str(payload[1])):
        raise TokenError("the link is not valid")
    return subscriber


def unsubscribe_token(key: str, subscriber: Subscriber) -> str:
    """A permanent one-click unsubscribe token (RFC 8058 links must work in old mail)."""
    return tokens.make_permanent_token(key, tokens.UNSUBSCRIBE, _binding(subscriber))


def unsubscribe_token_for(key: str, subscriber_id: int, email: str) -> str:
    """`unsubscribe_token` from plain values (the send loop has no ORM objects, and making one
    costs more than signing)."""
    return tokens.make_permanent_token(key, tokens.UNSUBSCRIBE, _binding_for(subscriber_id, email))


def subscriber_for_unsubscribe_token(session: Session, key: str, token: str) -> Subscriber:
    return _bound_subscriber(session, tokens.read_permanent_token(key, tokens.UNSUBSCRIBE, token))


def unsubscribe_by_token(session: Session, key: str, token: str, source: str) -> Subscriber:
    """Unsubscribe the token's subscriber; idempotent. Tampered or foreign tokens raise TokenError."""
    subscriber = subscriber_for_unsubscribe_token(session, key, token)
    if subscriber.status in ("pending", "confirmed"):
        set_status(session, subscriber, "unsubscribed", source)
    return subscriber


def confirm_token(key: str, subscriber: Subscriber) -> str:
    """A double opt-in confirmation token; it expires (see WebSettings.confirm_link_hours)."""
    return tokens.make_token(key, tokens.CONFIRM, _binding(subscriber))


def confirm_by_token(
    session: Session, key: str, token: str, max_age_seconds: int, source: str
) -> Subscriber:
    """Confirm the token's subscriber (idempotent); records the consent event once."""
    subscriber = _bound_subscriber(
        session, tokens.read_token(key, tokens.CONFIRM, token, max_age_seconds)
    )
    if subscriber.status == "pending":
        set_status(session, subscriber, "confirmed", source)
    elif subscriber.status != "confirmed":
        raise TokenError("the link is no longer valid")
    return subscriber


CONFIRMATION_RESEND_INTERVAL = dt.timedelta(minutes=10)


def subscribe(
    session: Session,
    email: str,
    *,
    name: str | None = None,
    organisation: str | None = None,
    segment: str | None = None,
    language: str | None = None,
    source: str = "web",
) -> Subscriber | None:
    """A sign-up from the public form (double opt-in). Returns whom to send a confirmation, or None.

    A new address becomes `pending`; a pending one gets a fresh confirmation (at most one per
    CONFIRMATION_RESEND_INTERVAL); an address that left
    (unsubscribed) may come back through a new confirmation. Existing rows are never edited by the
    form, and confirmed, bounced, erased or suppressed addresses get nothing, so the caller's answer
    is the same whatever the address's history: the form never reveals who is on the list.
    Invalid input (address, segment, language) raises ValidationError.
    """
    normalized = normalize_email(email)
    clean_segment = normalize_segment(segment)
    clean_language = normalize_language(language)
    if is_suppressed(session, normalized):
        return None
    existing = session.scalar(select(Subscriber).where(Subscriber.email == normalized))
    if existing is None:
        subscriber = Subscriber(
            email=normalized,
            name=clean_text(name),
            organisation=clean_text(organisation),
            segment=clean_segment,
            language=clean_language,
            status="pending",
        )
        session.add(subscriber)
        record_consent(session, subscriber, normalized, "added", source)
        session.flush()
        return subscriber
    if existing.status == "pending":
        # At most one confirmation mail per address per interval: the form cannot mail-bomb anyone.
        if existing.updated_at > utcnow() - CONFIRMATION_RESEND_INTERVAL:
            return None
        existing.updated_at = utcnow()
        return existing
    if existing.status == "unsubscribed":
        set_status(session, existing, "pending", source, "signed up again")
        return existing
    return None
