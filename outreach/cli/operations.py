"""`outreach run-due`: the periodic job (cron or a systemd timer) that does what has come due.

The scheduled newsletter sends, the queued confirmation and welcome mails, and (when a bounce
mailbox is configured) the bounces and complaints. Safe to run every minute: the sends take the
send lock, a run that finds it held sends nothing, and nothing is ever sent twice.
"""

from __future__ import annotations

import sys

import click

from outreach.cli import pass_workspace
from outreach.cli.newsletter_send import sigterm_as_interrupt
from outreach.db import session_scope
from outreach.errors import OutreachError
from outreach.mail import schedule
from outreach.mail.bounces import bounce_mailbox_configured, fetch_bounces
from outreach.mail.confirmation import send_due_confirmations
from outreach.subscribers.queue import queue_counts
from outreach.timeutil import zone
from outreach.workspace import Workspace


@click.command("run-due")
@pass_workspace
def run_due(workspace: Workspace) -> None:
    """Send the scheduled editions whose time has come, the queued confirmation mails, and read
    the bounce mailbox; run it every minute.

    Quiet when there is nothing to do. A send missed while the machine was off goes out late,
    with a note; an edition whose pre-send checks now fail is not sent and its schedule is
    cancelled. Exit 1 when a due edition could not be sent.

    \b
    Example:
        outreach -w /srv/outreach run-due
    """
    tz = zone(workspace.settings.newsletter.timezone)
    failed = _queued_mails(workspace) + _bounces(workspace)
    with sigterm_as_interrupt():
        result = schedule.run_due(workspace)
    if result.busy:
        click.echo(f"No newsletter sent now: {result.busy}")
        sys.exit(1 if failed else 0)
    for due in result.sends:
        when = f"{due.due.astimezone(tz):%Y-%m-%d %H:%M}"
        if due.note:
            click.echo(f"Edition {due.slug}: {due.note}")
        if due.error:
            failed += 1
            click.echo(f"Error: edition {due.slug} (due {when}): {due.error}", err=True)
            continue
        assert due.report is not None
        counts = due.report.counts
        click.echo(
            f"Edition {due.slug} (due {when}): {due.report.sent_now} sent now; "
            f"recipients {counts.recipients} = sent {counts['sent']} + skipped "
            f"{counts['skipped']} + failed {counts.failed} + uncertain {counts['uncertain']}"
            + (f" + not yet sent {counts.pending}" if counts.pending else "")
            + (f"; paused after {due.report.paused}" if due.report.paused else "")
        )
        failed += bool(due.report.paused)
        if due.report.interrupted:
            click.echo("Interrupted: the next run-due resumes it.", err=True)
            sys.exit(130)
    if failed:
        sys.exit(1)


def _queued_mails(workspace: Workspace) -> int:
    """Send the due confirmation and welcome mails; 1 if the transport failed (they stay queued)."""
    try:
        with session_scope(workspace) as session:
            waiting = queue_counts(session)
            if not (waiting.get("queued") or waiting.get("sending")):
                return 0  # nothing queued: no key or mail server needed
            report = send_due_confirmations(session, workspace)
    except OutreachError as exc:
        click.echo(f"Error: confirmation mails stay queued: {exc}", err=True)
        return 1
    if report.sent or report.failed or report.rejected:
        click.echo(
            f"Confirmation mails: {report.sent} sent, {report.failed} to retry, "
            f"{report.rejected} refused by the server"
        )
    return 0


def _bounces(workspace: Workspace) -> int:
    """Read the bounce mailbox when one is configured; 1 if it could not be read."""
    if not bounce_mailbox_configured(workspace):
        return 0
    try:
        with session_scope(workspace) as session:
            report = fetch_bounces(session, workspace)
    except OutreachError as exc:
        click.echo(f"Error: bounce mailbox: {exc}", err=True)
        return 1
    if report.read:
        click.echo(f"Bounce mailbox: {report.read} message(s) read")
    return 0


COMMANDS = [run_due]
