"""`outreach subscriber`: add, import, list, show, remove, export, erase."""

from __future__ import annotations

import json
from pathlib import Path

import click

from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8
from outreach.cli import echo_table, pass_workspace
from outreach.db import session_scope
from outreach.fsutil import atomic_write_text
from outreach.subscribers import csv_import, export
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
@click.option("--segment", help="kommun, civilsamhälle or annat.")
@click.option("--language", default="sv", show_default=True, help="sv or en.")
@click.option("--confirmed", is_flag=True, help="Consent was given elsewhere: add as confirmed.")
@click.option("--source", default="cli", show_default=True, help="Where consent came from.")
@pass_workspace
def subscriber_add(
    workspace: Workspace,
    email: str,
    name: str | None,
    organisation: str | None,
    segment: str | None,
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
            segment=segment,
            language=language,
            confirmed=confirmed,
            source=source,
        )
        click.echo(f"Added subscriber {subscriber.id}: {subscriber.email} ({subscriber.status})")
    if needs_smtputf8(subscriber.email or ""):
        click.echo(f"Warning: {subscriber.email}: {SMTPUTF8_REQUIREMENT}", err=True)


@subscriber_group.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--confirmed", is_flag=True, help="The list holds confirmed consent: import as confirmed."
)
@click.option("--source", help="Consent source to record (default: import:FILENAME).")
@pass_workspace
def subscriber_import(
    workspace: Workspace, csv_file: Path, confirmed: bool, source: str | None
) -> None:
    """Import subscribers from a CSV file (comma or semicolon, UTF-8, Swedish or English headers).

    Headers: e-post/email, namn/name, organisation, segment, språk/language. Invalid rows are
    listed with their line numbers; valid rows are imported together. Re-importing changes nothing,
    and never brings back anyone who unsubscribed.

    \b
    Example:
        outreach subscriber import export-från-excel.csv --confirmed --source "anmälan 2023"
    """
    with session_scope(workspace) as session:
        report = csv_import.import_subscribers(
            session, csv_file, confirmed=confirmed, source=source
        )
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for line, reason in report.invalid:
        click.echo(f"{csv_file}:{line}: invalid: {reason}", err=True)
    for line, reason in report.skipped:
        click.echo(f"{csv_file}:{line}: skipped: {reason}", err=True)
    click.echo(
        f"Imported {csv_file}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped, {len(report.invalid)} invalid"
    )


@subscriber_group.command("list")
@click.option("--status", type=click.Choice(subscribers.STATUSES), help="Only this status.")
@click.option("--segment", help="Only this segment.")
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
        rows = [
            {
                "id": s.id,
                "email": s.email,
                "name": s.name,
                "organisation": s.organisation,
                "segment": s.segment,
                "language": s.language,
                "status": s.status,
            }
            for s in subscribers.list_subscribers(session, status, segment)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    headers = ["id", "email", "name", "organisation", "segment", "status"]
    table = [[str(row[h] if row[h] is not None else "") for h in headers] for row in rows]
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
    for key in (
        "id",
        "email",
        "name",
        "organisation",
        "segment",
        "language",
        "status",
        "created_at",
    ):
        click.echo(f"{key:13} {record[key] if record[key] is not None else ''}")
    click.echo("consent:")
    for event in record["consent_events"]:
        click.echo(f"  {event['at']}  {event['action']:12} {event['source']}")


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


COMMANDS = [subscriber_group]
