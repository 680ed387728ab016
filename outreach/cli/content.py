"""`outreach call|event|recording add|list|remove` and `outreach content import`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.newsletter import content
from outreach.timeutil import zone
from outreach.workspace import Workspace

_OPTIONS: dict[str, list[tuple[str, str]]] = {
    "call": [
        ("funder", "Who funds it, e.g. Vinnova."),
        ("opens", "Opening date, YYYY-MM-DD."),
        ("closes", "Last day to apply (sista ansökningsdag), YYYY-MM-DD."),
        ("amount", "Amount, e.g. 'upp till 600 000 kr'."),
        ("url", "Link to the call."),
        ("audience", "Who can apply."),
        ("summary", "A short description."),
    ],
    "event": [
        ("starts", "Start, 'YYYY-MM-DD HH:MM' local time."),
        ("ends", "End, 'YYYY-MM-DD HH:MM' local time."),
        ("location", "Place (or give --online-url)."),
        ("online-url", "Link for online events."),
        ("registration-url", "Registration link."),
        ("summary", "A short description."),
    ],
    "recording": [
        ("url", "Link to the recording."),
        ("recorded", "Date of the event, YYYY-MM-DD."),
        ("summary", "A short description."),
    ],
}
_ARTICLE = {"call": "a call", "event": "an event", "recording": "a recording"}
_HELP = {
    "call": (
        "Funding calls (utlysningar) for the newsletter.",
        'call add "Starta er AI-resa" --funder Vinnova --opens 2023-04-27 --closes 2023-09-12',
    ),
    "event": (
        "Upcoming events for the newsletter and the calendar feed.",
        "event add "
        '"Inspirationsträff" --starts "2023-05-04 10:00" --ends "2023-05-04 12:00" '
        "--location Online",
    ),
    "recording": (
        "Recordings of past events.",
        'recording add "Webbinarium" --url https://example.org/play --recorded 2023-01-18',
    ),
}


def _describe(kind: str, item: Any, tz: Any) -> str:
    if kind == "call":
        when = f"{item.opens or '…'} – {item.closes or '…'}"
    elif kind == "event":
        when = item.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    else:
        when = str(item.recorded or "")
    return f"{item.id:>4}  {when:23}  {item.title}"


def make_group(kind: str) -> click.Group:
    """The add/list/remove group for one kind of content (the three differ only in fields)."""
    summary, example = _HELP[kind]

    group = click.Group(kind, help=f"{summary}\n\n\b\nExample:\n    outreach {example}")

    def add(workspace: Workspace, title: str, **values: Any) -> None:
        tz = zone(workspace.settings.newsletter.timezone)
        fields = {k: v for k, v in values.items() if v is not None}
        with session_scope(workspace) as session:
            item = content.add_item(session, kind, {"title": title, **fields}, tz)
            click.echo(f"Added {kind} {item.id}: {item.title}")

    add.__doc__ = f"Add {_ARTICLE[kind]}.\n\n\b\nExample:\n    outreach {example}"
    command = pass_workspace(add)
    for name, text in reversed(_OPTIONS[kind]):
        command = click.option(f"--{name}", help=text)(command)
    group.add_command(click.command("add")(click.argument("title")(command)))

    def list_(workspace: Workspace) -> None:
        tz = zone(workspace.settings.newsletter.timezone)
        with session_scope(workspace) as session:
            items = content.list_items(session, kind)
            for item in items:
                click.echo(_describe(kind, item, tz))
        click.echo(f"{len(items)} {kind}(s)")

    list_.__doc__ = f"List all {kind}s.\n\n\b\nExample:\n    outreach {kind} list"
    group.add_command(click.command("list")(pass_workspace(list_)))

    def remove(workspace: Workspace, item_id: int) -> None:
        with session_scope(workspace) as session:
            item = content.remove_item(session, kind, item_id)
            click.echo(f"Removed {kind} {item_id}: {item.title}")

    remove.__doc__ = f"Remove {_ARTICLE[kind]} by id.\n\n\b\nExample:\n    outreach {kind} remove 3"
    group.add_command(
        click.command("remove")(click.argument("item_id", type=int)(pass_workspace(remove)))
    )
    return group


@click.group("content")
def content_group() -> None:
    """Newsletter content in bulk.

    \b
    Example:
        outreach content import newsletters/sample-content.yaml
    """


@content_group.command("import")
@click.argument("yaml_file", type=click.Path(dir_okay=False, path_type=Path))
@pass_workspace
def content_import(workspace: Workspace, yaml_file: Path) -> None:
    """Import calls, events and recordings from one YAML file (all or nothing).

    The file has top-level lists `calls`, `events` and `recordings` with the same fields as the
    add commands (online_url, registration_url with underscores). Items already stored are skipped.

    \b
    Example:
        outreach content import newsletters/sample-content.yaml
    """
    tz = zone(workspace.settings.newsletter.timezone)
    with session_scope(workspace) as session:
        report = content.import_content(session, yaml_file, tz)
    parts = [
        f"{report.added[k]} {k}(s) added, {report.unchanged[k]} unchanged" for k in report.added
    ]
    click.echo(f"Imported {yaml_file}: " + "; ".join(parts))


COMMANDS = [make_group("call"), make_group("event"), make_group("recording"), content_group]
