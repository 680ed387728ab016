"""`outreach bounces fetch`: read bounces and spam complaints back into the subscriber list."""

from __future__ import annotations

import sys
from typing import Any

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.workspace import Workspace


@click.group("bounces")
def bounces_group() -> None:
    """Bounces and complaints: read the bounce mailbox and update the subscribers.

    \b
    Example:
        outreach bounces fetch
        outreach bounces fetch /var/mail/vhosts/kraftsamling.se/bounces/
    """


@bounces_group.command("fetch")
@click.argument("mailbox", required=False, type=click.Path(exists=True))
@pass_workspace
def bounces_fetch(workspace: Workspace, mailbox: str | None) -> None:
    """Read the bounce mailbox (IMAP, or a Maildir/mbox at MAILBOX) and apply what it reports.

    A hard bounce marks the subscriber `bounced` and suppresses the address; soft bounces count,
    and `[mail] soft_bounce_limit` of them in a row count as a hard bounce; a spam complaint (ARF)
    unsubscribes. Processed messages move to `[mail] processed_folder`; anything else stays in
    the inbox. Safe to run again: a message is never counted twice.

    \b
    Example:
        export OUTREACH_IMAP_PASSWORD_FILE=~/.config/outreach/imap-password
        outreach bounces fetch
        outreach bounces fetch ~/Maildir
    """
    from outreach.mail.bounces import fetch_bounces

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Reading", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        with session_scope(workspace) as session:
            report = fetch_bounces(session, workspace, mailbox, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    counts = report.counts
    click.echo(f"Read {report.read} message(s) from {report.source}")
    click.echo(
        f"  {counts['hard']} hard bounce(s), {counts['soft']} soft bounce(s), "
        f"{counts['complaint']} complaint(s)"
        + (f", {report.already_recorded} already recorded" if report.already_recorded else "")
    )
    click.echo(
        f"  {report.suppressed} subscriber(s) marked bounced and suppressed, "
        f"{report.unsubscribed} unsubscribed after a complaint"
    )
    if report.unmatched:
        click.echo(f"  {report.unmatched} report(s) matched no subscriber (recorded, moved)")
    click.echo(
        f"  moved {report.moved} to {workspace.settings.mail.processed_folder!r}"
        + (f"; {report.left} left in the inbox (not a bounce or complaint)" if report.left else "")
    )


COMMANDS = [bounces_group]
