"""The send ledger: every recipient of an edition gets it once, and nobody is skipped silently.

One `deliveries` row per (edition, subscriber), UNIQUE. The recipients are fixed when the first
`send` of an edition starts (confirmed subscribers in the chosen segments). Each message goes:

    queued → sending → sent | failed_transient | failed_permanent
                     ↘ uncertain (the process died mid-message, or the link dropped during DATA)
    queued → skipped (unsubscribed, bounced, erased or suppressed since the send started)

Durability: the row is committed as `sending` before the SMTP transaction starts, and as `sent`
right after the server's 250. A process killed in between leaves `sending` rows; the next `send`
(holding the lock, so no live sender can own them) turns them into `uncertain`, and re-sends them
only with `resend_uncertain`, since the server may or may not have accepted the message. Nothing is
ever sent twice by a resume, and nobody is dropped without a row saying so. The Message-ID is
derived from (list, edition, subscriber), so a re-sent uncertain message carries the same id and
mail clients that already have it can collapse the copy.

Only one send runs per workspace at a time: `send_lock` is an OS file lock (filelock → flock), which
the kernel releases when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import datetime as dt
import heapq
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from outreach.db import get_engine, session_scope
from outreach.errors import ConfigError, MailError, NotFoundError, OutreachError, ValidationError
from outreach.mail.message import (
    PreparedMessage,
    QuotedPrintableTemplate,
    ascii_address,
    parse_address,
)
from outreach.mail.transport import SendResult, Transport, open_transport
from outreach.models import Delivery, Edition, Subscriber, Suppression, utcnow
from outreach.newsletter.compose import (
    PLACEHOLDER,
    LoadedEdition,
    Recipient,
    load_edition,
    personalize,
)
from outreach.secrets import secret_key
from outreach.subscribers import store as subs
from outreach.timeutil import zone
from outreach.urls import archive_url, unsubscribe_url
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
LOCK_FILE = ".outreach-send.lock"


# -- the lock --------------------------------------------------------------------------------


@contextmanager
def send_lock(workspace: Workspace, slug: str) -> Iterator[None]:
    """Hold the workspace's send lock, or refuse at once if another send holds it."""
    path = workspace.root / LOCK_FILE
    info = path.with_name(path.name + ".info")
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = ""
        with suppress(OSError):
            holder = info.read_text(encoding="utf-8").strip()
        raise MailError(
            "another 'newsletter send' is running in this workspace"
            + (f" ({holder})" if holder else "")
            + "; wait for it to finish (only one send at a time)"
        ) from None
    try:
        info.write_text(
            f"edition {slug}, pid {os.getpid()}, since {dt.datetime.now().astimezone():%Y-%m-%d %H:%M}",
            encoding="utf-8",
        )
        yield
    finally:
        lock.release()


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
        )


# -- the send ----------------------------------------------------------------------------------


@dataclass
class SendOptions:
    segments: Sequence[str] = ()
    resend_uncertain: bool = False
    retry_failed: bool = False


@dataclass
class SendReport:
    slug: str
    counts: LedgerCounts
    attempted: int = 0
    sent_now: int = 0
    recovered_uncertain: int = 0
    paused: str | None = None
    interrupted: bool = False
    already_sent: bool = False
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent_now / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(order=True)
class _Job:
    due: float
    delivery_id: int = field(compare=False)
    subscriber_id: int = field(compare=False)
    email: str = field(default="", compare=False)
    name: str | None = field(default=None, compare=False)
    language: str | None = field(default=None, compare=False)
    tries: int = field(default=0, compare=False)


