"""`outreach init` and `outreach db`: create a workspace, migrate its database."""

from __future__ import annotations

from pathlib import Path

import click

from outreach.cli import pass_workspace
from outreach.db import upgrade_database
from outreach.feed.cover import ensure_default_cover
from outreach.workspace import Workspace, init_workspace


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def workspace_init(directory: Path) -> None:
    """Create a workspace: outreach.toml, the content folders, the database and a
    placeholder show cover (the title on a plain colour), so every feed builds at once.

    Running it again on an existing workspace changes nothing but migrating the database.

    \b
    Example:
        outreach init kraftsamling
    """
    workspace = init_workspace(directory)
    show = workspace.settings.show
    if show.cover and not show.cover.startswith(("http://", "https://")):
        cover = workspace.path(show.cover)
        if ensure_default_cover(cover, show.title):
            click.echo(
                f"  placeholder cover: {workspace.shown(cover)} (replace it with the real art)"
            )
    click.echo(f"Workspace ready in {workspace.root}")
    click.echo(f"  settings: {workspace.settings_path}")
    click.echo(f"  database: {workspace.database_url}")


@click.group("db")
def db_group() -> None:
    """The workspace database (SQLite by default, or OUTREACH_DATABASE_URL).

    \b
    Example:
        outreach db upgrade
    """


@db_group.command("upgrade")
@pass_workspace
def db_upgrade(workspace: Workspace) -> None:
    """Apply database migrations (also done automatically by every command).

    \b
    Example:
        OUTREACH_DATABASE_URL=postgresql+psycopg://localhost/outreach outreach db upgrade
    """
    upgrade_database(workspace.database_url)
    click.echo("Database is up to date.")


COMMANDS = [workspace_init, db_group]
