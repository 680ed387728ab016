"""The send ledger: every recipient of an edition gets it once, and nobody is skipped silently.

One `deliveries` row per (edition, subscriber), UNIQUE. The recipients are fixed when the first
`send` of an edition starts (confirmed subscribers in the chosen segments). Each message goes:

    queued → sending → sent | failed_transient | failed_permanent
                     ↘ uncertain (the process died mid-message, or the link dropped during DATA)
    queued → skipped (unsubscribed, bounced, erased or suppressed since the send started)

Durability: rows are claimed in small batches, committed as `sending` before any of their SMTP
transactions starts, and their outcomes (`sent` after the server's 250) are committed at the end
of the batch, or at once after a failure. A process killed in between leaves at most a batch of
`sending` rows per connection; the next `send`
(holding the lock, so no live sender can own them) turns them into `uncertain`, and re-sends them
only with `resend_uncertain`, since the server may or may not have accepted the message. Nothing is
ever sent twice by a resume, and nobody is dropped without a row saying so. The Message-ID is
derived from (list, edition, subscriber), so a re-sent uncertain message carries the same id and
mail clients that already have it can collapse the copy.

This module owns the rows and their states; `send` drives the workers, `lock` keeps one send at a
time (so no live process can own a `sending` row when a send starts).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from outreach.db import get_engine, session_scope
from outreach.errors import NotFoundError
from outreach.mail.dispatch import Job
from outreach.mail.transport import SendResult
from outreach.models import Delivery, Edition, Subscriber, Suppression, utcnow
from outreach.subscribers import store as subs
from outreach.workspace import Workspace

STATES = (
    "queued",
    "sending",
    "sent",
    "skipped",
    "failed_transient",
    "failed_permanent",
    "uncertain",
)


# -- counting and status ---------------------------------------------------------------------


@dataclass
class LedgerCounts:
    by_state: dict[str, int]

    def __getitem__(self, state: str) -> int:
        return self.by_state.get(state, 0)

    @property
    def recipients(self) -> int:
        return sum(self.by_state.values())

    @property
    def failed(self) -> int:
        return self["failed_transient"] + self["failed_permanent"]

    @property
    def pending(self) -> int:
        return self["queued"] + self["sending"]

    @property
    def balanced(self) -> bool:
        """recipients = sent + skipped + failed + uncertain (+ still pending, if paused)."""
        return self.recipients == (
            self["sent"] + self["skipped"] + self.failed + self["uncertain"] + self.pending
        )


def count_states(connection: Any, edition_id: int) -> LedgerCounts:
    rows = connection.execute(
        select(Delivery.status, func.count())
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    )
    return LedgerCounts({state: count for state, count in rows})


@dataclass
class EditionStatus:
    slug: str
    status: str
    subject: str
    segments: list[str] | None
    sent_at: dt.datetime | None
    counts: LedgerCounts
    errors: list[tuple[str, int]]
    scheduled_at: dt.datetime | None = None
    schedule_note: str | None = None


def edition_status(workspace: Workspace, slug: str) -> EditionStatus:
    with session_scope(workspace) as session:
        edition = session.scalar(select(Edition).where(Edition.slug == slug))
        if edition is None:
            raise NotFoundError(f"no edition {slug!r}")
        counts = count_states(session, edition.id)
        errors = session.execute(
            select(Delivery.last_error, func.count())
            .where(
                Delivery.edition_id == edition.id,
                Delivery.status.in_(("failed_transient", "failed_permanent", "skipped")),
            )
            .group_by(Delivery.last_error)
            .order_by(func.count().desc())
            .limit(5)
        ).all()
        return EditionStatus(
            slug,
            edition.status,
            edition.subject,
            edition.segments,
            edition.sent_at,
            counts,
            [(str(e or "?"), n) for e, n in errors],
            edition.scheduled_at,
            edition.schedule_note,
        )


# -- the rows of a running send ----------------------------------------------------------------


@dataclass(frozen=True)
class Addressee:
    """What a message needs to know about its recipient."""

    id: int
    email: str
    name: str | None
    language: str | None


class DeliveryLedger:
    """The ledger of one edition: claims and outcomes, each committed before we go on.

    One database connection shared by the worker threads under a lock. A worker claims a small
    batch of rows in one transaction (`sending` is durable before any of their SMTP transactions)
    and records their outcomes in one transaction after the batch (at once after a failure, so
    retries and the pause see it). A process killed mid-batch leaves at most that batch
    `sending`, which the next send reports as `uncertain`. The statements go straight to the
    DB-API connection: through the ORM they cost more than the SMTP transaction itself.
    """

    def __init__(self, workspace: Workspace, edition_id: int, slug: str) -> None:
        self.workspace = workspace
        self.edition_id = edition_id
        self.slug = slug
        self._engine = get_engine(workspace.database_url)
        self._conn: Connection = self._engine.connect()
        self._raw = self._engine.raw_connection()
        self._lock = threading.Lock()
        dialect = self._engine.dialect
        processor = Delivery.__table__.c.updated_at.type.bind_processor(dialect)
        self._time: Callable[[dt.datetime], Any] = processor or (lambda value: value)
        # sqlite3 takes :name parameters; psycopg (the other supported driver) takes %(name)s.
        self._named = dialect.name == "sqlite"

    def close(self) -> None:
        self._raw.close()
        self._conn.close()

    def _write(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        """Statements in one transaction; the number of rows each changed."""
        counts = []
        with self._lock:
            cursor = self._raw.cursor()
            try:
                for sql, params in statements:
                    if not self._named:  # pyformat (psycopg): :name → %(name)s
                        sql = re.sub(r":(\w+)", r"%(\1)s", sql)
                    cursor.execute(sql, params)
                    counts.append(int(cursor.rowcount))
                self._raw.commit()
            except BaseException:
                self._raw.rollback()
                raise
            finally:
                cursor.close()
        return counts

    def claim(
        self, jobs: Sequence[Job], eligible: Callable[[Job], Sequence[str]]
    ) -> list[tuple[Job, str, Addressee | None]]:
        """Re-check each subscriber and mark the rows `sending`, one transaction for the batch:
        per job ('send', addressee), ('skipped', None), or ('gone', None) when the row is no
        longer ours to send. Rows whose subscriber changed since the send started are looked at
        one by one (`_claim_slowly`)."""
        now = self._time(utcnow())
        statements = []
        for job in jobs:
            states = ", ".join(f"'{state}'" for state in eligible(job) if state in STATES)
            statements.append(
                (
                    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
                    f"updated_at = :now WHERE id = :id AND status IN ({states}) AND EXISTS "
                    "(SELECT 1 FROM subscribers WHERE subscribers.id = :sid "
                    "AND subscribers.status = 'confirmed' AND subscribers.email = :email) "
                    "AND NOT EXISTS (SELECT 1 FROM suppressions "
                    "WHERE suppressions.email_hash = :hash)",
                    {
                        "now": now,
                        "id": job.delivery_id,
                        "sid": job.subscriber_id,
                        "email": job.email,
                        "hash": subs.email_hash(job.email) if job.email else "",
                    },
                )
            )
        claimed = self._write(statements)
        verdicts: list[tuple[Job, str, Addressee | None]] = []
        for job, count in zip(jobs, claimed, strict=True):
            if count:
                addressee = Addressee(job.subscriber_id, job.email, job.name, job.language)
                verdicts.append((job, "send", addressee))
            else:
                verdicts.append((job, *self._claim_slowly(job, eligible(job))))
        return verdicts

    def recheck(self, addressee: Addressee) -> tuple[str | None, Addressee]:
        """Just before a claimed message goes out: why its subscriber may no longer get it
        (unsubscribed, bounced, erased, suppressed; None if fine), and the current address.
        A read, no commit: the claim was per batch, this keeps the check per message."""
        sql = (
            "SELECT status, email, (SELECT 1 FROM suppressions WHERE email_hash = :hash) "
            "FROM subscribers WHERE id = :sid"
        )
        if not self._named:
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        with self._lock:
            cursor = self._raw.cursor()
            try:
                cursor.execute(sql, {"sid": addressee.id, "hash": subs.email_hash(addressee.email)})
                row = cursor.fetchone()
                self._raw.commit()  # ends the read transaction PostgreSQL opened
            finally:
                cursor.close()
        if row is None or row[1] is None:
            return "erased", addressee
        status, email, suppressed = row
        if status != "confirmed":
            return str(status), addressee
        if email != addressee.email:  # the address changed since the claim: check it afresh
            moved = Addressee(addressee.id, str(email), addressee.name, addressee.language)
            return self.recheck(moved)
        return ("suppressed" if suppressed else None), addressee

    def _claim_slowly(self, job: Job, eligible: Sequence[str]) -> tuple[str, Addressee | None]:
        """The subscriber changed since the send started: find out how, then skip or claim."""
        with self._lock:
            conn = self._conn
            row = conn.execute(
                select(
                    Subscriber.id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.language,
                    Subscriber.status,
                ).where(Subscriber.id == job.subscriber_id)
            ).one_or_none()
            reason = None
            if row is None or row.email is None:
                reason = "erased"
            elif row.status != "confirmed":
                reason = row.status
            elif (
                conn.execute(
                    select(Suppression.id).where(
                        Suppression.email_hash == subs.email_hash(row.email)
                    )
                ).first()
                is not None
            ):
                reason = "suppressed"
            now = utcnow()
            if reason is not None:
                result = conn.execute(
                    update(Delivery)
                    .where(Delivery.id == job.delivery_id, Delivery.status.in_(eligible))
                    .values(status="skipped", last_error=f"skipped: {reason}", updated_at=now)
                )
                conn.commit()
                return ("skipped" if result.rowcount else "gone"), None
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id == job.delivery_id, Delivery.status.in_(eligible))
                .values(status="sending", attempts=Delivery.attempts + 1, updated_at=now)
            )
            conn.commit()
            if not result.rowcount:
                return "gone", None
            assert row is not None and row.email is not None
            return "send", Addressee(row.id, row.email, row.name, row.language)

    def record(self, outcomes: Sequence[tuple[Job, SendResult | str, bool]]) -> None:
        """The outcomes of SMTP transactions (job, result, will retry), in one transaction; a
        text instead of a result skips the row for that reason (found by `recheck`)."""
        now = self._time(utcnow())
        statements = []
        for job, result, retry in outcomes:
            if isinstance(result, str):
                statements.append(
                    (
                        "UPDATE deliveries SET status = 'skipped', last_error = :error, "
                        "updated_at = :now WHERE id = :id AND status = 'sending'",
                        {"error": f"skipped: {result}", "now": now, "id": job.delivery_id},
                    )
                )
                continue
            if result.outcome == "sent":
                statements.append(
                    (
                        "UPDATE deliveries SET status = 'sent', sent_at = :now, updated_at = :now, "
                        "message_id = :mid, last_error = NULL WHERE id = :id",
                        {"now": now, "mid": result.message_id, "id": job.delivery_id},
                    )
                )
                continue
            if result.uncertain:
                state = "uncertain"
            elif result.outcome == "transient" or retry:
                state = "failed_transient"
            else:
                state = "failed_permanent"
            code = f"{result.code} " if result.code else ""
            statements.append(
                (
                    "UPDATE deliveries SET status = :state, last_error = :error, updated_at = :now "
                    "WHERE id = :id",
                    {
                        "state": state,
                        "error": f"{code}{result.detail}"[:1000],
                        "now": now,
                        "id": job.delivery_id,
                    },
                )
            )
        if statements:
            self._write(statements)

    def release(self, jobs: Sequence[Job]) -> None:
        """Give claimed rows back unsent (the transport failed before any message data was
        sent, or the send paused or stopped before their turn)."""
        now = self._time(utcnow())
        if jobs:
            self._write(
                [
                    (
                        "UPDATE deliveries SET status = 'queued', attempts = attempts - 1, "
                        "updated_at = :now WHERE id = :id AND status = 'sending'",
                        {"now": now, "id": job.delivery_id},
                    )
                    for job in jobs
                ]
            )

    def bounce(self, subscriber: Addressee, result: SendResult) -> None:
        """A 5xx for the address itself: suppress it and mark the subscriber bounced."""
        with session_scope(self.workspace) as session:
            row = session.get(Subscriber, subscriber.id)
            if row is None or row.email is None:
                return
            subs.suppress(session, row.email, "bounced")
            if row.status in ("pending", "confirmed"):
                subs.set_status(
                    session,
                    row,
                    "bounced",
                    f"send:{self.slug}",
                    f"{result.code} {result.detail}"[:500],
                )