class _Dispatcher:
    """Hands jobs to the workers: due retries first, then the queue; pauses on a failure streak."""

    def __init__(self, jobs: list[_Job], rate: float, max_failures: int) -> None:
        self._queue = jobs[::-1]  # pop() from the end keeps the original order
        self._retries: list[_Job] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next_slot = time.monotonic()
        self.max_failures = max_failures
        self.consecutive_failures = 0
        self.paused: str | None = None
        self.stopped = False
        self.finished = 0

    def next_job(self) -> _Job | None:
        with self._cond:
            while True:
                if self.paused or self.stopped:
                    return None
                now = time.monotonic()
                if self._retries and self._retries[0].due <= now:
                    job = heapq.heappop(self._retries)
                    break
                if self._queue:
                    job = self._queue.pop()
                    break
                if not self._retries and self._in_flight == 0:
                    return None
                wait = (self._retries[0].due - now) if self._retries else None
                self._cond.wait(timeout=wait)
            self._in_flight += 1
            if self._interval:
                slot = max(self._next_slot, now)
                self._next_slot = slot + self._interval
            else:
                slot = now
        if slot > now:
            time.sleep(slot - now)
        return job

    def done(self, job: _Job, outcome: str, detail: str, retry_at: float | None) -> None:
        with self._cond:
            self._in_flight -= 1
            if outcome in ("sent", "skipped"):
                if outcome == "sent":
                    self.consecutive_failures = 0
                self.finished += 1
            else:
                self.consecutive_failures += 1
                if retry_at is not None:
                    job.due = retry_at
                    heapq.heappush(self._retries, job)
                else:
                    self.finished += 1
                if self.consecutive_failures >= self.max_failures and not self.paused:
                    self.paused = (
                        f"{self.consecutive_failures} consecutive failures (last: {detail})"
                    )
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


