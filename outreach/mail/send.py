"""Send an edition: a pool of worker threads, each with its own SMTP connection, over the ledger.

`send_edition` takes the send lock, lets the ledger fix and recover the rows (`prepare_send`),
runs the workers (`_SendRun`), and records how the edition ended. Each worker takes jobs from the
`Dispatcher` (rate limit, retries, pause), claims the row in the ledger, builds the recipient's
message and hands it to its transport, then records the outcome. `send_test` mails an edition to
a few addresses with sample data and never touches the ledger.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from outreach.db import session_scope
from outreach.errors import ConfigError, MailError, OutreachError, ValidationError
from outreach.mail.dispatch import Dispatcher, Job
from outreach.mail.edition_mail import MessageFactory
from outreach.mail.ledger import Addressee, DeliveryLedger, LedgerCounts
from outreach.mail.lock import send_lock
from outreach.mail.message import ascii_address
from outreach.mail.plan import PreparedSend, SendOptions, finish_send, prepare_send
from outreach.mail.returnpath import return_path
from outreach.mail.transport import SendResult, Transport, open_transport
from outreach.newsletter.edition import load_edition
from outreach.newsletter.personalize import SAMPLE_RECIPIENT
from outreach.secrets import secret_key
from outreach.subscribers import store as subs
from outreach.urls import unsubscribe_url
from outreach.workspace import Workspace

__all__ = ["SendOptions", "SendReport", "send_edition", "send_test"]


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
    with send_lock(workspace, f"edition {slug}"):
        return send_locked(
            workspace, slug, options, progress=progress, transport_factory=transport_factory
        )


def send_locked(
    workspace: Workspace,
    slug: str,
    options: SendOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    transport_factory: Callable[[], Transport] | None = None,
) -> SendReport:
    """`send_edition` for a caller that already holds the send lock (`run-due`)."""
    options = options or SendOptions()
    if workspace.settings.mail.concurrency < 1:
        raise ConfigError("[mail] concurrency must be at least 1")
    key = secret_key(workspace.root)  # unsubscribe links: refuse before anything is queued
    factory = transport_factory or (lambda: open_transport(workspace))
    prepared = prepare_send(workspace, slug, options)
    report = SendReport(
        slug,
        prepared.counts,
        recovered_uncertain=prepared.recovered_uncertain,
        already_sent=prepared.already_sent,
    )
    started = time.monotonic()
    if prepared.jobs:
        _SendRun(workspace, prepared, key, factory, report).run(progress)
    report.elapsed = time.monotonic() - started
    report.counts = finish_send(
        workspace,
        prepared.edition.edition_id,
        paused=bool(report.paused),
        interrupted=report.interrupted,
    )
    return report


# Rows a worker claims (and records) per transaction: ~10× fewer commits than one per message,
# and a process killed mid-batch leaves at most this many rows per connection `uncertain`.
CLAIM_BATCH = 10


def claim_batch_size(rate_per_second: float, concurrency: int) -> int:
    """CLAIM_BATCH, or fewer under a rate limit, so a claimed batch goes out within a second."""
    if rate_per_second <= 0:
        return CLAIM_BATCH
    return max(1, min(CLAIM_BATCH, int(rate_per_second / max(1, concurrency))))


@dataclass
class _Outcome:
    job: Job
    addressee: Addressee
    result: SendResult | None
    retry_at: float | None = None
    skipped: str | None = None  # why the subscriber may no longer get it (then no result)


class _SendRun:
    """One run of the workers over the jobs a `prepare_send` found; fills in the report."""

    def __init__(
        self,
        workspace: Workspace,
        prepared: PreparedSend,
        key: str,
        factory: Callable[[], Transport],
        report: SendReport,
    ) -> None:
        settings = workspace.settings.mail
        self.settings = settings
        self.workspace = workspace
        self.key = key
        self.jobs = prepared.jobs
        self.eligible = prepared.eligible
        # Retries are claimed again from `failed_transient`; the first claim may also be from queued.
        self.retry_eligible = tuple(sorted({*prepared.eligible, "failed_transient"}))
        self.factory = factory
        self.report = report
        self.dispatcher = Dispatcher(
            prepared.jobs, settings.rate_per_second, max(1, settings.max_consecutive_failures)
        )
        edition = prepared.edition
        self.ledger = DeliveryLedger(workspace, edition.edition_id, edition.slug)
        self.messages = MessageFactory(workspace, edition, key)
        self.max_attempts = max(1, settings.max_attempts)
        self.batch_size = claim_batch_size(settings.rate_per_second, settings.concurrency)
        self.errors: list[BaseException] = []
        self._counter_lock = threading.Lock()
        # The main thread waits on this latch, never on Thread.join: a KeyboardInterrupt (Ctrl-C,
        # or SIGTERM from the CLI) raised inside join() makes CPython 3.11 mark a still-running
        # thread as stopped, and the process would then exit with a message in flight, its row
        # left `sending`.
        self._workers_left = 0
        self._workers_lock = threading.Lock()
        self._all_done = threading.Event()

    def run(self, progress: Callable[[int, int], None] | None) -> None:
        """Start the workers, report progress, stop cleanly on Ctrl-C; raise what stopped them."""
        threads = [
            threading.Thread(target=self._worker, name=f"send-{i}", daemon=True)
            for i in range(min(self.settings.concurrency, len(self.jobs)))
        ]
        self._workers_left = len(threads)
        total = len(self.jobs)
        try:
            for thread in threads:
                thread.start()
            while not self._all_done.wait(timeout=0.2):
                if progress:
                    progress(self.dispatcher.finished, total)
        except KeyboardInterrupt:
            self._interrupt(threads)
        finally:
            self.ledger.close()
        if progress:
            progress(self.dispatcher.finished, total)
        self.report.paused = self.dispatcher.paused
        if self.errors:
            first = self.errors[0]
            if isinstance(first, OutreachError):
                raise first
            raise MailError(f"sending stopped: {first}") from first

    def _interrupt(self, threads: Sequence[threading.Thread]) -> None:
        """Let in-flight messages finish and be recorded; nothing new starts."""
        self.dispatcher.stop()
        self.report.interrupted = True
        started = [thread for thread in threads if thread.ident is not None]
        self._worker_finished(len(threads) - len(started))
        self._all_done.wait()

    def _worker_finished(self, count: int = 1) -> None:
        with self._workers_lock:
            self._workers_left -= count
            if self._workers_left <= 0:
                self._all_done.set()

    def _worker(self) -> None:
        try:
            with self.factory() as transport:
                while jobs := self.dispatcher.next_batch(self.batch_size):
                    self._deliver_batch(jobs, transport)
        except BaseException as exc:  # a MailError the user must fix (login, TLS): stop all
            self.errors.append(exc)
            self.dispatcher.stop()
        finally:
            self._worker_finished()

    def _eligible(self, job: Job) -> Sequence[str]:
        return self.retry_eligible if job.tries else self.eligible

    def _deliver_batch(self, jobs: list[Job], transport: Transport) -> None:
        """Claim a batch, send each claimed message, record the outcomes (see DeliveryLedger)."""
        try:
            claims = self.ledger.claim(jobs, self._eligible)
        except BaseException:
            for job in jobs:
                self.dispatcher.done(job, "skipped", "", None)
            raise
        to_send = []
        for job, verdict, addressee in claims:
            if verdict == "send" and addressee is not None:
                to_send.append((job, addressee))
            else:
                self.dispatcher.done(job, "skipped", "", None)
        outcomes: list[_Outcome] = []
        try:
            for index, (job, addressee) in enumerate(to_send):
                if self.dispatcher.halted:
                    self._give_back([j for j, _ in to_send[index:]])
                    break
                try:
                    outcome = self._send_one(job, addressee, transport)
                except BaseException:
                    self._give_back([j for j, _ in to_send[index + 1 :]])
                    raise
                outcomes.append(outcome)
                if outcome.result is not None and not outcome.result.ok:
                    self._record(outcomes)  # retries and the pause must see a failure at once
        finally:
            self._record(outcomes)

    def _give_back(self, jobs: list[Job]) -> None:
        self.ledger.release(jobs)
        for job in jobs:
            self.dispatcher.returned(job)

    def _send_one(self, job: Job, addressee: Addressee, transport: Transport) -> _Outcome:
        Dispatcher.wait_for_slot(job)
        # Claimed with its batch: someone may have unsubscribed since (a read, no commit).
        reason, addressee = self.ledger.recheck(addressee)
        if reason is not None:
            return _Outcome(job, addressee, None, skipped=reason)
        job.tries += 1
        result = self._transmit(job, addressee, transport)
        return _Outcome(job, addressee, result, self._retry_at(job, result))

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Commit the outcomes, then let the dispatcher count them (and schedule retries)."""
        if not outcomes:
            return
        self.ledger.record(
            [(o.job, o.result or o.skipped or "", o.retry_at is not None) for o in outcomes]
        )
        for o in outcomes:
            if o.result is None:
                self.dispatcher.done(o.job, "skipped", "", None)
                continue
            if o.result.outcome == "permanent" and o.result.recipient_refused:
                self.ledger.bounce(o.addressee, o.result)
            with self._counter_lock:
                self.report.attempted += 1
                if o.result.ok:
                    self.report.sent_now += 1
            self.dispatcher.done(
                o.job,
                "sent" if o.result.ok else "failed",
                f"{o.result.code or ''} {o.result.detail}".strip(),
                o.retry_at,
            )
        outcomes.clear()

    def _transmit(self, job: Job, addressee: Addressee, transport: Transport) -> SendResult:
        message_id = self.messages.message_id(addressee)
        try:
            data = self.messages.build(addressee, message_id=message_id)
        except (MailError, ValidationError) as exc:
            return SendResult("permanent", None, f"cannot build the message: {exc}")
        try:
            return transport.send_bytes(
                return_path(self.workspace, self.key, job.delivery_id)
                or self.messages.sender.addr_spec,
                [ascii_address(addressee.email)],
                data,
                message_id,
            )
        except OutreachError:
            # Login, TLS or outbox problem, raised before any message data left: nothing was
            # sent, so the row goes back to the queue for the next run.
            self.ledger.release([job])
            self.dispatcher.done(job, "failed", "transport error", None)
            raise
        except BaseException:
            self.dispatcher.done(job, "failed", "transport error", None)
            raise  # the row stays `sending`, so the next run reports it as uncertain

    def _retry_at(self, job: Job, result: SendResult) -> float | None:
        """When to try a temporary failure again (exponential backoff with jitter), or None."""
        if result.outcome != "transient" or result.uncertain or job.tries >= self.max_attempts:
            return None
        backoff = self.settings.retry_backoff_seconds * 2.0 ** (job.tries - 1)
        return time.monotonic() + backoff * random.uniform(0.8, 1.2)


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
