"""Starting and ending a send: which rows it covers, how many it will mail, how the edition ends.

`plan_send` counts what a send would do now (for the confirmation question), without writing.
`prepare_send` runs under the send lock: on an edition's first send it fixes the recipient list
(one `queued` row per confirmed subscriber in the chosen segments); every later run keeps that
list. Rows a dead process left `sending` become `uncertain`. `finish_send` records how it ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from outreach.db import session_scope
from outreach.errors import ValidationError
from outreach.mail.dispatch import Job
from outreach.mail.ledger import LedgerCounts, count_states
from outreach.models import Delivery, Edition, Subscriber, utcnow
from outreach.newsletter.edition import LoadedEdition, edition_row, load_edition
from outreach.subscribers import store as subs
from outreach.workspace import Workspace


@dataclass
class SendOptions:
    segments: Sequence[str] = ()
    resend_uncertain: bool = False
    retry_failed: bool = False


@dataclass
class PreparedSend:
    """What a send starts from: the edition, the rows to send now, and how it found the ledger."""

    edition: LoadedEdition
    jobs: list[Job]
    eligible: tuple[str, ...]
    counts: LedgerCounts
    recovered_uncertain: int
    already_sent: bool


@dataclass(frozen=True)
class SendPlan:
    """What `send` would do now: for the confirmation question and the schedule."""

    slug: str
    subject: str
    status: str
    segments: list[str] | None
    recipients: int
    started: bool


def plan_send(session: Session, workspace: Workspace, slug: str, options: SendOptions) -> SendPlan:
    """How many recipients a send with `options` would mail now (nothing is written)."""
    row = edition_row(session, slug)
    segments = normalized_segments(workspace, options.segments)
    started = bool(
        session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.edition_id == row.id)
        )
    )
    if started:
        count = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.edition_id == row.id,
                Delivery.status.in_(_eligible(row, options)),
            )
        )
        shown = row.segments
    else:
        count = session.scalar(
            select(func.count()).select_from(subs.recipients_query(segments).subquery())
        )
        shown = segments or None
    return SendPlan(slug, row.subject, row.status, shown, int(count or 0), started)


def normalized_segments(workspace: Workspace, segments: Sequence[str]) -> list[str]:
    """Segment keys (from keys, labels or aliases) checked against `[subscribers] segments`."""
    return subs.normalize_segments(segments, workspace.settings.subscribers.segments)


def _eligible(row: Edition, options: SendOptions) -> list[str]:
    """The states a send picks up: queued, temporary failures (until the edition is sent, or
    with retry_failed) and uncertain ones only when asked."""
    eligible = ["queued"]
    if row.status != "sent" or options.retry_failed:
        eligible.append("failed_transient")
    if options.resend_uncertain:
        eligible.append("uncertain")
    return eligible


def prepare_send(workspace: Workspace, slug: str, options: SendOptions) -> PreparedSend:
    """Under the lock: fix the recipient list (first run), recover rows a dead process left."""
    segments = normalized_segments(workspace, options.segments)
    with session_scope(workspace) as session:
        edition = load_edition(session, workspace, slug)
        row = session.get(Edition, edition.edition_id)
        assert row is not None
        _fix_recipients(session, row, segments, bool(options.segments))
        # We hold the lock, so no live process owns a `sending` row: its sender died mid-message.
        recovered = session.execute(  # type: ignore[attr-defined]
            update(Delivery)
            .where(Delivery.edition_id == row.id, Delivery.status == "sending")
            .values(status="uncertain", last_error="the sending process stopped mid-message")
        ).rowcount
        eligible = _eligible(row, options)
        jobs = _jobs(session, row.id, eligible)
        already_sent = row.status == "sent"
        if jobs:
            row.status = "sending"
        counts = count_states(session, row.id)
    return PreparedSend(edition, jobs, tuple(eligible), counts, int(recovered or 0), already_sent)


def _fix_recipients(
    session: Session, row: Edition, segments: list[str], segments_given: bool
) -> None:
    """On the first run, one `queued` row per confirmed subscriber in the segments; later runs
    keep the list the first run fixed (and refuse other segments)."""
    existing = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.edition_id == row.id)
    )
    if existing:
        if segments_given and sorted(row.segments or []) != segments:
            raise ValidationError(
                f"edition {row.slug} was started for segments "
                f"{', '.join(row.segments or []) or 'all'}; resume it without --segment"
            )
        return
    ids = session.scalars(subs.recipients_query(segments)).all()
    if not ids:
        raise ValidationError(
            "no confirmed subscribers"
            + (f" in segment(s) {', '.join(segments)}" if segments else "")
        )
    now = utcnow()
    session.execute(
        insert(Delivery),
        [
            {
                "edition_id": row.id,
                "subscriber_id": sid,
                "status": "queued",
                "attempts": 0,
                "updated_at": now,
            }
            for sid in ids
        ],
    )
    row.segments = segments or None


def _jobs(session: Session, edition_id: int, eligible: Sequence[str]) -> list[Job]:
    return [
        Job(0.0, delivery_id, subscriber_id, email or "", name, language)
        for delivery_id, subscriber_id, email, name, language in session.execute(
            select(
                Delivery.id,
                Delivery.subscriber_id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.language,
            )
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.edition_id == edition_id, Delivery.status.in_(eligible))
            .order_by(Delivery.id)
        )
    ]


def finish_send(
    workspace: Workspace, edition_id: int, *, paused: bool, interrupted: bool
) -> LedgerCounts:
    """After a run: the edition is `paused`, `sent` (nothing pending) or stays `sending`."""
    with session_scope(workspace) as session:
        row = session.get(Edition, edition_id)
        assert row is not None
        counts = count_states(session, edition_id)
        if paused:
            row.status = "paused"
        elif not interrupted and counts.pending == 0:
            row.status = "sent"
            row.sent_at = row.sent_at or utcnow()
    return counts