class DeliveryLedger:
    """The ledger of one edition: claims and outcomes, each committed before we go on.

    One database connection shared by the worker threads under a lock; every write is its own
    short transaction, so `sending` is durable before the SMTP transaction and `sent` right after.
    The two per-message statements go straight to the DB-API connection: through the ORM they cost
    more than the SMTP transaction itself.
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

    def _write(self, sql: str, params: dict[str, Any]) -> int:
        """One statement in its own transaction; returns the number of rows changed."""
        if not self._named:  # pyformat (psycopg): :name → %(name)s
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        with self._lock:
            cursor = self._raw.cursor()
            try:
                cursor.execute(sql, params)
                count = int(cursor.rowcount)
                self._raw.commit()
            except BaseException:
                self._raw.rollback()
                raise
            finally:
                cursor.close()
        return count

    def claim(self, job: _Job, eligible: Sequence[str]) -> tuple[str, Addressee | None]:
        """Re-check the subscriber and mark the row `sending` (committed): ('send', addressee),
        ('skipped', None), or ('gone', None) when the row is no longer ours to send."""
        states = ", ".join(f"'{state}'" for state in eligible if state in STATES)
        claimed = self._write(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = :now "
            f"WHERE id = :id AND status IN ({states}) AND EXISTS (SELECT 1 FROM subscribers "
            "WHERE subscribers.id = :sid AND subscribers.status = 'confirmed' "
            "AND subscribers.email = :email) AND NOT EXISTS (SELECT 1 FROM suppressions "
            "WHERE suppressions.email_hash = :hash)",
            {
                "now": self._time(utcnow()),
                "id": job.delivery_id,
                "sid": job.subscriber_id,
                "email": job.email,
                "hash": subs.email_hash(job.email) if job.email else "",
            },
        )
        if claimed:
            return "send", Addressee(job.subscriber_id, job.email, job.name, job.language)
        return self._claim_slowly(job, eligible)

    def _claim_slowly(self, job: _Job, eligible: Sequence[str]) -> tuple[str, Addressee | None]:
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

    def record(self, job: _Job, result: SendResult, retry: bool) -> None:
        """The outcome of one SMTP transaction, committed at once."""
        now = self._time(utcnow())
        if result.outcome == "sent":
            self._write(
                "UPDATE deliveries SET status = 'sent', sent_at = :now, updated_at = :now, "
                "message_id = :mid, last_error = NULL WHERE id = :id",
                {"now": now, "mid": result.message_id, "id": job.delivery_id},
            )
            return
        if result.uncertain:
            state = "uncertain"
        elif result.outcome == "transient" or retry:
            state = "failed_transient"
        else:
            state = "failed_permanent"
        code = f"{result.code} " if result.code else ""
        self._write(
            "UPDATE deliveries SET status = :state, last_error = :error, updated_at = :now "
            "WHERE id = :id",
            {
                "state": state,
                "error": f"{code}{result.detail}"[:1000],
                "now": now,
                "id": job.delivery_id,
            },
        )

    def release(self, job: _Job) -> None:
        """Give a claimed row back (the transport failed before any message data was sent)."""
        self._write(
            "UPDATE deliveries SET status = 'queued', attempts = attempts - 1, updated_at = :now "
            "WHERE id = :id AND status = 'sending'",
            {"now": self._time(utcnow()), "id": job.delivery_id},
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


def _message_id(list_id: str, slug: str, subscriber_id: int, domain: str) -> str:
    """Stable per (list, edition, subscriber): a re-sent uncertain message keeps its Message-ID."""
    return f"<{uuid.uuid5(uuid.NAMESPACE_URL, f'{list_id}/{slug}/{subscriber_id}').hex}@{domain}>"


@dataclass(frozen=True)
class Addressee:
    """What a message needs to know about its recipient."""

    id: int
    email: str
    name: str | None
    language: str | None


class MessageFactory:
    """Builds one recipient's message from the edition rendered once (no MJML here)."""

    def __init__(
        self,
        workspace: Workspace,
        edition: LoadedEdition,
        key: str | None,
        subject_prefix: str = "",
    ) -> None:
        settings = workspace.settings.newsletter
        self.workspace = workspace
        self.edition = edition
        self.key = key
        self.sender = parse_address(settings.from_address)
        self.list_key = settings.list_id
        self.mailto = (
            f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe"
            if settings.unsubscribe_mailto
            else None
        )
        self.tz = zone(settings.timezone)
        archive = archive_url(workspace, edition.slug)
        self.prepared = {
            language: PreparedMessage(
                sender=self.sender,
                subject=subject_prefix + subject,
                reply_to=settings.reply_to or None,
                list_id=f"{settings.name} <{settings.list_id}>",
                one_click=True,
                headers={"List-Archive": f"<{archive}>"},
            )
            for language, subject in edition.subjects.items()
        }
        # Most of each body is the same for everyone: encoded once (see QuotedPrintableTemplate).
        self.bodies = {
            language: (
                QuotedPrintableTemplate(edition.text[language], PLACEHOLDER),
                QuotedPrintableTemplate(edition.html[language], PLACEHOLDER),
            )
            for language in edition.subjects
        }

    def message_id(self, addressee: Addressee) -> str:
        return _message_id(self.list_key, self.edition.slug, addressee.id, self.sender.domain)

    def build(
        self,
        addressee: Addressee,
        *,
        unsubscribe: str | None = None,
        language: str | None = None,
        message_id: str | None = None,
    ) -> bytes:
        """The wire bytes of the edition for one recipient."""
        if unsubscribe is None:
            assert self.key is not None
            token = subs.unsubscribe_token_for(self.key, addressee.id, addressee.email)
            unsubscribe = unsubscribe_url(self.workspace, token)
        lang = self.edition.language_for(language or addressee.language)
        recipient = Recipient(addressee.name, addressee.email, unsubscribe)
        text_body, html_body = self.bodies[lang]
        return self.prepared[lang].render(
            to_name=addressee.name,
            to_address=addressee.email,
            text=text_body.encode(lambda line: personalize(line, recipient, lang, is_html=False)),
            html=html_body.encode(lambda line: personalize(line, recipient, lang, is_html=True)),
            list_unsubscribe=[unsubscribe] + ([self.mailto] if self.mailto else []),
            message_id=message_id or self.message_id(addressee),
            date=dt.datetime.now(self.tz),
        )


