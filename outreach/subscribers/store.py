"""Subscribers and their consent: add, change, unsubscribe, erase (GDPR), list; their signed links.

Every consent change appends a `consent_events` row. Erased or hard-bounced addresses are kept only
as a SHA-256 hash in `suppressions`, so they are never mailed again. Field rules live in `fields`,
CSV import in `csv_import`, the GDPR export in `export`, sign-ups and the mail queue in `queue`,
the preference page's changes in `preferences`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from outreach import tokens
from outreach.addresses import normalize_email
from outreach.errors import NotFoundError, TokenError, ValidationError
from outreach.models import ConsentEvent, Subscriber, SubscriberMail, SubscriberSegment, Suppression
from outreach.subscribers.fields import (
    LANGUAGES,
    clean_text,
    email_hash,
    normalize_language,
    normalize_segments,
)
from outreach.workspace import DEFAULT_SEGMENTS

__all__ = [
    "LANGUAGES",
    "clean_text",
    "email_hash",
    "normalize_email",
    "normalize_language",
    "normalize_segments",
]

STATUSES = ("pending", "confirmed", "unsubscribed", "bounced", "erased")


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
        source=clean_text(source) or "unknown",
        detail=clean_text(detail),
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
    segments: str | Iterable[str] | None = None,
    language: str | None = None,
    confirmed: bool = False,
    source: str = "cli",
    allowed_segments: Mapping[str, str] = DEFAULT_SEGMENTS,
) -> Subscriber:
    """Add one subscriber; `confirmed` records consent given elsewhere (with its source)."""
    normalized = normalize_email(email)
    chosen = normalize_segments(segments, allowed_segments)
    if is_suppressed(session, normalized):
        raise ValidationError(f"{normalized} is suppressed (erased or bounced) and cannot be added")
    if session.scalar(select(Subscriber.id).where(Subscriber.email == normalized)) is not None:
        raise ValidationError(f"{normalized} is already a subscriber")
    subscriber = Subscriber(
        email=normalized,
        name=clean_text(name),
        organisation=clean_text(organisation),
        language=normalize_language(language),
        status="confirmed" if confirmed else "pending",
        segment_rows=[SubscriberSegment(segment=key) for key in chosen],
    )
    session.add(subscriber)
    record_consent(session, subscriber, normalized, "confirmed" if confirmed else "added", source)
    session.flush()
    return subscriber


def set_segments(subscriber: Subscriber, keys: Iterable[str]) -> bool:
    """Give `subscriber` exactly these (already normalised) segments; True if anything changed."""
    wanted = sorted(set(keys))
    if wanted == subscriber.segments:
        return False
    kept = [row for row in subscriber.segment_rows if row.segment in wanted]
    have = {row.segment for row in kept}
    subscriber.segment_rows = kept + [
        SubscriberSegment(segment=key) for key in wanted if key not in have
    ]
    return True


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
    # Queued sign-ups and mails hold the address (and a form's name): they go too.
    session.execute(
        delete(SubscriberMail).where(
            (SubscriberMail.subscriber_id == subscriber.id)
            | (SubscriberMail.email_hash == email_hash(email))
        )
    )
    record_consent(session, subscriber, email, "erased", source)
    subscriber.email = None
    subscriber.name = None
    subscriber.organisation = None
    subscriber.status = "erased"
    return subscriber


def list_subscribers(
    session: Session,
    status: str | None = None,
    segment: str | None = None,
    allowed_segments: Mapping[str, str] = DEFAULT_SEGMENTS,
) -> Sequence[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        if status not in STATUSES:
            raise ValidationError(f"unknown status {status!r} (use {', '.join(STATUSES)})")
        query = query.where(Subscriber.status == status)
    if segment:
        query = query.where(_in_segments(normalize_segments(segment, allowed_segments)))
    return session.scalars(query).all()


def _in_segments(keys: Sequence[str]) -> Any:
    return exists().where(
        SubscriberSegment.subscriber_id == Subscriber.id, SubscriberSegment.segment.in_(keys)
    )


def recipients_query(segments: Sequence[str] = ()) -> Any:
    """SELECT of the ids an edition goes to: confirmed, with an address, and (when the edition
    targets segments) in at least one of them. Ordered by id, so a send is reproducible."""
    query = (
        select(Subscriber.id)
        .where(Subscriber.status == "confirmed", Subscriber.email.is_not(None))
        .order_by(Subscriber.id)
    )
    if segments:
        query = query.where(_in_segments(list(segments)))
    return query


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {status: count for status, count in rows}


def _binding(subscriber: Subscriber) -> list[Any]:
    """What a subscriber's tokens are bound to: the row and (a hash of) the address it had."""
    if subscriber.email is None:
        raise ValidationError("an erased subscriber has no links")
    return [subscriber.id, email_hash(subscriber.email)[:16]]


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
    """`unsubscribe_token` from plain values (the send loop has no ORM objects)."""
    return unsubscribe_token(key, Subscriber(id=subscriber_id, email=email))


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


def subscriber_for_confirm_token(
    session: Session, key: str, token: str, max_age_seconds: int
) -> Subscriber:
    """The subscriber a confirmation link is for; TokenError if tampered, foreign or expired."""
    return _bound_subscriber(
        session, tokens.read_token(key, tokens.CONFIRM, token, max_age_seconds)
    )
