"""Scheduled sends: `newsletter schedule`, `unschedule`, and the due sends of `outreach run-due`.

An edition scheduled for a moment (stored in UTC, given in the newsletter's time zone) is sent by
the first `run-due` at or after it. `run-due` is safe to run every minute: it takes the send lock
(a run that finds the lock held does nothing), sends only editions that are `composed` or were
left `sending` by a stopped run (the ledger resumes them without sending anyone twice), and a
sent edition is never due again. A slot missed (the machine was off) is sent late with a note.
Before each scheduled send the pre-send checks run again: an error cancels the schedule (with a
note) rather than mail everyone a broken edition; warnings were accepted when it was scheduled.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.db import session_scope
from outreach.errors import MailError, OutreachError, ValidationError
from outreach.mail.checks import check_edition
from outreach.mail.lock import SendBusyError, send_lock
from outreach.mail.notify import notify_editor, send_outcome_notice
from outreach.mail.plan import SendOptions, normalized_segments
from outreach.mail.send import SendReport, send_locked
from outreach.mail.transport import Transport
from outreach.models import Edition, utcnow
from outreach.newsletter.edition import edition_row
from outreach.timeutil import zone
from outreach.workspace import Workspace

log = logging.getLogger(__name__)

# Sent later than this after its slot, a scheduled edition carries a note saying so.
LATE_AFTER = dt.timedelta(minutes=10)
DUE_STATUSES = ("composed", "sending")


def schedule_edition(
    session: Session,
    workspace: Workspace,
    slug: str,
    at: dt.datetime,
    segments: Sequence[str] = (),
    *,
    now: dt.datetime | None = None,
) -> Edition:
    """Schedule a composed edition for `at` (aware); replaces an earlier schedule."""
    row = edition_row(session, slug)
    if row.status == "paused":
        raise ValidationError(
            f"edition {slug} is paused: fix the cause and resume it with "
            f"'outreach newsletter send {slug}'"
        )
    if row.status not in DUE_STATUSES:
        raise ValidationError(f"edition {slug} is {row.status}: only a composed edition is sent")
    check_time(slug, at, now=now)
    row.scheduled_at = at.astimezone(dt.UTC)
    row.scheduled_segments = normalized_segments(workspace, segments) or None
    row.schedule_note = None
    return row


def check_time(slug: str, at: dt.datetime, *, now: dt.datetime | None = None) -> None:
    """Refuse a moment that has passed (`at` is shown as given: pass it in local time)."""
    if at <= (now or utcnow()):
        raise ValidationError(
            f"{at:%Y-%m-%d %H:%M} has passed: give a later time, or send now with "
            f"'outreach newsletter send {slug}'"
        )


def unschedule_edition(session: Session, slug: str) -> dt.datetime:
    """Cancel a schedule; returns the moment it was set for."""
    row = edition_row(session, slug)
    if row.scheduled_at is None or row.status == "sent":
        raise ValidationError(f"edition {slug} is not scheduled")
    when, row.scheduled_at = row.scheduled_at, None
    row.schedule_note = "schedule cancelled"
    return when


@dataclass(frozen=True)
class Scheduled:
    slug: str
    subject: str
    status: str
    at: dt.datetime
    segments: list[str] | None
    note: str | None


def scheduled_editions(session: Session) -> list[Scheduled]:
    """Editions with a schedule that has not yet gone out, soonest first."""
    rows = session.scalars(
        select(Edition)
        .where(Edition.scheduled_at.is_not(None), Edition.status != "sent")
        .order_by(Edition.scheduled_at)
    )
    return [
        Scheduled(
            r.slug, r.subject, r.status, r.scheduled_at, r.scheduled_segments, r.schedule_note
        )
        for r in rows
        if r.scheduled_at is not None
    ]


@dataclass
class DueSend:
    slug: str
    due: dt.datetime
    note: str | None = None
    report: SendReport | None = None
    error: str | None = None


@dataclass
class DueRun:
    busy: str | None = None
    sends: list[DueSend] = field(default_factory=list)


def run_due(
    workspace: Workspace,
    *,
    now: dt.datetime | None = None,
    transport_factory: Callable[[], Transport] | None = None,
) -> DueRun:
    """Send every edition whose time has come (see the module docstring)."""
    now = now or utcnow()
    result = DueRun()
    try:
        with send_lock(workspace, "run-due"):
            for slug, due in _due(workspace, now):
                outcome = _send_due(workspace, slug, due, now, transport_factory)
                result.sends.append(outcome)
                if outcome.report is not None and outcome.report.interrupted:
                    break  # Ctrl-C or SIGTERM: the next run resumes
    except SendBusyError as exc:
        result.busy = str(exc)
    return result


def _due(workspace: Workspace, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    with session_scope(workspace) as session:
        rows = session.execute(
            select(Edition.slug, Edition.scheduled_at)
            .where(
                Edition.scheduled_at.is_not(None),
                Edition.scheduled_at <= now,
                Edition.status.in_(DUE_STATUSES),
            )
            .order_by(Edition.scheduled_at, Edition.id)
        ).all()
    return [(slug, at) for slug, at in rows if at is not None]


def _send_due(
    workspace: Workspace,
    slug: str,
    due: dt.datetime,
    now: dt.datetime,
    transport_factory: Callable[[], Transport] | None,
) -> DueSend:
    """One due edition: check it again, send it (late with a note), record the outcome."""
    tz = zone(workspace.settings.newsletter.timezone)
    outcome = DueSend(slug, due)
    try:
        errors = [f.message for f in check_edition(workspace, slug).errors]
    except OutreachError as exc:
        errors = [str(exc)]
    if errors:
        outcome.error = (
            f"not sent: {errors[0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
            + "; the schedule is cancelled: fix it and schedule again"
        )
        _note(workspace, slug, outcome.error, cancel=True)
        return outcome
    if now - due > LATE_AFTER:
        outcome.note = (
            f"due {due.astimezone(tz):%Y-%m-%d %H:%M}, sent late from "
            f"{now.astimezone(tz):%Y-%m-%d %H:%M} (run-due did not run at the time)"
        )
    with session_scope(workspace) as session:
        row = edition_row(session, slug)
        segments, subject = row.scheduled_segments or [], row.subject
    _note(workspace, slug, outcome.note or "sending as scheduled")
    try:
        outcome.report = send_locked(
            workspace, slug, SendOptions(segments=segments), transport_factory=transport_factory
        )
    except ValidationError as exc:  # nobody to send to: trying every minute will not help
        outcome.error = f"not sent: {exc}; the schedule is cancelled"
        _note(workspace, slug, outcome.error, cancel=True)
    except MailError as exc:  # the server or the login: the next run resumes where this stopped
        outcome.error = f"stopped: {exc}; the next run-due resumes it"
        _note(workspace, slug, outcome.error)
    if outcome.report is not None and not outcome.report.interrupted:
        _tell_editor(workspace, slug, subject, outcome.report)
    return outcome


def _tell_editor(workspace: Workspace, slug: str, subject: str, report: SendReport) -> None:
    """`[newsletter] editor_address` hears that a scheduled send finished or paused. A notice
    that cannot be sent is logged, never allowed to hide the send's own outcome."""
    title, body = send_outcome_notice(slug, subject, report.counts.by_state, report.paused)
    try:
        notify_editor(workspace, title, body)
    except OutreachError as exc:
        log.warning("run-due: the editor's notice about %s was not sent: %s", slug, exc)


def _note(workspace: Workspace, slug: str, note: str, *, cancel: bool = False) -> None:
    with session_scope(workspace) as session:
        row = edition_row(session, slug)
        row.schedule_note = note
        if cancel:
            row.scheduled_at = None