def prepare_send(
    workspace: Workspace, slug: str, options: SendOptions
) -> tuple[LoadedEdition, int, SendReport, list[_Job], tuple[str, ...]]:
    """Under the lock: fix the recipient list (first run), recover rows a dead process left."""
    segments = subs.normalize_segments(options.segments, workspace.settings.subscribers.segments)
    with session_scope(workspace) as session:
        edition = load_edition(session, workspace, slug)
        row = session.get(Edition, edition.edition_id)
        assert row is not None
        existing = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.edition_id == row.id)
        )
        if existing:
            if options.segments and sorted(row.segments or []) != segments:
                raise ValidationError(
                    f"edition {slug} was started for segments "
                    f"{', '.join(row.segments or []) or 'all'}; resume it without --segment"
                )
        else:
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
        # We hold the lock, so no live process owns a `sending` row: its sender died mid-message.
        recovered = session.execute(  # type: ignore[attr-defined]
            update(Delivery)
            .where(Delivery.edition_id == row.id, Delivery.status == "sending")
            .values(status="uncertain", last_error="the sending process stopped mid-message")
        ).rowcount
        eligible = ["queued"]
        if row.status != "sent" or options.retry_failed:
            eligible.append("failed_transient")
        if options.resend_uncertain:
            eligible.append("uncertain")
        jobs = [
            _Job(0.0, delivery_id, subscriber_id, email or "", name, language)
            for delivery_id, subscriber_id, email, name, language in session.execute(
                select(
                    Delivery.id,
                    Delivery.subscriber_id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.language,
                )
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.edition_id == row.id, Delivery.status.in_(eligible))
                .order_by(Delivery.id)
            )
        ]
        already_sent = row.status == "sent"
        if jobs:
            row.status = "sending"
        counts = count_states(session, row.id)
    report = SendReport(
        slug, counts, recovered_uncertain=int(recovered or 0), already_sent=already_sent
    )
    return edition, edition.edition_id, report, jobs, tuple(eligible)


def send_edition(
    workspace: Workspace,
    slug: str,
    options: SendOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    transport_factory: Callable[[], Transport] | None = None,
) -> SendReport:
    """Send (or resume) an edition to its recipients through a pool of transports.

    `progress(done, total)` is called from the calling thread about five times a second.
    """
    options = options or SendOptions()
    settings = workspace.settings.mail
    if settings.concurrency < 1:
        raise ConfigError("[mail] concurrency must be at least 1")
    key = secret_key(workspace.root)  # unsubscribe links: refuse before anything is queued
    factory = transport_factory or (lambda: open_transport(workspace))
    with send_lock(workspace, slug):
        edition, edition_id, report, jobs, eligible = prepare_send(workspace, slug, options)
        started = time.monotonic()
        if jobs:
            _run(workspace, edition, edition_id, jobs, eligible, key, factory, report, progress)
        report.elapsed = time.monotonic() - started
        with session_scope(workspace) as session:
            row = session.get(Edition, edition_id)
            assert row is not None
            report.counts = count_states(session, edition_id)
            if report.paused:
                row.status = "paused"
            elif not report.interrupted and report.counts.pending == 0:
                row.status = "sent"
                row.sent_at = row.sent_at or utcnow()
    return report


