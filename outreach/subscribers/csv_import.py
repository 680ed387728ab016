"""Subscriber CSV import: add or update subscribers from a spreadsheet export, never bringing back
anyone who left.

The file is streamed (csv_read) and written in batches of BATCH_ROWS with set-based statements (one
lookup of known and suppressed addresses per batch, then multi-row inserts), all inside the caller's
one transaction: a million rows take seconds and little memory, and a failure leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8, normalize_email
from outreach.errors import ValidationError
from outreach.models import (
    ConsentEvent,
    Subscriber,
    SubscriberMail,
    SubscriberSegment,
    Suppression,
    utcnow,
)
from outreach.subscribers import csv_read
from outreach.subscribers.fields import (
    clean_text,
    email_hash,
    normalize_language,
    normalize_segments,
)
from outreach.subscribers.queue import CONFIRM
from outreach.workspace import DEFAULT_SEGMENTS

BATCH_ROWS = 2000
# Core tables: the batches bypass the ORM's unit of work (and its identity map) on purpose.
SUBSCRIBERS = cast(Table, Subscriber.__table__)
SEGMENTS = cast(Table, SubscriberSegment.__table__)
CONSENT = cast(Table, ConsentEvent.__table__)
MAILS = cast(Table, SubscriberMail.__table__)
SUPPRESSIONS = cast(Table, Suppression.__table__)
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    confirmations_queued: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    email: str
    name: str | None
    organisation: str | None
    segments: list[str] | None  # None: the file says nothing about segments
    language: str


@dataclass
class _Options:
    confirmed: bool
    source: str
    send_confirmation: bool


class _Parser:
    """Row fields to values; segment and language texts repeat, so their answers are kept."""

    def __init__(self, allowed: Mapping[str, str]) -> None:
        self.allowed = allowed
        self.segments: dict[str, list[str] | None] = {}
        self.languages: dict[str | None, str] = {}

    def _segments(self, text: str | None) -> list[str] | None:
        if not text or not text.strip():
            return None
        if text not in self.segments:
            self.segments[text] = normalize_segments(text, self.allowed)
        return self.segments[text]

    def _language(self, text: str | None) -> str:
        if text not in self.languages:
            self.languages[text] = normalize_language(text)
        return self.languages[text]

    def __call__(self, line: int, row: dict[str, str]) -> _Row:
        return _Row(
            line,
            normalize_email(row.get("email", "")),
            clean_text(row.get("name")),
            clean_text(row.get("organisation")),
            self._segments(row.get("segment")),
            self._language(row.get("language")),
        )


def import_subscribers(
    session: Session,
    path: Path,
    *,
    confirmed: bool = False,
    source: str | None = None,
    allowed_segments: Mapping[str, str] = DEFAULT_SEGMENTS,
    send_confirmation: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV in the caller's transaction. Invalid rows are reported; re-importing changes
    nothing. With `send_confirmation`, pending subscribers in the file get a confirmation queued.

    An address that unsubscribed, bounced or was erased is never brought back by an import.
    """
    if confirmed and send_confirmation:
        raise ValidationError("--send-confirmation asks pending subscribers; leave out --confirmed")
    shape = csv_read.sniff(path)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # The unique-address and hash indexes take inserts all over the file: a bigger page cache
        # (64 MiB, this connection only) keeps them from going back to the OS for every batch.
        connection.exec_driver_sql("PRAGMA cache_size = -65536")
    report = ImportReport(warnings=list(shape.warnings))
    options = _Options(confirmed, clean_text(source) or f"import:{path.name}", send_confirmation)
    parse = _Parser(allowed_segments)
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    for line, raw in csv_read.read_rows(path, shape, report.warnings):
        try:
            row = parse(line, raw)
        except ValidationError as exc:
            report.invalid.append((line, str(exc)))
            continue
        if row.email in seen:
            report.skipped.append((line, f"{row.email} repeats line {seen[row.email]}"))
            continue
        seen[row.email] = line
        if needs_smtputf8(row.email):
            report.warnings.append(f"line {line}: {row.email}: {SMTPUTF8_REQUIREMENT}")
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            _write_batch(session, batch, options, report)
            batch = []
            if progress:
                progress(line, shape.lines)
    if batch:
        _write_batch(session, batch, options, report)
    if progress:
        progress(shape.lines, shape.lines)
    return report


def _write_batch(
    session: Session, rows: list[_Row], options: _Options, report: ImportReport
) -> None:
    hashes = {row.email: email_hash(row.email) for row in rows}
    suppressed = {
        digest
        for (digest,) in _select_in(
            session, "email_hash", SUPPRESSIONS, "email_hash", hashes.values()
        )
    }
    known = {
        r.email: r
        for r in _select_in(
            session, "id, email, status, name, organisation", SUBSCRIBERS, "email", hashes
        )
    }
    new: list[_Row] = []
    existing: list[tuple[_Row, Any]] = []
    for row in rows:
        if hashes[row.email] in suppressed:
            report.skipped.append((row.line, f"{row.email} is suppressed (erased or bounced)"))
        elif row.email not in known:
            new.append(row)
        elif known[row.email].status in ("unsubscribed", "bounced"):
            status = known[row.email].status
            report.skipped.append((row.line, f"{row.email} has {status} and is not re-added"))
        else:
            existing.append((row, known[row.email]))
    pending_ids = _insert_new(session, new, hashes, options)
    report.added += len(new)
    pending_ids += _update_existing(session, existing, hashes, options, report)
    if options.send_confirmation:
        report.confirmations_queued += _queue_confirmations(session, pending_ids, hashes)


