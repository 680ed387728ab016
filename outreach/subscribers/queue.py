"""Sign-ups and the queue of mails to (would-be) subscribers: confirmations and welcomes.

The public form only records a request (one insert, the same for every address), so its answer
never depends on who is on the list or on the mail server. A worker (`outreach serve`'s thread,
`outreach run-due`) later claims due rows: it applies a sign-up (a new address becomes pending, an
unsubscribed one pending again, a confirmed one gets nothing) and hands back what to send. A failed
mail stays queued with a growing delay; nothing is dropped. `mail.confirmation` does the sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.addresses import normalize_email
from outreach.errors import TokenError
from outreach.models import Subscriber, SubscriberMail, SubscriberSegment, utcnow
from outreach.subscribers.fields import (
    clean_text,
    email_hash,
    normalize_language,
    normalize_segments,
)
from outreach.subscribers.store import (
    is_suppressed,
    record_consent,
    set_status,
    subscriber_for_confirm_token,
)
from outreach.workspace import DEFAULT_SEGMENTS

CONFIRM = "confirm"
WELCOME = "welcome"
# At most one confirmation per address per interval: neither the form nor an operator mail-bombs.
CONFIRMATION_RESEND_INTERVAL = dt.timedelta(minutes=10)
RETRY_FIRST = dt.timedelta(minutes=1)
RETRY_MAX = dt.timedelta(hours=1)
# A row stays `sending` at most this long; past it, its sender died and the row is queued again.
LEASE = dt.timedelta(minutes=10)
_CHUNK = 100


@dataclass(frozen=True)
class DueMail:
    """A claimed row, as plain values for the sender."""

    id: int
    kind: str
    subscriber_id: int
    email: str
    name: str | None
    language: str


def request_subscription(
    session: Session,
    email: str,
    *,
    name: str | None = None,
    organisation: str | None = None,
    segments: str | Iterable[str] | None = None,
    language: str | None = None,
    source: str = "web",
    allowed_segments: Mapping[str, str] = DEFAULT_SEGMENTS,
) -> None:
    """Record a sign-up from the form; the worker applies it. Invalid input raises ValidationError."""
    normalized = normalize_email(email)
    request = {
        "email": normalized,
        "name": clean_text(name),
        "organisation": clean_text(organisation),
        "segments": normalize_segments(segments, allowed_segments),
        "language": normalize_language(language),
        "source": clean_text(source) or "web",
    }
    session.add(SubscriberMail(kind=CONFIRM, email_hash=email_hash(normalized), request=request))


def _open_row(session: Session, subscriber_id: int, kind: str) -> int | None:
    return session.scalar(
        select(SubscriberMail.id).where(
            SubscriberMail.subscriber_id == subscriber_id,
            SubscriberMail.kind == kind,
            SubscriberMail.status.in_(("queued", "sending")),
        )
    )


def enqueue(session: Session, subscriber: Subscriber, kind: str) -> bool:
    """Queue a `kind` mail for `subscriber` unless one is already waiting; True if queued."""
    if subscriber.email is None:
        return False
    session.flush()
    if _open_row(session, subscriber.id, kind) is not None:
        return False
    session.add(
        SubscriberMail(
            kind=kind, subscriber_id=subscriber.id, email_hash=email_hash(subscriber.email)
        )
    )
    return True


def enqueue_confirmations(session: Session, subscribers: Iterable[Subscriber]) -> tuple[int, int]:
    """Queue confirmation links for the pending ones among `subscribers`: (queued, not pending)."""
    queued = not_pending = 0
    for subscriber in subscribers:
        if subscriber.status != "pending":
            not_pending += 1
        elif enqueue(session, subscriber, CONFIRM):
            queued += 1
    return queued, not_pending


def confirm_subscription(
    session: Session, key: str, token: str, max_age_seconds: int, source: str
) -> Subscriber:
    """Confirm the link's subscriber (idempotent) and queue the welcome mail the first time."""
    subscriber = subscriber_for_confirm_token(session, key, token, max_age_seconds)
    if subscriber.status == "pending":
        set_status(session, subscriber, "confirmed", source)
        enqueue(session, subscriber, WELCOME)
    elif subscriber.status != "confirmed":
        raise TokenError("the link is no longer valid")
    return subscriber


def _apply_signup(session: Session, request: dict[str, Any]) -> tuple[Subscriber | None, str]:
    """A recorded sign-up made real; (subscriber to confirm, or None and why nothing is sent)."""
    address = str(request["email"])
    source = str(request.get("source") or "web")
    if is_suppressed(session, address):
        return None, "the address is suppressed"
    existing = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if existing is None:
        subscriber = Subscriber(
            email=address,
            name=request.get("name"),
            organisation=request.get("organisation"),
            language=request.get("language") or "sv",
            status="pending",
            segment_rows=[SubscriberSegment(segment=k) for k in request.get("segments") or []],
        )
        session.add(subscriber)
        record_consent(session, subscriber, address, "added", source)
        session.flush()
        return subscriber, ""
    # The form never edits an existing row, whatever it says.
    if existing.status == "unsubscribed":
        set_status(session, existing, "pending", source, "signed up again")
    if existing.status != "pending":
        return None, f"the address is {existing.status}"
    return existing, ""