def _run(
    workspace: Workspace,
    edition: LoadedEdition,
    edition_id: int,
    jobs: list[_Job],
    eligible: Sequence[str],
    key: str,
    factory: Callable[[], Transport],
    report: SendReport,
    progress: Callable[[int, int], None] | None,
) -> None:
    settings = workspace.settings.mail
    dispatcher = _Dispatcher(
        jobs, settings.rate_per_second, max(1, settings.max_consecutive_failures)
    )
    ledger = DeliveryLedger(workspace, edition_id, edition.slug)
    messages = MessageFactory(workspace, edition, key)
    max_attempts = max(1, settings.max_attempts)
    errors: list[BaseException] = []
    counters = {"attempted": 0, "sent": 0}
    counter_lock = threading.Lock()
    # Retries are claimed again from `failed_transient`; the first claim may also be from queued.
    retry_eligible = tuple(sorted({*eligible, "failed_transient"}))

    # The main thread waits on this latch, never on Thread.join: a KeyboardInterrupt (Ctrl-C, or
    # SIGTERM from the CLI) raised inside join() makes CPython 3.11 mark a still-running thread as
    # stopped, and the process would then exit with a message in flight, its row left `sending`.
    workers_left = [0]
    workers_lock = threading.Lock()
    all_workers_done = threading.Event()

    def worker() -> None:
        try:
            with factory() as transport:
                while (job := dispatcher.next_job()) is not None:
                    _deliver(job, transport)
        except BaseException as exc:  # a MailError the user must fix (login, TLS): stop all
            errors.append(exc)
            dispatcher.stop()
        finally:
            with workers_lock:
                workers_left[0] -= 1
                if workers_left[0] == 0:
                    all_workers_done.set()

    def _deliver(job: _Job, transport: Transport) -> None:
        try:
            verdict, subscriber = ledger.claim(job, retry_eligible if job.tries else eligible)
        except BaseException:
            dispatcher.done(job, "skipped", "", None)
            raise
        if verdict != "send":
            dispatcher.done(job, "skipped", "", None)
            return
        assert subscriber is not None
        job.tries += 1
        try:
            data = messages.build(subscriber)
        except (MailError, ValidationError) as exc:
            result = SendResult("permanent", None, f"cannot build the message: {exc}")
        else:
            try:
                result = transport.send_bytes(
                    messages.sender.addr_spec,
                    [ascii_address(subscriber.email)],
                    data,
                    messages.message_id(subscriber),
                )
            except OutreachError:
                # Login, TLS or outbox problem, raised before any message data left: nothing was
                # sent, so the row goes back to the queue for the next run.
                ledger.release(job)
                dispatcher.done(job, "failed", "transport error", None)
                raise
            except BaseException:
                dispatcher.done(job, "failed", "transport error", None)
                raise  # the row stays `sending`, so the next run reports it as uncertain
        retry_at = None
        if result.outcome == "transient" and not result.uncertain and job.tries < max_attempts:
            backoff = settings.retry_backoff_seconds * (2 ** (job.tries - 1))
            retry_at = time.monotonic() + backoff * random.uniform(0.8, 1.2)
        ledger.record(job, result, retry=retry_at is not None)
        if result.outcome == "permanent" and result.recipient_refused:
            ledger.bounce(subscriber, result)
        with counter_lock:
            counters["attempted"] += 1
            if result.ok:
                counters["sent"] += 1
        dispatcher.done(
            job,
            "sent" if result.ok else "failed",
            f"{result.code or ''} {result.detail}".strip(),
            retry_at,
        )

    threads = [
        threading.Thread(target=worker, name=f"send-{i}", daemon=True)
        for i in range(min(settings.concurrency, len(jobs)))
    ]
    workers_left[0] = len(threads)
    total = len(jobs)
    try:
        for thread in threads:
            thread.start()
        while not all_workers_done.wait(timeout=0.2):
            if progress:
                progress(dispatcher.finished, total)
    except KeyboardInterrupt:
        # Let in-flight messages finish and be recorded; nothing new starts.
        dispatcher.stop()
        report.interrupted = True
        started = [thread for thread in threads if thread.ident is not None]
        with workers_lock:
            workers_left[0] -= len(threads) - len(started)
            if workers_left[0] <= 0:
                all_workers_done.set()
        all_workers_done.wait()
    finally:
        ledger.close()
    if progress:
        progress(dispatcher.finished, total)
    report.attempted = counters["attempted"]
    report.sent_now = counters["sent"]
    report.paused = dispatcher.paused
    if errors:
        first = errors[0]
        if isinstance(first, OutreachError):
            raise first
        raise MailError(f"sending stopped: {first}") from first


# -- test sends ----------------------------------------------------------------------------------

MAX_TEST_RECIPIENTS = 5


def send_test(
    workspace: Workspace, slug: str, addresses: Sequence[str], language: str | None = None
) -> list[tuple[str, SendResult]]:
    """Send the edition to up to five addresses with '[TEST]' in the subject and sample data.

    The ledger is never touched; the unsubscribe link is a sample that unsubscribes nobody.
    """
    if not addresses:
        raise ValidationError("give at least one address with --to")
    if len(addresses) > MAX_TEST_RECIPIENTS:
        raise ValidationError(f"a test goes to at most {MAX_TEST_RECIPIENTS} addresses")
    normalized = [subs.normalize_email(a) for a in addresses]
    with session_scope(workspace) as session:
        edition = load_edition(session, workspace, slug)
    from outreach.newsletter.compose import SAMPLE_RECIPIENT

    factory = MessageFactory(workspace, edition, None, subject_prefix="[TEST] ")
    sample_link = unsubscribe_url(workspace, "TEST-exempel")
    results = []
    with open_transport(workspace) as transport:
        for address in normalized:
            message_id = f"<test.{uuid.uuid4().hex}@{factory.sender.domain}>"
            data = factory.build(
                Addressee(0, address, SAMPLE_RECIPIENT["name"], language or "sv"),
                unsubscribe=sample_link,
                message_id=message_id,
            )
            results.append(
                (
                    address,
                    transport.send_bytes(
                        factory.sender.addr_spec, [ascii_address(address)], data, message_id
                    ),
                )
            )
    return results
