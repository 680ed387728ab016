"""`outreach newsletter compose|preview|test|send|status`: the Kraftsamling update."""

from __future__ import annotations

import webbrowser
from typing import Any

import click

from outreach.cli import pass_workspace
from outreach.cli.newsletter_send import COMMANDS as SEND_COMMANDS
from outreach.cli.newsletter_send import print_counts
from outreach.db import session_scope
from outreach.mail import ledger, schedule
from outreach.mail.bounces import edition_bounce_counts
from outreach.newsletter import compose, render
from outreach.newsletter import edition as editions
from outreach.newsletter.links import link_clicks
from outreach.newsletter.personalize import DEFAULT_LANGUAGE, LANGUAGES
from outreach.timeutil import zone
from outreach.workspace import Workspace

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("newsletter")
def newsletter_group() -> None:
    """The Kraftsamling update: compose, preview, test and send an edition.

    \b
    Example:
        outreach newsletter compose 2023-04-26
        outreach newsletter test 2023-04-26 --to redaktion@example.org
        outreach newsletter send 2023-04-26
    """


def _compose(workspace: Workspace, edition: str | None, date: Any, subject: str | None) -> Any:
    day = date.date() if date else None
    with session_scope(workspace) as session:
        return compose.compose_edition(session, workspace, edition, day, subject=subject)


def _summary(workspace: Workspace, composed: render.ComposedEdition) -> None:
    counts = composed.content.counts()
    since = composed.content.previous_date
    click.echo(f"Edition {composed.slug} ({composed.edition_date}): {composed.subject}")
    click.echo(
        f"  {counts['calls']} call(s), {counts['events']} event(s), {counts['recordings']} "
        f"recording(s), {counts['episodes']} episode(s)"
        + (f" (new since the edition of {since})" if since else "")
    )
    if not composed.intro_found:
        click.echo(
            f"  no intro: write {workspace.shown(composed.directory / 'intro.md')} (Markdown)"
        )
    for language in LANGUAGES:
        if language in composed.languages:
            click.echo(f"  subject ({language}): {composed.languages[language].subject}")
        else:
            click.echo(
                f"  no intro.{language}.md: '{language}' subscribers get the "
                f"'{DEFAULT_LANGUAGE}' edition"
            )
    size = len(composed.languages[DEFAULT_LANGUAGE].html.encode("utf-8"))
    limit = workspace.settings.newsletter.max_html_bytes
    click.echo(f"  HTML {size / 1000:.1f} kB of at most {limit / 1000:.0f} kB")
    for warning in composed.warnings:
        click.echo(f"Warning: {warning}", err=True)


@newsletter_group.command("compose")
@click.argument("edition", required=False)
@click.option("--date", type=DATE, help="Edition date, YYYY-MM-DD (default: the EDITION name).")
@click.option("--subject", help="Subject line (default: the intro's '# heading').")
@pass_workspace
def newsletter_compose(
    workspace: Workspace, edition: str | None, date: Any, subject: str | None
) -> None:
    """Select the content for an edition and render it (MJML once) into newsletters/EDITION/.

    EDITION defaults to the date (YYYY-MM-DD, default today). Writes email.mjml, email.html,
    email.txt (and email.en.* for English subscribers), index.html (the web archive page) and
    edition.json. The editor's text is newsletters/EDITION/intro.md.

    \b
    Example:
        outreach newsletter compose 2023-04-26
        outreach newsletter compose maj-extra --date 2023-05-20 --subject "Extra: ny utlysning"
    """
    composed = _compose(workspace, edition, date, subject)
    _summary(workspace, composed)
    click.echo(f"Wrote {len(composed.files)} files to {workspace.shown(composed.directory)}/")