def _select_in(
    session: Session, columns: str, table: Table, key: str, values: Iterable[Any]
) -> Sequence[Any]:
    """SELECT columns FROM table WHERE key IN (values), through the driver: SQLAlchemy's expanding
    IN compiles each of a batch's 2,000 values, three times a batch."""
    chosen = list(values)
    if not chosen:
        return []
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT {columns} FROM {table.name} WHERE {key} IN ({', '.join(mark for _ in chosen)})"
    return connection.exec_driver_sql(sql, tuple(chosen)).all()


def _bulk_insert(
    session: Session, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT many rows through the driver's executemany. SQLAlchemy's own executemany builds and
    type-processes parameters row by row, which was most of the time of a million-row import; so
    the rows come as tuples of database values (`_db_now` for the timestamps)."""
    if not rows:
        return
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
    connection.exec_driver_sql(sql, rows)


def _db_now(session: Session) -> Any:
    """utcnow() as the driver wants it for our UTCDateTime columns (a string on SQLite)."""
    dialect = session.connection().dialect
    column_type = SUBSCRIBERS.c.created_at.type.dialect_impl(dialect)
    process = column_type.bind_processor(dialect)
    now = utcnow()
    return process(now) if process else now


def _insert_new(
    session: Session, rows: list[_Row], hashes: dict[str, str], options: _Options
) -> list[tuple[int, str]]:
    """Insert new subscribers with their segments and consent events; (id, email) of the pending."""
    if not rows:
        return []
    now = _db_now(session)
    status = "confirmed" if options.confirmed else "pending"
    _bulk_insert(
        session,
        SUBSCRIBERS,
        ("email", "name", "organisation", "language", "status", "created_at", "updated_at"),
        [(r.email, r.name, r.organisation, r.language, status, now, now) for r in rows],
    )
    found = _select_in(session, "email, id", SUBSCRIBERS, "email", [r.email for r in rows])
    ids: dict[str, int] = {str(email): sid for email, sid in found}
    _bulk_insert(
        session,
        SEGMENTS,
        ("subscriber_id", "segment"),
        [(ids[r.email], s) for r in rows for s in r.segments or ()],
    )
    _consent(session, [(ids[r.email], hashes[r.email]) for r in rows], status, options.source)
    return [] if options.confirmed else [(ids[r.email], r.email) for r in rows]


def _consent(session: Session, who: Iterable[tuple[int, str]], action: str, source: str) -> None:
    now = _db_now(session)
    _bulk_insert(
        session,
        CONSENT,
        ("subscriber_id", "email_hash", "action", "source", "detail", "created_at"),
        [(sid, digest, action, source, None, now) for sid, digest in who],
    )


def _update_existing(
    session: Session,
    pairs: list[tuple[_Row, Any]],
    hashes: dict[str, str],
    options: _Options,
    report: ImportReport,
) -> list[tuple[int, str]]:
    """Fill in what the file says about known subscribers; (id, email) of those still pending."""
    if not pairs:
        return []
    ids = [known.id for _, known in pairs]
    have: dict[int, set[str]] = {i: set() for i in ids}
    for sid, segment in session.execute(
        select(SubscriberSegment.subscriber_id, SubscriberSegment.segment).where(
            SubscriberSegment.subscriber_id.in_(ids)
        )
    ):
        have[sid].add(segment)
    changes, segment_changes, confirm, pending = [], [], [], []
    for row, known in pairs:
        name = row.name if row.name is not None else known.name
        organisation = row.organisation if row.organisation is not None else known.organisation
        changed = (name, organisation) != (known.name, known.organisation)
        if changed:
            changes.append({"sid": known.id, "name": name, "organisation": organisation})
        if row.segments is not None and set(row.segments) != have[known.id]:
            segment_changes.append((known.id, row.segments))
            changed = True
        if options.confirmed and known.status == "pending":
            confirm.append((known.id, hashes[row.email]))
            changed = True
        elif known.status == "pending":
            pending.append((known.id, row.email))
        report.updated += changed
        report.unchanged += not changed
    _apply_updates(session, changes, segment_changes, confirm, options.source)
    return pending


def _apply_updates(
    session: Session,
    changes: list[dict[str, Any]],
    segment_changes: list[tuple[int, list[str]]],
    confirm: list[tuple[int, str]],
    source: str,
) -> None:
    now = utcnow()
    table = SUBSCRIBERS
    if changes:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("sid"))
            .values(name=bindparam("name"), organisation=bindparam("organisation"), updated_at=now),
            changes,
        )
    if segment_changes:
        links = SEGMENTS
        session.execute(
            links.delete().where(links.c.subscriber_id.in_([sid for sid, _ in segment_changes]))
        )
        session.execute(
            insert(links),
            [{"subscriber_id": sid, "segment": s} for sid, keys in segment_changes for s in keys],
        )
    if confirm:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("sid"))
            .values(status="confirmed", updated_at=now),
            [{"sid": sid} for sid, _ in confirm],
        )
        _consent(session, confirm, "confirmed", source)


def _queue_confirmations(
    session: Session, pending: list[tuple[int, str]], hashes: dict[str, str]
) -> int:
    """Queue a confirmation for each pending subscriber that has none waiting."""
    if not pending:
        return 0
    waiting = set(
        session.scalars(
            select(SubscriberMail.subscriber_id).where(
                SubscriberMail.subscriber_id.in_([sid for sid, _ in pending]),
                SubscriberMail.kind == CONFIRM,
                SubscriberMail.status.in_(("queued", "sending")),
            )
        )
    )
    now = _db_now(session)
    values = [
        (CONFIRM, sid, hashes[email], "queued", 0, now, now)
        for sid, email in pending
        if sid not in waiting
    ]
    names = ("kind", "subscriber_id", "email_hash", "status", "attempts", "next_attempt_at")
    _bulk_insert(session, MAILS, (*names, "created_at"), values)
    return len(values)
