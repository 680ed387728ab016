"""`outreach episode import-feed`: move a show in from its RSS feed (the feed importer's CLI face;
`outreach.cli.episode` adds it to the episode group)."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.errors import ValidationError
from outreach.feed import importer as feed_import
from outreach.fetch import source_file
from outreach.workspace import Workspace


@click.command("import-feed")
@click.argument("source")
@click.option(
    "--download", is_flag=True, help="Also download each episode's audio and the artwork."
)
@click.option(
    "--yes", is_flag=True, help="Write the show's settings to outreach.toml without asking."
)
@click.option("--keep-settings", is_flag=True, help="Leave outreach.toml as it is.")
@click.option(
    "--force",
    is_flag=True,
    help="Import a feed marked <podcast:locked>yes</podcast:locked> (only for your own show).",
)
@pass_workspace
def episode_import_feed(
    workspace: Workspace, source: str, download: bool, yes: bool, keep_settings: bool, force: bool
) -> None:
    """Move an existing show in from its RSS feed (FILE or URL).

    Episodes keep their GUIDs, dates, titles, descriptions (as HTML), durations, media type,
    links, artwork, people, transcript and chapters links and other Podcasting 2.0 tags; they
    are added as published. Episodes already present (same GUID) are left as they are, so
    importing again adds only new ones (with --download it also fetches media that an earlier
    import left on the old host). The show's podcast:guid is kept for ever, so apps see the
    same show. The show's settings (title, description, language, artwork, category, author,
    owner, explicit, type, funding, persons) are shown as a diff against outreach.toml and
    written after you confirm, or at once with --yes; --keep-settings leaves them. A feed its
    owner has locked is refused; --force is for the owner moving their own show.

    \b
    Example:
        outreach episode import-feed https://old-host.example/feed.xml --download --yes
    """
    if yes and keep_settings:
        raise click.UsageError("give --yes or --keep-settings, not both")
    if not (yes or keep_settings) and not _has_terminal():
        raise ValidationError(
            "import-feed may change the show settings in outreach.toml and there is no terminal "
            "to ask: pass --yes to write them or --keep-settings to leave them"
        )
    is_url = source.lower().startswith(("http://", "https://"))
    options = feed_import.ImportOptions(
        source_url=source if is_url else None, download_audio=download, force=force
    )
    with (
        source_file(source) as path,
        session_scope(workspace) as session,
        click.progressbar(
            length=max(1, path.stat().st_size), label="Reading the feed", file=sys.stderr
        ) as bar,
    ):
        result = feed_import.import_feed(session, workspace, path, options, on_bytes=bar.update)
    report = result.report
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for skipped in report.skipped:
        click.echo(f"Skipped: {skipped}", err=True)
    click.echo(
        f"Imported {len(report.added)} new episode(s) from {result.show.title or source}; "
        f"{len(report.existing)} already present, {len(report.skipped)} skipped."
        + (f" Downloaded audio for {len(report.downloaded)}." if download else "")
    )
    if not keep_settings:
        _adopt_show_settings(workspace, result.show, download=download, confirmed=yes)


def _downloaded(done: int, total: int) -> None:
    # Downloads run after the feed is read (the reading bar is full by then): a line now and then.
    if done == 1 or done == total or done % 25 == 0:
        click.echo(f"Downloading media: {done}/{total}", err=True)


def _has_terminal() -> bool:
    return sys.stdin.isatty()


def _adopt_show_settings(
    workspace: Workspace, show: feed_import.ShowInfo, *, download: bool, confirmed: bool
) -> None:
    changes = feed_import.settings_changes(workspace, show)
    if not changes:
        click.echo("The show settings in outreach.toml already match the feed.")
        return
    click.echo(
        f"Show settings from the feed ([show] in {workspace.shown(workspace.settings_path)}):"
    )
    for change in changes:
        click.echo(f"  {change.key}: {change.old!r} -> {change.new!r}")
    if not confirmed and not click.confirm("Write these settings?", default=True):
        click.echo("Settings left as they were.")
        return
    cover = next((c for c in changes if c.key == "cover"), None)
    if cover is not None and download:
        value, warning = feed_import.download_artwork(workspace, cover.new)
        if warning:
            click.echo(f"Warning: {warning}", err=True)
        changes = [c if c.key != "cover" else replace(c, new=value) for c in changes]
    feed_import.write_show_settings(workspace, changes)
    click.echo(
        f"Wrote {len(changes)} show setting(s) to {workspace.shown(workspace.settings_path)}."
    )