@newsletter_group.command("preview")
@click.argument("edition", required=False)
@click.option("--date", type=DATE, help="Edition date, YYYY-MM-DD (default: the EDITION name).")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a browser.")
@pass_workspace
def newsletter_preview(
    workspace: Workspace, edition: str | None, date: Any, open_browser: bool
) -> None:
    """Compose an edition and write a preview with sample subscriber data; print the paths.

    An edition that has started sending is not composed again: its files are shown as sent.

    \b
    Example:
        outreach newsletter preview 2023-04-26 --open
    """
    slug = edition or (date.date() if date else editions.today(workspace)).isoformat()
    with session_scope(workspace) as session:
        frozen = editions.is_frozen(session, slug)
    if not frozen:
        composed = _compose(workspace, edition, date, None)
        _summary(workspace, composed)
    paths = editions.write_previews(workspace, slug)
    for path in paths:
        click.echo(workspace.shown(path))
    if open_browser:
        webbrowser.open(paths[0].resolve().as_uri())


@newsletter_group.command("status")
@click.argument("edition", required=False)
@pass_workspace
def newsletter_status(workspace: Workspace, edition: str | None) -> None:
    """Show an edition's schedule, delivery counts by state, most common errors, bounces,
    complaints and clicks per link.

    Without EDITION: the scheduled sends that have not gone out yet.

    \b
    Example:
        outreach newsletter status 2023-04-26
        outreach newsletter status
    """
    tz = zone(workspace.settings.newsletter.timezone)
    if edition is None:
        _print_schedule(workspace)
        return
    status = ledger.edition_status(workspace, edition)
    sent = f", sent {status.sent_at:%Y-%m-%d %H:%M} UTC" if status.sent_at else ""
    click.echo(f"Edition {status.slug}: {status.status}{sent}")
    click.echo(f"  subject: {status.subject}")
    click.echo(f"  segments: {', '.join(status.segments) if status.segments else 'all'}")
    if status.scheduled_at:
        click.echo(f"  scheduled: {status.scheduled_at.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})")
    if status.schedule_note:
        click.echo(f"  schedule note: {status.schedule_note}")
    print_counts(status.counts)
    for error, number in status.errors:
        click.echo(f"  {number:>5} × {error}")
    _print_feedback(workspace, edition)


def _print_feedback(workspace: Workspace, slug: str) -> None:
    """Bounces, complaints and clicks per link (counted per edition, never per person)."""
    with session_scope(workspace) as session:
        bounces = edition_bounce_counts(session, slug)
        clicks = link_clicks(session, slug)
    click.echo(
        f"  bounces: {bounces['hard']} hard, {bounces['soft']} soft; "
        f"complaints: {bounces['complaint']}"
    )
    if clicks:
        click.echo(f"  clicks per link ({sum(c for _, _, c in clicks)} in all):")
        for position, url, count in clicks:
            click.echo(f"  {count:>7}  {position:>2}. {url}")


def _print_schedule(workspace: Workspace) -> None:
    tz = zone(workspace.settings.newsletter.timezone)
    with session_scope(workspace) as session:
        pending = schedule.scheduled_editions(session)
    if not pending:
        click.echo("No scheduled sends.")
    for item in pending:
        segments = ", ".join(item.segments) if item.segments else "all"
        click.echo(
            f"{item.at.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})  {item.slug}  [{item.status}, "
            f"segments: {segments}]  {item.subject}" + (f"  ({item.note})" if item.note else "")
        )


@newsletter_group.command("templates")
@click.option("--force", is_flag=True, help="Overwrite templates already in templates/.")
@pass_workspace
def newsletter_templates(workspace: Workspace, force: bool) -> None:
    """Copy the default newsletter templates into templates/ to edit them.

    The workspace's copies override the defaults shipped with outreach; delete a copy to go back.

    \b
    Example:
        outreach newsletter templates
    """
    copied = render.copy_default_templates(workspace, overwrite=force)
    for path in copied:
        click.echo(f"Copied {workspace.shown(path)}")
    if not copied:
        click.echo("templates/ already has every template (use --force to overwrite)")


for _command in SEND_COMMANDS:
    newsletter_group.add_command(_command)

COMMANDS = [newsletter_group]
