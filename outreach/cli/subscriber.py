"""`outreach subscriber`: add, import, list, show, remove, export, erase, confirm-request,
send-confirmations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8
from outreach.cli import echo_table, pass_workspace, printable
from outreach.db import session_scope
from outreach.fsutil import atomic_write_text
from outreach.subscribers import csv_import, export, queue
from outreach.subscribers import store as subscribers
from outreach.workspace import Workspace


@click.group("subscriber")
def subscriber_group() -> None:
    """Newsletter subscribers and their consent.

    \b
    Example:
        outreach subscriber import medlemmar.csv --confirmed
        outreach subscriber list --status confirmed --segment kommun
    """


@subscriber_group.command("add")
@click.argument("email")
@click.option("--name", help="Full name.")
@click.option("--organisation", help="Organisation.")
@click.option(
    "--segment",
    "segments",
    multiple=True,
    help="A segment from [subscribers] segments (key or label); repeatable or comma-separated.",
)
@click.option("--language", default="sv", show_default=True, help="sv or en.")
@click.option("--confirmed", is_flag=True, help="Consent was given elsewhere: add as confirmed.")
@click.option("--source", default="cli", show_default=True, help="Where consent came from.")
@pass_workspace
def subscriber_add(
    workspace: Workspace,
    email: str,
    name: str | None,
    organisation: str | None,
    segments: tuple[str, ...],
    language: str,
    confirmed: bool,
    source: str,
) -> None:
    """Add one subscriber (pending unless --confirmed).

    \b
    Example:
        outreach subscriber add anna@example.se --name "Anna Berg" --segment kommun --confirmed
    """
    with session_scope(workspace) as session:
        subscriber = subscribers.add_subscriber(
            session,
            email,
            name=name,
            organisation=organisation,
            segments=segments,
            language=language,
            confirmed=confirmed,
            source=source,
            allowed_segments=workspace.settings.subscribers.segments,
        )
        click.echo(f"Added subscriber {subscriber.id}: {subscriber.email} ({subscriber.status})")
    if needs_smtputf8(subscriber.email or ""):
        click.echo(f"Warning: {subscriber.email}: {SMTPUTF8_REQUIREMENT}", err=True)


@subscriber_group.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--confirmed", is_flag=True, help="The list holds confirmed consent: import as confirmed."
)
@click.option(
    "--send-confirmation",
    is_flag=True,
    help="Queue a confirmation link for every pending subscriber in the file.",
)
@click.option("--source", help="Consent source to record (default: import:FILENAME).")
@pass_workspace
def subscriber_import(
    workspace: Workspace,
    csv_file: Path,
    confirmed: bool,
    send_confirmation: bool,
    source: str | None,
) -> None:
    """Import subscribers from a CSV file (comma or semicolon, UTF-8, Swedish or English headers).

    Headers: e-post/email, namn/name (or förnamn + efternamn), organisation, segment (several
    separated by commas), språk/language. Invalid rows are listed with their line numbers; valid
    rows are imported together. A row with more or fewer fields than the header, or a quote left
    open, stops the import with its line number. Re-importing changes nothing, and never brings
    back anyone who unsubscribed.

    \b
    Example:
        outreach subscriber import export-från-excel.csv --confirmed --source "anmälan 2023"
        outreach subscriber import nya.csv --send-confirmation
    """
    with (
        session_scope(workspace) as session,
        click.progressbar(length=1, label="Importing", file=sys.stderr) as bar,
    ):

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        report = csv_import.import_subscribers(
            session,
            csv_file,
            confirmed=confirmed,
            source=source,
            allowed_segments=workspace.settings.subscribers.segments,
            send_confirmation=send_confirmation,
            progress=progress,
        )
    for warning in report.warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)
    for line, reason in report.invalid:
        click.echo(f"{csv_file}:{line}: invalid: {printable(reason)}", err=True)
    for line, reason in report.skipped:
        click.echo(f"{csv_file}:{line}: skipped: {printable(reason)}", err=True)
    click.echo(
        f"Imported {csv_file}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped, {len(report.invalid)} invalid"
        + (f"; {report.confirmations_queued} confirmation(s) queued" if send_confirmation else "")
    )


@subscriber_group.command("list")
@click.option("--status", type=click.Choice(subscribers.STATUSES), help="Only this status.")
@click.option("--segment", help="Only subscribers in this segment.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_workspace
def subscriber_list(
    workspace: Workspace, status: str | None, segment: str | None, as_json: bool
) -> None:
    """List subscribers as a table (or JSON).

    \b
    Example:
        outreach subscriber list --status confirmed --json
    """
    with session_scope(workspace) as session:
        found = subscribers.list_subscribers(
            session, status, segment, workspace.settings.subscribers.segments
        )
        rows: list[dict[str, Any]] = [
            {
                "id": s.id,
                "email": s.email,
                "name": s.name,
                "organisation": s.organisation,
                "segments": s.segments,
                "language": s.language,
                "status": s.status,
            }
            for s in found
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    headers = ["id", "email", "name", "organisation", "segments", "status"]
    table = [
        [
            ", ".join(row[h]) if h == "segments" else str(row[h] if row[h] is not None else "")
            for h in headers
        ]
        for row in rows
    ]
    echo_table(headers, table)
    click.echo(f"{len(table)} subscriber(s)")


@subscriber_group.command("show")
@click.argument("subscriber")
@pass_workspace
def subscriber_show(workspace: Workspace, subscriber: str) -> None:
    """Show one subscriber (by id or address) with consent history.

    \b
    Example:
        outreach subscriber show anna@example.se
    """
    with session_scope(workspace) as session:
        record = export.subscriber_record(session, subscribers.find_subscriber(session, subscriber))
    segments: list[str] = record["segments"]
    record["segments"] = ", ".join(segments)
    for key in (
        "id",
        "email",
        "name",
        "organisation",
        "segments",
        "language",
        "status",
        "created_at",
    ):
        value = record[key] if record[key] is not None else ""
        click.echo(f"{key:13} {printable(str(value))}")
    click.echo("consent:")
    for event in record["consent_events"]:
        detail = f"  {event['detail']}" if event["detail"] else ""
        click.echo(printable(f"  {event['at']}  {event['action']:12} {event['source']}{detail}"))


@subscriber_group.command("remove")
@click.argument("subscriber")
@pass_workspace
def subscriber_remove(workspace: Workspace, subscriber: str) -> None:
    """Unsubscribe someone (history kept; use erase for GDPR removal).

    \b
    Example:
        outreach subscriber remove anna@example.se
    """
    with session_scope(workspace) as session:
        removed = subscribers.remove_subscriber(session, subscriber)
        click.echo(f"Unsubscribed {removed.email}")


@subscriber_group.command("export")
@click.argument("subscriber", required=False)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@pass_workspace
def subscriber_export(workspace: Workspace, subscriber: str | None, output: Path | None) -> None:
    """Export one subscriber's data (or everyone's) as JSON, e.g. for a GDPR access request.

    \b
    Example:
        outreach subscriber export anna@example.se -o anna.json
    """
    with session_scope(workspace) as session:
        text = export.export_subscribers(session, subscriber)
    if output:
        atomic_write_text(output, text, private=True)  # personal data
        click.echo(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@subscriber_group.command("erase")
@click.argument("subscriber")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_workspace
def subscriber_erase(workspace: Workspace, subscriber: str, yes: bool) -> None:
    """Erase a subscriber's personal data (GDPR); a hash keeps the address from being mailed again.

    \b
    Example:
        outreach subscriber erase anna@example.se --yes
    """
    if not yes:
        click.confirm(f"Erase all personal data of {subscriber}?", abort=True)
    with session_scope(workspace) as session:
        erased = subscribers.erase_subscriber(session, subscriber)
        click.echo(f"Erased subscriber {erased.id}")


@subscriber_group.command("confirm-request")
@click.argument("subscriber", nargs=-1)
@click.option("--all-pending", is_flag=True, help="Every pending subscriber.")
@pass_workspace
def subscriber_confirm_request(
    workspace: Workspace, subscriber: tuple[str, ...], all_pending: bool
) -> None:
    """Queue a confirmation link (double opt-in) for pending subscribers.

    The mails go out from the queue at `[subscribers] confirmations_per_minute`, sent by
    `outreach serve` or `outreach subscriber send-confirmations`; nobody gets a second link within
    ten minutes of the last one.

    \b
    Example:
        outreach subscriber confirm-request anna@example.se
        outreach subscriber confirm-request --all-pending
    """
    if bool(subscriber) == all_pending:
        raise click.UsageError("name subscribers (id or address) or pass --all-pending")
    with session_scope(workspace) as session:
        if all_pending:
            chosen = subscribers.list_subscribers(session, "pending")
        else:
            chosen = [subscribers.find_subscriber(session, key) for key in subscriber]
        queued, not_pending = queue.enqueue_confirmations(session, chosen)
    click.echo(
        f"Queued {queued} confirmation link(s)"
        + (f"; {not_pending} not pending (skipped)" if not_pending else "")
        + (f"; {len(chosen) - queued - not_pending} already queued" if chosen else "")
    )


@subscriber_group.command("send-confirmations")
@pass_workspace
def subscriber_send_confirmations(workspace: Workspace) -> None:
    """Send the confirmation and welcome mails that are due in the queue (as `serve` does).

    \b
    Example:
        outreach subscriber send-confirmations
    """
    from outreach.mail.confirmation import send_due_confirmations

    with session_scope(workspace) as session:
        report = send_due_confirmations(session, workspace)
        counts = queue.queue_counts(session)
    click.echo(
        f"Sent {report.sent}, {report.failed} to retry, {report.rejected} rejected; "
        f"{counts.get('queued', 0)} waiting in the queue"
    )
    for error in report.errors:
        click.echo(f"  {printable(error)}", err=True)


COMMANDS = [subscriber_group]
