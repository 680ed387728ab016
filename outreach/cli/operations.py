"""`outreach run-due`: the periodic job (cron or a systemd timer) that does what has come due.

Today: the scheduled newsletter sends. Safe to run every minute: it takes the send lock, a run
that finds it held does nothing, and nothing is ever sent twice.
"""

from __future__ import annotations

import sys

import click

from outreach.cli import pass_workspace
from outreach.cli.newsletter_send import sigterm_as_interrupt
from outreach.mail import schedule
from outreach.timeutil import zone
from outreach.workspace import Workspace


@click.command("run-due")
@pass_workspace
def run_due(workspace: Workspace) -> None:
    """Send the scheduled editions whose time has come; run it every minute.

    Quiet when there is nothing to do. A send missed while the machine was off goes out late,
    with a note; an edition whose pre-send checks now fail is not sent and its schedule is
    cancelled. Exit 1 when a due edition could not be sent.

    \b
    Example:
        outreach -w /srv/outreach run-due
    """
    tz = zone(workspace.settings.newsletter.timezone)
    with sigterm_as_interrupt():
        result = schedule.run_due(workspace)
    if result.busy:
        click.echo(f"Nothing done now: {result.busy}")
        return
    failed = 0
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


COMMANDS = [run_due]
