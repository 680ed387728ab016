"""`outreach newsletter check|test|send|schedule|unschedule`: the commands that mail an edition.

Part of the `newsletter` group (cli/newsletter.py adds them). Every one of them runs the pre-send
checks first: errors stop, warnings are shown and (for a send to the list) need `--yes`. `send`
and `schedule` show what will go to whom and ask "Skicka till N mottagare? [y/N]" in a terminal.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.errors import MailError
from outreach.mail import checks, ledger, plan, schedule, send
from outreach.newsletter.personalize import LANGUAGES
from outreach.timeutil import parse_local_datetime, zone
from outreach.workspace import Workspace

SEGMENT_HELP = "Only these segments (kommun, civilsamhälle, annat); repeatable. Default: everyone."


def count(number: int) -> str:
    """1234 → '1 234' (the Swedish thousands separator)."""
    return f"{number:,}".replace(",", " ")


def print_findings(report: checks.CheckReport, *, err: bool = True) -> None:
    for finding in report.findings:
        click.echo(f"{finding.level}: {finding.message}", err=err)


def run_checks(workspace: Workspace, slug: str, *, yes: bool, verb: str) -> checks.CheckReport:
    """The pre-send checks: errors refuse, warnings refuse without --yes (`verb` is the action)."""
    report = checks.check_edition(workspace, slug)
    print_findings(report)
    if report.errors:
        raise MailError(
            f"{len(report.errors)} error(s) in the pre-send checks of {slug}: nothing was {verb}"
        )
    if report.warnings and not yes:
        raise MailError(
            f"{len(report.warnings)} warning(s) above: fix them, or confirm with --yes "
            f"(nothing was {verb})"
        )
    return report


def confirm(question: str, *, yes: bool) -> None:
    """Ask in a terminal; without one, only --yes goes on."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise MailError("no terminal to ask in: pass --yes to confirm (nothing was sent)")
    click.confirm(question, default=False, abort=True)


def show_plan(planned: plan.SendPlan) -> None:
    segments = ", ".join(planned.segments) if planned.segments else "all"
    click.echo(f"Edition:    {planned.slug}" + (" (resuming)" if planned.started else ""))
    click.echo(f"Subject:    {planned.subject}")
    click.echo(f"Segment:    {segments}")
    click.echo(f"Recipients: {count(planned.recipients)}")


def print_counts(counts: ledger.LedgerCounts) -> None:
    for state in ledger.STATES:
        if counts[state]:
            click.echo(f"  {state:17} {counts[state]:>7}")
    click.echo(
        f"  recipients {counts.recipients} = sent {counts['sent']} + skipped {counts['skipped']} "
        f"+ failed {counts.failed} + uncertain {counts['uncertain']}"
        + (f" + not yet sent {counts.pending}" if counts.pending else "")
    )


@click.command("check")
@click.argument("edition")
@pass_workspace
def newsletter_check(workspace: Workspace, edition: str) -> None:
    """Run the pre-send checks on a composed edition and the mail settings.

    Errors (a malformed link, an unfilled placeholder, HTML over the clip limit) stop a send;
    warnings (a public URL that is not HTTPS, placeholder addresses, no DKIM) need --yes.

    \b
    Example:
        outreach newsletter check 2023-04-26
    """
    report = checks.check_edition(workspace, edition)
    print_findings(report, err=False)
    if report.errors:
        raise MailError(f"{len(report.errors)} error(s): fix them before sending {edition}")
    click.echo(
        f"Edition {edition}: no errors, {len(report.warnings)} warning(s)"
        + (" (send needs --yes)" if report.warnings else "")
    )


@click.command("test")
@click.argument("edition")
@click.option(
    "--to", "addresses", multiple=True, required=True, help="Recipient (at most 5; repeatable)."
)
@click.option("--language", type=click.Choice(LANGUAGES), default="sv", show_default=True)
@pass_workspace
def newsletter_test(
    workspace: Workspace, edition: str, addresses: tuple[str, ...], language: str
) -> None:
    """Send a composed edition to up to 5 addresses, '[TEST]' in the subject, sample data.

    The ledger is not touched: a test send never counts as a delivery. The pre-send checks run
    first: errors stop it, warnings are shown.

    \b
    Example:
        outreach newsletter test 2023-04-26 --to anna@example.se --to erik@example.org
    """
    run_checks(workspace, edition, yes=True, verb="sent")
    results = send.send_test(workspace, edition, list(addresses), language)
    failed = [(a, r) for a, r in results if not r.ok]
    for address, result in results:
        code = f"{result.code} " if result.code else ""
        state = "sent" if result.ok else f"NOT sent ({code}{result.detail})"
        click.echo(f"{address}: {state}")
    if failed:
        raise MailError(f"{len(failed)} of {len(results)} test message(s) not accepted")


