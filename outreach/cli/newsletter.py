"""`outreach newsletter compose|preview|test|send|status`: the Kraftsamling update."""

from __future__ import annotations

import signal
import sys
import webbrowser
from typing import Any

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.errors import MailError
from outreach.mail import ledger
from outreach.newsletter import compose
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


def _summary(workspace: Workspace, composed: compose.ComposedEdition) -> None:
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
    size = len(composed.languages["sv"].html.encode("utf-8"))
    limit = workspace.settings.newsletter.max_html_bytes
    click.echo(f"  HTML {size / 1000:.1f} kB of at most {limit / 1000:.0f} kB")


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
    slug = edition or (date.date() if date else compose.today(workspace)).isoformat()
    with session_scope(workspace) as session:
        frozen = compose.is_frozen(session, slug)
    if not frozen:
        composed = _compose(workspace, edition, date, None)
        _summary(workspace, composed)
    paths = compose.write_previews(workspace, slug)
    for path in paths:
        click.echo(workspace.shown(path))
    if open_browser:
        webbrowser.open(paths[0].resolve().as_uri())


@newsletter_group.command("test")
@click.argument("edition")
@click.option(
    "--to", "addresses", multiple=True, required=True, help="Recipient (at most 5; repeatable)."
)
@click.option("--language", type=click.Choice(compose.LANGUAGES), default="sv", show_default=True)
@pass_workspace
def newsletter_test(
    workspace: Workspace, edition: str, addresses: tuple[str, ...], language: str
) -> None:
    """Send a composed edition to up to 5 addresses, '[TEST]' in the subject, sample data.

    The ledger is not touched: a test send never counts as a delivery.

    \b
    Example:
        outreach newsletter test 2023-04-26 --to anna@example.se --to erik@example.org
    """
    results = ledger.send_test(workspace, edition, list(addresses), language)
    failed = [(a, r) for a, r in results if not r.ok]
    for address, result in results:
        state = "sent" if result.ok else f"NOT sent ({result.code} {result.detail})"
        click.echo(f"{address}: {state}")
    if failed:
        raise MailError(f"{len(failed)} of {len(results)} test message(s) not accepted")


def _print_counts(counts: ledger.LedgerCounts) -> None:
    for state in ledger.STATES:
        if counts[state]:
            click.echo(f"  {state:17} {counts[state]:>7}")
    click.echo(
        f"  recipients {counts.recipients} = sent {counts['sent']} + skipped {counts['skipped']} "
        f"+ failed {counts.failed} + uncertain {counts['uncertain']}"
        + (f" + not yet sent {counts.pending}" if counts.pending else "")
    )


@newsletter_group.command("send")
@click.argument("edition")
@click.option(
    "--segment",
    "segments",
    multiple=True,
    help="Only these segments (kommun, civilsamhälle, annat); repeatable. Default: everyone.",
)
@click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Also send to recipients whose delivery is uncertain (they may get it twice).",
)
@click.option(
    "--retry-failed", is_flag=True, help="Try temporary failures again on a finished edition."
)
@pass_workspace
def newsletter_send(
    workspace: Workspace,
    edition: str,
    segments: tuple[str, ...],
    resend_uncertain: bool,
    retry_failed: bool,
) -> None:
    """Send a composed edition to the confirmed subscribers; resumes where it stopped.

    Every recipient gets it once: the ledger records each delivery before and after the SMTP
    transaction. A stopped send resumes with the same command; a finished one sends nothing.

    \b
    Example:
        outreach newsletter send 2023-04-26
        outreach newsletter send 2023-04-26 --segment kommun
    """
    options = ledger.SendOptions(segments, resend_uncertain, retry_failed)
    bar: Any = None
    state = {"shown": 0}

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Sending", file=sys.stderr)
            bar.__enter__()
        bar.update(done - state["shown"])
        state["shown"] = done

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        report = ledger.send_edition(workspace, edition, options, progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.__exit__(None, None, None)
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
    _print_counts(report.counts)
    if report.interrupted:
        click.echo("Interrupted: run the same command to resume.", err=True)
        sys.exit(130)
    if report.paused:
        raise MailError(
            f"paused after {report.paused}; fix the cause and run the same command to resume"
        )


@newsletter_group.command("status")
@click.argument("edition")
@pass_workspace
def newsletter_status(workspace: Workspace, edition: str) -> None:
    """Show an edition's delivery counts by state, its most common errors, bounces, complaints
    and clicks per link.

    \b
    Example:
        outreach newsletter status 2023-04-26
    """
    status = ledger.edition_status(workspace, edition)
    sent = f", sent {status.sent_at:%Y-%m-%d %H:%M} UTC" if status.sent_at else ""
    click.echo(f"Edition {status.slug}: {status.status}{sent}")
    click.echo(f"  subject: {status.subject}")
    click.echo(f"  segments: {', '.join(status.segments) if status.segments else 'all'}")
    _print_counts(status.counts)
    for error, count in status.errors:
        click.echo(f"  {count:>5} × {error}")
    _print_feedback(workspace, edition)


def _print_feedback(workspace: Workspace, slug: str) -> None:
    """Bounces, complaints and clicks per link (counted per edition, never per person)."""
    from outreach.mail.bounces import edition_bounce_counts
    from outreach.newsletter.links import link_clicks

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
    copied = compose.copy_default_templates(workspace, overwrite=force)
    for path in copied:
        click.echo(f"Copied {workspace.shown(path)}")
    if not copied:
        click.echo("templates/ already has every template (use --force to overwrite)")


COMMANDS = [newsletter_group]
