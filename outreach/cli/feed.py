"""`outreach feed build|validate`."""

from __future__ import annotations

import json

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.errors import ConfigError, FeedError, WorkspaceError
from outreach.feed import build as feed_build
from outreach.feed.validate import (
    Problem,
    errors_in,
)
from outreach.workspace import Workspace, open_workspace


def _echo_problems(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"  {problem}", err=True)


@click.group("feed")
def feed_group() -> None:
    """The podcast feed, the newsletter feed and the events calendar (feeds/).

    \b
    Example:
        outreach feed build
        outreach feed validate feeds/podcast.xml
    """


@feed_group.command("build")
@pass_workspace
def feed_build_command(workspace: Workspace) -> None:
    """Write feeds/podcast.xml, feeds/nyhetsbrev.xml and feeds/evenemang.ics.

    The podcast feed lists the published episodes with their transcripts, chapters and the
    guests who agreed to be named. It is validated first: warnings are printed and the feed is
    written; only errors that would break podcast apps keep it from being written. Each feed
    is built on its own, so a podcast feed that cannot be built does not stop the newsletter
    feed or the calendar (the command then exits 1).

    \b
    Example:
        outreach feed build
    """
    with session_scope(workspace) as session:
        report = feed_build.build_feeds(session, workspace)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    _echo_problems(report.problems)
    for path in report.removed:
        click.echo(f"Removed {workspace.shown(path)} (no published episodes)")
    for path in report.written:
        click.echo(f"Wrote {workspace.shown(path)}")
    click.echo(
        f"{report.episodes} episode(s), {report.editions} sent edition(s), "
        f"{report.events} upcoming event(s)."
    )
    if report.failed:
        for failure in report.failed[1:]:
            click.echo(f"Error: {failure.message}", err=True)
        raise FeedError(report.failed[0].message)


def _workspace_path() -> str | None:
    path: str | None = (
        click.get_current_context().find_root().ensure_object(dict).get("workspace_path")
    )
    return path


def _workspace_or_none() -> Workspace | None:
    """The workspace when there is one (its cover art is read from disk, not the network)."""
    try:
        return open_workspace(_workspace_path())
    except (WorkspaceError, ConfigError):
        return None


@feed_group.command("validate")
@click.argument("source", required=False)
@click.option("--no-fetch", is_flag=True, help="Do not download cover art to check its size.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable report (for CI) on stdout."
)
def feed_validate_command(source: str | None, no_fetch: bool, as_json: bool) -> None:
    """Check a podcast feed (FILE or URL; default feeds/podcast.xml) against Apple's rules
    and the Podcasting 2.0 spec. Each problem names the element, the rule and how to fix it;
    exit 1 on errors (warnings break no app). --json prints {"source", "valid", "errors",
    "warnings", "problems": [{"level", "rule", "where", "message", "fix"}]}.

    \b
    Example:
        outreach feed validate
        outreach feed validate https://example.org/feeds/podcast.xml --json
    """
    workspace = _workspace_or_none()
    if source is None and workspace is None:
        open_workspace(_workspace_path())  # says why there is no workspace, in one line
    source, problems = feed_build.validate_source(workspace, source, fetch_images=not no_fetch)
    errors = errors_in(problems)
    if as_json:
        report = {
            "source": source,
            "valid": not errors,
            "errors": len(errors),
            "warnings": len(problems) - len(errors),
            "problems": [problem.as_json() for problem in problems],
        }
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _echo_problems(problems)
    if errors:
        raise FeedError(
            f"{source}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
        )
    if not as_json:
        click.echo(f"{source}: valid ({len(problems)} warning(s)).")


COMMANDS = [feed_group]
