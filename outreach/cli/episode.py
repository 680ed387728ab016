"""`outreach episode ...`: podcast episodes (add, list, show, normalize, transcribe, check, publish,
unpublish; import-feed is in `episode_import`, added to this group)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from outreach.cli import echo_table, pass_workspace
from outreach.cli.episode_import import episode_import_feed
from outreach.db import session_scope
from outreach.errors import ValidationError
from outreach.podcast import episodes, people, publishing, transcripts
from outreach.workspace import Workspace

AudioPath = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("episode")
def episode_group() -> None:
    """Podcast episodes of Digitalsamtal.

    \b
    Example:
        outreach episode add samtal.wav --title "Möte i Umeå" --guest "Karin Ek <karin@umea.se>"
        outreach episode normalize mote-i-umea
        outreach episode list
    """


@episode_group.command("add")
@click.argument("audio", nargs=-1, required=True, type=AudioPath)
@click.option("--title", required=True, help="Episode title (the slug is made from it).")
@click.option("--slug", help="ASCII slug instead of the one made from the title.")
@click.option("--number", type=click.IntRange(min=0), help="Episode number.")
@click.option("--season", type=click.IntRange(min=1), help="Season number.")
@click.option("--published", help="Publication date, YYYY-MM-DD (06:00 local) or ISO date-time.")
@click.option(
    "--summary", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Text file."
)
@click.option("--host", "hosts", multiple=True, help='"Namn <e-post>"; default: [show] hosts.')
@click.option("--guest", "guests", multiple=True, help='"Namn <e-post>" (repeat per guest).')
@click.option(
    "--named", multiple=True, help="Guest (name or e-mail) who agreed to be named in the feed."
)
@click.option("--speaker", "speakers", multiple=True, help="Speaker of each file, in order.")
@click.option("--mix", type=AudioPath, help="Mixed file of a multitrack recording.")
@click.option(
    "--cover", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Square art."
)
@click.option(
    "--chapters",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Podcasting 2.0 JSON chapters.",
)
@pass_workspace
def episode_add(
    workspace: Workspace,
    audio: tuple[Path, ...],
    title: str,
    slug: str | None,
    number: int | None,
    season: int | None,
    published: str | None,
    summary: Path | None,
    hosts: tuple[str, ...],
    guests: tuple[str, ...],
    named: tuple[str, ...],
    speakers: tuple[str, ...],
    mix: Path | None,
    cover: Path | None,
    chapters: Path | None,
) -> None:
    """Add an episode: copy its audio in (the originals are never changed) and give it a GUID.

    Several AUDIO files are one multitrack recording, one file per speaker. Each track is
    labelled by --speaker (in order), else by the hosts and then the guests in the order given.
    Normalising sums the tracks, unless --mix gives the mixed file. Every file is decoded in
    full first: if any is not audio, is corrupt or is empty, nothing is added.

    \b
    Example:
        outreach episode add jonatan.wav karin.wav --mix mix.wav --title "Möte i Umeå" \\
            --number 12 --host "Jonatan Lind" --guest "Karin Ek <karin@umea.se>" \\
            --named karin@umea.se --cover omslag.jpg --chapters chapters.json
    """
    settings = workspace.settings
    host_specs, guest_specs = people.from_options(hosts, guests, named, settings.show.hosts)
    when = people.parse_published(published, settings.newsletter.timezone) if published else None
    text = None
    if summary is not None:
        try:
            text = summary.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{summary}: not UTF-8 text") from None
    with session_scope(workspace) as session:
        episode = episodes.add_episode(
            session,
            workspace,
            list(audio),
            title=title,
            slug=slug,
            number=number,
            season=season,
            published=when,
            summary=text,
            hosts=host_specs,
            guests=guest_specs,
            speakers=speakers,
            cover=cover,
            chapters=chapters,
            mix=mix,
            language=settings.show.language,
        )
        tracks = len(episode.tracks)
        click.echo(
            f"Added episode {episode.slug} ({tracks} track{'s' if tracks > 1 else ''}), "
            f"guid {episode.guid}"
        )
        click.echo(f"Next: outreach episode normalize {episode.slug}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


@episode_group.command("list")
@click.option("--status", type=click.Choice(episodes.STATUSES), help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_workspace
def episode_list(workspace: Workspace, status: str | None, as_json: bool) -> None:
    """List episodes with status, length and loudness.

    \b
    Example:
        outreach episode list --status published
    """
    with session_scope(workspace) as session:
        rows = [episodes.episode_row(e) for e in episodes.list_episodes(session, status)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    headers = ["slug", "no", "status", "length", "LUFS", "title"]
    table = [
        [
            r["slug"],
            "" if r["number"] is None else str(r["number"]),
            r["status"],
            _duration(r["duration_seconds"]),
            "" if r["loudness_lufs"] is None else f"{r['loudness_lufs']:.1f}",
            r["title"],
        ]
        for r in rows
    ]
    echo_table(headers, table)
    click.echo(f"{len(table)} episode(s)")


@episode_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_workspace
def episode_show(workspace: Workspace, slug: str, as_json: bool) -> None:
    """Show one episode: GUID, files, tracks, people and loudness.

    \b
    Example:
        outreach episode show mote-i-umea
    """
    with session_scope(workspace) as session:
        data = episodes.episode_details(workspace, episodes.get_episode(session, slug))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['title']}  ({data['slug']}, {data['status']})")
    for key in ("guid", "number", "season", "published_at", "audio", "cover", "chapters", "mix"):
        if data[key] is not None:
            click.echo(f"  {key}: {data[key]}")
    if data["duration_seconds"] is not None:
        click.echo(
            f"  length: {_duration(data['duration_seconds'])}, {data['byte_size']} bytes; "
            f"{data['loudness_lufs']} LUFS, true peak {data['true_peak_dbtp']} dBTP, "
            f"LRA {data['loudness_range_lu']} LU"
        )
    for t in data["tracks"]:
        click.echo(f"  track {t['position']}: {t['path']}  speaker: {t['speaker'] or '-'}")
    for p in data["people"]:
        email = f" <{p['email']}>" if p["email"] else ""
        consent = "may be named" if p["consent_named"] else "not named in the feed"
        click.echo(f"  {p['role']}: {p['name']}{email}  ({consent})")
    if data["summary"]:
        click.echo(f"  summary: {data['summary']}")


class _StepBars:
    """A percentage bar on stderr for each pass of the normalisation ("pass 2: encoding").

    Not on a terminal (a log, a pipe) click's bar prints only its label, so every quarter is
    written as a line instead.
    """

    def __init__(self) -> None:
        self.step: str | None = None
        self.bar: Any = None
        self.passes = 0
        self.done = 0
        self.tty = sys.stderr.isatty()

    def __call__(self, step: str, done: float, total: float) -> None:
        if step != self.step:
            self.close()
            self.step, self.done, self.passes = step, 0, self.passes + 1
            label = f"pass {self.passes}: {step}"
            self.bar = click.progressbar(length=1000, label=f"{label:<30}", file=sys.stderr)
            self.bar.__enter__()
        now = min(1000, round(1000 * done / total)) if total > 0 else 0
        if now <= self.done:
            return
        if self.tty:
            self.bar.update(now - self.done)
        elif now // 250 > self.done // 250:
            click.echo(f"pass {self.passes}: {step} {now // 10}%", err=True)
        self.done = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@episode_group.command("normalize")
@click.argument("slug")
@pass_workspace
def episode_normalize(workspace: Workspace, slug: str) -> None:
    """Normalise loudness (BS.1770, [audio] targets) and encode <slug>.mp3 with tags and chapters.

    Measures the source, applies one static gain and a true-peak limiter (the loudness range is
    kept), encodes MP3, then measures the encoded file again and prints both. Safe to re-run:
    the MP3 is replaced atomically.

    \b
    Example:
        outreach episode normalize mote-i-umea
    """
    bars = _StepBars()
    with session_scope(workspace) as session:
        try:
            report = episodes.normalize_episode(session, workspace, slug, progress=bars)
        finally:
            bars.close()
        audio_path = episodes.get_episode(session, slug).audio
    click.echo(f"Before: {report.before.describe()}")
    click.echo(f"After:  {report.after.describe()}  ({audio_path}, {report.byte_size} bytes)")
    click.echo(
        f"Gain {report.gain_db:+.1f} dB; the limiter touched {report.limiter.limited_share:.1%} "
        f"of the audio, at most {report.limiter.max_reduction_db:.1f} dB "
        f"(target {report.target_lufs:g} LUFS, ceiling {report.ceiling_dbtp:g} dBTP)"
    )
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)


@episode_group.command("publish")
@click.argument("slug")
@click.option("--date", "when", help="Publication date (default: --published from add, or now).")
@pass_workspace
def episode_publish(workspace: Workspace, slug: str, when: str | None) -> None:
    """Publish a normalised episode (it then appears in the feed and is served).

    Refused, with the command that fixes it, when the loudness stored at normalisation breaks
    the [audio] targets, when the MP3 is missing or changed since it was measured, or when the
    transcript exports are stale. `outreach episode check` measures the MP3 itself.

    \b
    Example:
        outreach episode publish mote-i-umea --date 2023-04-26
    """
    moment = people.parse_published(when, workspace.settings.newsletter.timezone) if when else None
    with session_scope(workspace) as session:
        episode = publishing.publish_episode(session, workspace, slug, moment)
        stamp = episode.published_at.isoformat() if episode.published_at else ""
        click.echo(f"Published {episode.slug} ({stamp})")


@episode_group.command("check")
@click.argument("slug")
@pass_workspace
def episode_check(workspace: Workspace, slug: str) -> None:
    """Measure the episode's MP3 with ffmpeg's own meter and run the publish gate.

    Decodes the whole MP3 (ebur128, 4x-oversampled true peak): exits 1, naming what breaks the
    [audio] targets and the command that fixes it, or 0 when it may be published.

    \b
    Example:
        outreach episode check mote-i-umea
    """
    with session_scope(workspace) as session:
        report = publishing.check_episode(session, workspace, slug)
    click.echo(
        f"{report.measured.describe()}; sample peak {report.measured.sample_peak_dbfs:.1f} dBFS"
        f" (target {report.target_lufs:g} LUFS, ceiling {report.ceiling_dbtp:g} dBTP)"
    )
    if report.problems:
        raise ValidationError(f"episode {slug!r}: {'; '.join(report.problems)}")
    click.echo("OK: may be published")


@episode_group.command("unpublish")
@click.argument("slug")
@pass_workspace
def episode_unpublish(workspace: Workspace, slug: str) -> None:
    """Take an episode back to draft (its GUID and date are kept for a later publish).

    \b
    Example:
        outreach episode unpublish mote-i-umea
    """
    with session_scope(workspace) as session:
        episode = publishing.unpublish_episode(session, slug)
        click.echo(f"Unpublished {episode.slug} (now draft)")


@episode_group.command("transcribe")
@click.argument("slug")
@click.option(
    "--engine",
    help="faster-whisper or openai-whisper (default: [transcription] engine).",
)
@click.option(
    "--model",
    help="Model directory, checkpoint, 'base' or a hub name (default: [transcription] model).",
)
@click.option("--language", help="Spoken language code (default: the episode's, usually sv).")
@click.option(
    "--beam-size", type=int, help="Beam search width (default: [transcription] beam_size)."
)
@pass_workspace
def episode_transcribe(
    workspace: Workspace,
    slug: str,
    engine: str | None,
    model: str | None,
    language: str | None,
    beam_size: int | None,
) -> None:
    """Transcribe an episode with Whisper and store a new transcript version.

    Multitrack episodes are transcribed track by track and labelled with each track's speaker.
    The version's exports go to episodes/SLUG/transcripts/vN/; the publishable version's to
    episodes/SLUG/. Ctrl-C stores nothing.

    \b
    Example:
        outreach episode transcribe samtal-om-ai-i-kommunen
        outreach episode transcribe samtal-om-ai-i-kommunen --model KBLab/kb-whisper-base
    """
    plan = transcripts.plan_transcription(
        workspace, slug, engine=engine, model=model, language=language, beam_size=beam_size
    )
    click.echo(
        f"Loading {plan.engine} model {plan.model.name} "
        f"({plan.audio_description}, language {plan.options.language})",
        err=True,
    )
    loaded = transcripts.load_plan_engine(plan)
    total = max(1, round(plan.audio_seconds))
    with click.progressbar(
        length=total, label=f"Transcribing {slug}", file=sys.stderr, show_eta=True
    ) as bar:
        shown = 0

        def progress(seconds: float) -> None:
            nonlocal shown
            target = min(total, int(seconds))
            if target > shown:
                bar.update(target - shown)
                shown = target

        result = transcripts.run_transcription(workspace, plan, progress, engine=loaded)
    click.echo(
        f"Transcript version {result.version} of {slug}: {result.segments} segments, "
        f"{result.words} words in {result.elapsed_seconds:.1f} s "
        f"(real-time factor {result.real_time_factor:.2f})"
    )
    dropped = {name: count for name, count in result.guards.items() if count}
    if dropped:
        click.echo("Guards removed: " + ", ".join(f"{n} {k}" for k, n in dropped.items()))
    click.echo(f"Draft exports: {workspace.shown(result.draft_dir)}/")
    if result.published:
        click.echo(f"Published exports: {workspace.shown(result.published[0].parent)}/")
    else:
        click.echo("Not published yet: the version needs a guest review (see [review]).")


episode_group.add_command(episode_import_feed)

COMMANDS = [episode_group]
