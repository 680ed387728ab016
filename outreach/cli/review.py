"""`outreach review ...`: guests read, correct and approve their transcript in the browser."""

from __future__ import annotations

import datetime as dt

import click

from outreach.cli import pass_workspace, printable
from outreach.db import session_scope
from outreach.errors import MailError
from outreach.review import report, requests
from outreach.secrets import secret_key
from outreach.workspace import Workspace


@click.group("review")
def review_group() -> None:
    """Guest review of transcripts: personal links, status, changes, acceptance.

    \b
    Example:
        outreach review request 2024-05-ai-i-kommunen
        outreach review status 2024-05-ai-i-kommunen
    """


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@review_group.command("request")
@click.argument("slug")
@click.option("--guest", "email", metavar="EMAIL", help="Only this guest (always a fresh link).")
@pass_workspace
def review_request(workspace: Workspace, slug: str, email: str | None) -> None:
    """Email each guest of episode SLUG a personal review link (Swedish, signed, expiring).

    Guests who already have a live link are skipped; `--guest EMAIL` sends that guest a new link
    and invalidates their older ones. Links last `[review] link_days` days (14) and point at
    `[newsletter] public_url`/granska/…, so `outreach serve` must be reachable there.

    \b
    Example:
        outreach review request 2024-05-ai-i-kommunen
        outreach review request 2024-05-ai-i-kommunen --guest anna@kommun.se
    """
    outcome = requests.request_reviews(workspace, secret_key(workspace.root), slug, guest=email)
    public = workspace.settings.newsletter.public_url
    if outcome.sent and requests.is_local_url(public):
        click.echo(
            f"Warning: the links point at {public} ([newsletter] public_url), which guests "
            "cannot reach from their own computers.",
            err=True,
        )
    for sent in outcome.sent:
        click.echo(
            f"Sent review link to {sent.name} <{sent.email}> "
            f"(valid until {sent.expires_at:%Y-%m-%d})"
        )
    for reason in outcome.skipped:
        click.echo(f"Skipped {reason}", err=True)
    if not outcome.sent:
        click.echo("No review links sent.")
    if outcome.failed:
        raise MailError(
            f"{len(outcome.failed)} review mail(s) not sent: {'; '.join(outcome.failed)}"
        )


@review_group.command("status")
@click.argument("slug")
@pass_workspace
def review_status(workspace: Workspace, slug: str) -> None:
    """Show each guest's review state: not sent, sent, opened, changes suggested, approved.

    \b
    Example:
        outreach review status 2024-05-ai-i-kommunen
    """
    with session_scope(workspace) as session:
        rows = report.status(session, slug)
    if not rows:
        click.echo(f"Episode {slug} has no guests.")
        return
    click.echo("GUEST\tEMAIL\tSTATE\tLINK\tSENT\tOPENED\tEXPIRES\tVERSIONS\tCONFLICTS")
    for row in rows:
        click.echo(
            "\t".join(
                [
                    row.name,
                    row.email or "-",
                    row.state,
                    row.link,
                    _when(row.sent_at),
                    _when(row.opened_at),
                    _when(row.expires_at),
                    str(row.versions),
                    str(row.conflicts),
                ]
            )
        )


@review_group.command("diff")
@click.argument("slug")
@pass_workspace
def review_diff(workspace: Workspace, slug: str) -> None:
    """Show what each guest changed, commented and approved, and conflicting edits.

    \b
    Example:
        outreach review diff 2024-05-ai-i-kommunen | less
    """
    with session_scope(workspace) as session:
        text = report.diff_report(session, slug)
    # Guests wrote parts of it: nothing they typed may drive the terminal.
    click.echo("\n".join(printable(line) for line in text.split("\n")))


@review_group.command("accept")
@click.argument("slug")
@click.option("--version", "version", type=click.IntRange(1), help="Version (default: latest).")
@pass_workspace
def review_accept(workspace: Workspace, slug: str, version: int | None) -> None:
    """Make a transcript version of SLUG the publishable one and write its exports.

    \b
    Example:
        outreach review diff 2024-05-ai-i-kommunen
        outreach review accept 2024-05-ai-i-kommunen --version 3
    """
    with session_scope(workspace) as session:
        transcript = report.accept(session, workspace, slug, version)
        number = transcript.version
        conflicts = sum(row.conflicts for row in report.status(session, slug))
    click.echo(f"Accepted version {number} of {slug}.")
    if conflicts:
        click.echo(
            f"Note: {conflicts} conflicting guest edit(s) are on record; see `outreach review "
            f"diff {slug}`.",
            err=True,
        )


@review_group.command("revoke")
@click.argument("slug")
@click.option("--guest", "email", metavar="EMAIL", required=True, help="The guest's address.")
@pass_workspace
def review_revoke(workspace: Workspace, slug: str, email: str) -> None:
    """Invalidate a guest's review link(s) for SLUG at once.

    \b
    Example:
        outreach review revoke 2024-05-ai-i-kommunen --guest anna@kommun.se
    """
    with session_scope(workspace) as session:
        count = requests.revoke(session, slug, email)
    if count:
        click.echo(f"Revoked {count} review link(s) of {email} for {slug}.")
    else:
        click.echo(f"{email} had no live review link for {slug}.")


COMMANDS = [review_group]