def _skip_reason(
    session: Session, row: SubscriberMail, subscriber: Subscriber, now: dt.datetime
) -> str:
    if subscriber.email is None:
        return "the subscriber was erased"
    if row.kind == WELCOME:
        return "" if subscriber.status == "confirmed" else f"the subscriber is {subscriber.status}"
    if subscriber.status != "pending":
        return f"the subscriber is {subscriber.status}"
    earlier = session.scalar(
        select(func.count()).where(
            SubscriberMail.subscriber_id == subscriber.id,
            SubscriberMail.kind == CONFIRM,
            SubscriberMail.id != row.id,
            (SubscriberMail.status.in_(("queued", "sending")))
            | (
                (SubscriberMail.status == "sent")
                & (SubscriberMail.finished_at > now - CONFIRMATION_RESEND_INTERVAL)
            ),
        )
    )
    return "a confirmation is already queued or was sent minutes ago" if earlier else ""


def _resolve(session: Session, row: SubscriberMail, now: dt.datetime) -> DueMail | None:
    """Turn a claimed row into a mail to send, or mark it skipped."""
    subscriber: Subscriber | None
    if row.request is not None:
        subscriber, reason = _apply_signup(session, row.request)
        row.request = None  # the form's fields are now on the subscriber (or not kept at all)
        row.subscriber_id = subscriber.id if subscriber else None
    else:
        subscriber = session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None
        reason = "" if subscriber else "the subscriber is gone"
    if subscriber is not None and not reason:
        reason = _skip_reason(session, row, subscriber, now)
    if reason or subscriber is None or subscriber.email is None:
        row.status, row.last_error, row.finished_at = "skipped", reason, now
        return None
    return DueMail(
        row.id, row.kind, subscriber.id, subscriber.email, subscriber.name, subscriber.language
    )


def claim_due(session: Session, limit: int, now: dt.datetime | None = None) -> list[DueMail]:
    """Claim up to `limit` due mails (oldest first) and commit, so no other worker sends them."""
    now = now or utcnow()
    session.execute(
        update(SubscriberMail)
        .where(SubscriberMail.status == "sending", SubscriberMail.next_attempt_at <= now)
        .values(status="queued")
    )
    due: list[DueMail] = []
    while len(due) < limit:
        ids = session.scalars(
            select(SubscriberMail.id)
            .where(SubscriberMail.status == "queued", SubscriberMail.next_attempt_at <= now)
            .order_by(SubscriberMail.id)
            .limit(_CHUNK)
        ).all()
        if not ids:
            break
        for row_id in ids:
            claimed = session.execute(
                update(SubscriberMail)
                .where(SubscriberMail.id == row_id, SubscriberMail.status == "queued")
                .values(status="sending", next_attempt_at=now + LEASE)
            )
            row = session.get(SubscriberMail, row_id) if claimed.rowcount else None  # type: ignore[attr-defined]
            if row is None:
                continue
            session.refresh(row)
            mail = _resolve(session, row, now)
            if mail is not None:
                due.append(mail)
                if len(due) >= limit:
                    break
        session.commit()
    session.commit()
    return due


def mark_sent(session: Session, mail_id: int, now: dt.datetime | None = None) -> None:
    row = session.get(SubscriberMail, mail_id)
    if row is not None:
        row.status, row.finished_at, row.last_error = "sent", now or utcnow(), None
        row.attempts += 1


def mark_failed(
    session: Session, mail_id: int, error: str, *, permanent: bool, now: dt.datetime | None = None
) -> None:
    """A failed attempt: permanent (5xx) ends as `rejected`; anything else is queued again later."""
    row = session.get(SubscriberMail, mail_id)
    if row is None:
        return
    now = now or utcnow()
    row.attempts += 1
    row.last_error = error[:1000]
    if permanent:
        row.status, row.finished_at = "rejected", now
        return
    delay = min(RETRY_FIRST * 2 ** min(row.attempts - 1, 12), RETRY_MAX)
    row.status, row.next_attempt_at = "queued", now + delay


def sent_since(session: Session, since: dt.datetime) -> int:
    """Mails sent after `since` (the worker's rate limit)."""
    return (
        session.scalar(
            select(func.count()).where(
                SubscriberMail.status == "sent", SubscriberMail.finished_at > since
            )
        )
        or 0
    )


def queue_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(SubscriberMail.status, func.count()).group_by(SubscriberMail.status)
    )
    return {status: count for status, count in rows}