@click.command("send")
@click.argument("edition")
@click.option("--segment", "segments", multiple=True, help=SEGMENT_HELP)
@click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Also send to recipients whose delivery is uncertain (they may get it twice).",
)
@click.option(
    "--retry-failed", is_flag=True, help="Try temporary failures again on a finished edition."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask; accept the checks' warnings.")
@pass_workspace
def newsletter_send(
    workspace: Workspace,
    edition: str,
    segments: tuple[str, ...],
    resend_uncertain: bool,
    retry_failed: bool,
    yes: bool,
) -> None:
    """Send a composed edition to the confirmed subscribers; resumes where it stopped.

    Shows the edition, subject, segment and number of recipients and asks before mailing
    (--yes for scripts; without a terminal it refuses unless --yes). Every recipient gets it
    once: the ledger records each delivery around the SMTP transaction. A stopped send resumes
    with the same command; a finished one sends nothing.

    \b
    Example:
        outreach newsletter send 2023-04-26
        outreach newsletter send 2023-04-26 --segment kommun --yes
    """
    options = send.SendOptions(segments, resend_uncertain, retry_failed)
    run_checks(workspace, edition, yes=yes, verb="sent")
    with session_scope(workspace) as session:
        planned = plan.plan_send(session, workspace, edition, options)
    show_plan(planned)
    if planned.recipients:
        confirm(f"Skicka till {count(planned.recipients)} mottagare?", yes=yes)
    report = _send_with_progress(workspace, edition, options)
    if report.recovered_uncertain:
        click.echo(
            f"{report.recovered_uncertain} delivery(ies) were left mid-message by a stopped send "
            "and are now 'uncertain' (send again with --resend-uncertain to include them)"
        )
    if report.attempted == 0 and report.already_sent and not report.paused:
        click.echo(f"Edition {edition} was already sent; nothing to do.")
    else:
        click.echo(
            f"Edition {edition}: {report.sent_now} sent now in {report.elapsed:.1f} s "
            f"({report.rate:.0f} messages/s)"
        )
    print_counts(report.counts)
    if report.interrupted:
        click.echo("Interrupted: run the same command to resume.", err=True)
        sys.exit(130)
    if report.paused:
        raise MailError(
            f"paused after {report.paused}; fix the cause and run the same command to resume"
        )


def _send_with_progress(
    workspace: Workspace, edition: str, options: send.SendOptions
) -> send.SendReport:
    """send_edition with a progress bar on stderr; SIGTERM stops it like Ctrl-C (cleanly)."""
    bar: Any = None
    state = {"shown": 0}

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Sending", file=sys.stderr)
            bar.__enter__()
        bar.update(done - state["shown"])
        state["shown"] = done

    try:
        with sigterm_as_interrupt():
            return send.send_edition(workspace, edition, options, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, systemd stop) stops a send like Ctrl-C: messages in flight are recorded."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("schedule")
@click.argument("edition")
@click.option(
    "--at", "at", required=True, help="When, in the newsletter's time zone: 'YYYY-MM-DD HH:MM'."
)
@click.option("--segment", "segments", multiple=True, help=SEGMENT_HELP)
@click.option("--yes", "-y", is_flag=True, help="Do not ask; accept the checks' warnings.")
@pass_workspace
def newsletter_schedule(
    workspace: Workspace, edition: str, at: str, segments: tuple[str, ...], yes: bool
) -> None:
    """Schedule a composed edition; `outreach run-due` (cron or a systemd timer) sends it.

    The time is in [newsletter] timezone. The pre-send checks run now and again before the send.
    Scheduling again moves the time; `newsletter unschedule` cancels.

    \b
    Example:
        outreach newsletter schedule 2026-12-10 --at "2026-12-10 08:00"
    """
    tz = zone(workspace.settings.newsletter.timezone)
    when = parse_local_datetime(at, "--at", tz).astimezone(tz)
    schedule.check_time(edition, when)
    run_checks(workspace, edition, yes=yes, verb="scheduled")
    with session_scope(workspace) as session:
        planned = plan.plan_send(session, workspace, edition, send.SendOptions(segments))
    show_plan(planned)
    local = f"{when.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"
    confirm(f"Skicka till {count(planned.recipients)} mottagare {local}?", yes=yes)
    with session_scope(workspace) as session:
        schedule.schedule_edition(session, workspace, edition, when, segments)
    click.echo(f"Edition {edition} is scheduled for {local}; 'outreach run-due' sends it.")


@click.command("unschedule")
@click.argument("edition")
@pass_workspace
def newsletter_unschedule(workspace: Workspace, edition: str) -> None:
    """Cancel an edition's scheduled send (it stays composed).

    \b
    Example:
        outreach newsletter unschedule 2026-12-10
    """
    tz = zone(workspace.settings.newsletter.timezone)
    with session_scope(workspace) as session:
        when = schedule.unschedule_edition(session, edition)
    click.echo(f"Edition {edition}: the send at {when.astimezone(tz):%Y-%m-%d %H:%M} is cancelled.")


COMMANDS = [
    newsletter_check,
    newsletter_test,
    newsletter_send,
    newsletter_schedule,
    newsletter_unschedule,
]
