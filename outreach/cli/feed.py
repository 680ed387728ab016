"""`outreach feed build|validate` and `outreach episode import-feed`."""

from __future__ import annotations

import click

from outreach.cli import pass_workspace
from outreach.db import session_scope
from outreach.errors import ConfigError, FeedError, WorkspaceError
from outreach.feed import build as feed_build
from outreach.feed.validate import (
    ImageFetcher,
    Problem,
    errors_in,
    validate_feed,
)
from outreach.fetch import fetch_image, read_source
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
    guests who agreed to be named. It is validated first and not written if it fails.

    \b
    Example:
        outreach feed build
    """
    try:
        with session_scope(workspace) as session:
            report = feed_build.build_feeds(workspace, session)
    except feed_build.FeedInvalidError as exc:
        for warning in exc.warnings:
            click.echo(f"Warning: {warning}", err=True)
        _echo_problems(exc.problems)
        raise
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


def _workspace_path() -> str | None:
    path: str | None = (
        click.get_current_context().find_root().ensure_object(dict).get("workspace_path")
    )
    return path


def _local_images() -> ImageFetcher | None:
    """In a workspace, read our own cover art from disk rather than over the network."""
    try:
        workspace = open_workspace(_workspace_path())
    except (WorkspaceError, ConfigError):
        return None
    return feed_build.local_image_fetcher(workspace)


@feed_group.command("validate")
@click.argument("source", required=False)
@click.option("--no-fetch", is_flag=True, help="Do not download cover art to check its size.")
def feed_validate_command(source: str | None, no_fetch: bool) -> None:
    """Check a podcast feed (FILE or URL; default feeds/podcast.xml) against Apple's rules
    and the Podcasting 2.0 spec. Each problem names the element and how to fix it; exit 1 on
    errors.

    \b
    Example:
        outreach feed validate
        outreach feed validate https://example.org/feeds/podcast.xml
    """
    if source is None:
        built = open_workspace(_workspace_path()).feeds_dir / feed_build.PODCAST_FEED
        if not built.is_file():
            raise FeedError(f"{built} does not exist yet: run 'outreach feed build' first")
        source = str(built)
    data = read_source(source)
    fetch = None
    if not no_fetch:
        local = _local_images()

        def fetch(url: str) -> bytes | None:
            found = local(url) if local is not None else None
            return found if found is not None else fetch_image(url)

    problems = validate_feed(data, fetch=fetch)
    _echo_problems(problems)
    errors = errors_in(problems)
    if errors:
        raise FeedError(
            f"{source}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
        )
    click.echo(f"{source}: valid ({len(problems)} warning(s)).")


COMMANDS = [feed_group]
