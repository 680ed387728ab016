"""`outreach init` and `outreach db`: create a workspace, migrate its database."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from outreach.cli import pass_workspace
from outreach.db import upgrade_database
from outreach.feed.cover import ensure_default_cover
from outreach.secrets import create_key_file, default_key_path, read_secret
from outreach.workspace import Workspace, init_workspace


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option(
    "--create-key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create the signing key in this file (mode 600, outside the workspace) without asking.",
)
def workspace_init(directory: Path, key_path: Path | None) -> None:
    """Create a workspace: outreach.toml, the content folders, the database and a
    placeholder show cover (the title on a plain colour), so every feed builds at once.

    Links in mail are signed with a key kept outside the workspace. On a terminal, init offers
    to create one (in ~/.config/outreach/); --create-key PATH does it without asking. The next
    steps name the file in OUTREACH_SECRET_KEY_FILE. Running init again on an existing workspace
    changes nothing but migrating the database (an existing key file is kept).

    \b
    Example:
        outreach init kraftsamling
        outreach init kraftsamling --create-key /etc/outreach/kraftsamling.key
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
    if key_path is None and not read_secret("OUTREACH_SECRET_KEY"):
        suggested = default_key_path(workspace.root)
        interactive = sys.stdin.isatty()
        if interactive and click.confirm(
            f"Create a signing key for links in mail in {suggested}?", default=True
        ):
            key_path = suggested
    if key_path is not None:
        created = create_key_file(key_path, workspace.root)
        key_path = key_path.expanduser().resolve()
        click.echo(f"  signing key: {key_path} ({'created' if created else 'kept, it exists'})")
    click.echo("Next steps:")
    if key_path is not None:
        click.echo(f"  export OUTREACH_SECRET_KEY_FILE={shlex.quote(str(key_path))}")
    elif not read_secret("OUTREACH_SECRET_KEY"):
        click.echo(
            "  create a signing key: outreach init "
            f"{shlex.quote(str(directory))} --create-key ~/.config/outreach/"
            f"{workspace.root.name}.key, then export OUTREACH_SECRET_KEY_FILE=<that file>"
        )
    click.echo(f"  cd {shlex.quote(str(directory))} && outreach content import innehall.yaml")


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
