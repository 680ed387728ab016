"""`outreach transcript ...`: list, show, export and publish transcript versions."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from outreach.cli import pass_workspace, printable
from outreach.db import session_scope
from outreach.fsutil import atomic_write_text
from outreach.models import Transcript
from outreach.podcast import episodes, transcripts
from outreach.timeutil import clock
from outreach.transcription import Segment
from outreach.transcription.formats import EXPORT_FORMATS, in_time_order
from outreach.workspace import Workspace


@click.group("transcript")
def transcript_group() -> None:
    """Transcript versions of episodes: read, export and publish them.

    \b
    Example:
        outreach transcript list samtal-om-ai-i-kommunen
        outreach transcript show samtal-om-ai-i-kommunen --version 1
    """


@transcript_group.command("list")
@click.argument("slug")
@pass_workspace
def transcript_list(workspace: Workspace, slug: str) -> None:
    """List an episode's transcript versions (newest last).

    \b
    Example:
        outreach transcript list samtal-om-ai-i-kommunen
    """
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, slug)
        versions = transcripts.list_versions(session, episode)
        publishable = transcripts.publishable_version(
            session, episode, review_enabled=workspace.settings.review.enabled
        )
        if not versions:
            click.echo(f"{slug} has no transcript yet; run 'outreach episode transcribe {slug}'")
            return
        click.echo(f"{'version':>7}  {'created (UTC)':<16}  {'segments':>8}  {'words':>6}  source")
        for t in versions:
            marks = []
            if t.accepted_at is not None:
                marks.append("accepted")
            if publishable is not None and t.id == publishable.id:
                marks.append("publishable")
            source = t.author if t.engine is None else f"{t.engine} {t.model}"
            suffix = f"  [{', '.join(marks)}]" if marks else ""
            words = sum(len(s.get("words") or []) for s in t.segments)
            created = t.created_at.strftime("%Y-%m-%d %H:%M")
            click.echo(
                f"{t.version:>7}  {created:<16}  {len(t.segments):>8}  {words:>6}  {source}{suffix}"
            )


def _version_option(f):
    return click.option(
        "--version", "version", type=int, help="Version number (default: the latest)."
    )(f)


@transcript_group.command("show")
@click.argument("slug")
@_version_option
@pass_workspace
def transcript_show(workspace: Workspace, slug: str, version: int | None) -> None:
    """Print a transcript version with times and speakers.

    \b
    Example:
        outreach transcript show samtal-om-ai-i-kommunen
        outreach transcript show samtal-om-ai-i-kommunen --version 2
    """
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, slug)
        transcript = transcripts.get_version(session, episode, version)
        click.echo(
            f"# {episode.title}: transcript version {transcript.version} ({_origin(transcript)})"
        )
        for segment in in_time_order(cast(list[Segment], transcript.segments)):
            stamp = clock(float(segment["start"]), always_hours=True)
            speaker = f"{segment['speaker']}: " if segment.get("speaker") else ""
            click.echo(printable(f"[{stamp}] {speaker}{segment['text']}"))


@transcript_group.command("export")
@click.argument("slug")
@_version_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*EXPORT_FORMATS, "all"]),
    default="all",
    show_default=True,
    help="Export format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="File for one format ('-' or none: stdout), folder for all (default: the draft folder).",
)
@pass_workspace
def transcript_export(
    workspace: Workspace, slug: str, version: int | None, fmt: str, output: Path | None
) -> None:
    """Export a transcript version as WebVTT, SRT, Podcasting 2.0 JSON, text or HTML.

    \b
    Example:
        outreach transcript export samtal-om-ai-i-kommunen --format vtt > avsnitt.vtt
        outreach transcript export samtal-om-ai-i-kommunen --version 1 -o export/
    """
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, slug)
        transcript = transcripts.get_version(session, episode, version)
        if fmt == "all" and output is None:
            folder = transcripts.write_draft_exports(workspace, episode, transcript)
            click.echo(f"Wrote {len(EXPORT_FORMATS)} files to {workspace.shown(folder)}/")
            return
        rendered = transcripts.render_version(episode, transcript)
    if fmt != "all":
        if output is None or str(output) == "-":
            click.echo(rendered[fmt], nl=False)
        else:
            atomic_write_text(output, rendered[fmt])
            click.echo(f"Wrote {output}", err=True)
        return
    assert output is not None
    if output.exists() and not output.is_dir():
        raise click.BadParameter(
            f"{output} is a file; give a folder for --format all", param_hint="--output"
        )
    for name, text in rendered.items():
        atomic_write_text(output / f"{slug}.{name}", text)
    click.echo(f"Wrote {len(rendered)} files to {output}/")


@transcript_group.command("publish")
@click.argument("slug")
@pass_workspace
def transcript_publish(workspace: Workspace, slug: str) -> None:
    """Refresh the public exports from the publishable version (or remove stale ones).

    The publishable version is the accepted one, or the latest with [review] enabled = false.

    \b
    Example:
        outreach transcript publish samtal-om-ai-i-kommunen
    """
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, slug)
        written = transcripts.publish_exports(session, workspace, episode)
    if written:
        click.echo(f"Published {len(written)} files to {workspace.shown(written[0].parent)}/")
    else:
        click.echo(f"{slug} has no publishable transcript; public exports removed.")


def _origin(transcript: Transcript) -> str:
    if transcript.engine:
        return f"{transcript.engine}, model {transcript.model}"
    return f"by {transcript.author}"


COMMANDS = [transcript_group]
