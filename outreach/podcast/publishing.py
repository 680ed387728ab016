"""Publishing an episode, and the gate before it: nothing leaves that breaks what we promise.

`publish_problems` re-measures nothing heavy: it reads what `normalize` stored (loudness, true
peak, the MP3's size and SHA-256) and compares them with the [audio] targets and the file on
disk, and asks whether the public transcript exports are what `transcript publish` would write
now. Each problem names the command that fixes it. `check_episode` is the heavy, independent
version on demand: it decodes the MP3 and meters it with ffmpeg's `ebur128`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from outreach.audio.check import TARGET_TOLERANCE_LU, measure_file, problems, stamp
from outreach.audio.encode import mp3_channels
from outreach.audio.loudness import Measurement
from outreach.errors import ValidationError
from outreach.models import Episode, utcnow
from outreach.podcast.episodes import get_episode, loudness_target
from outreach.podcast.transcripts import exports_are_current
from outreach.workspace import Workspace


def is_normalised(workspace: Workspace, episode: Episode) -> bool:
    return bool(episode.audio) and workspace.path(episode.audio or "").is_file()


def publish_problems(session: Session, workspace: Workspace, episode: Episode) -> list[str]:
    """Why `episode` may not be published (empty when it may), cheapest checks first."""
    slug = episode.slug
    normalize = f"run 'outreach episode normalize {slug}'"
    if not is_normalised(workspace, episode):
        return [f"it is not normalised yet: {normalize}"]
    mp3 = workspace.path(episode.audio or "")
    if episode.loudness_lufs is None or episode.true_peak_dbtp is None or not episode.audio_sha256:
        return [f"its MP3 has no stored measurement: {normalize}"]
    found = []
    target, _ = loudness_target(workspace, mp3_channels(mp3))
    ceiling = workspace.settings.audio.ceiling_dbtp
    stored = [
        f"stored {p}" for p in problems(_stored(episode), target_lufs=target, ceiling_dbtp=ceiling)
    ]
    if stored:
        found.append(f"{'; '.join(stored)}: {normalize}")
    measured = stamp(mp3)
    if (measured.byte_size, measured.sha256) != (episode.byte_size, episode.audio_sha256):
        found.append(f"{episode.audio} changed since it was measured: {normalize}")
    if not exports_are_current(session, workspace, episode):
        found.append(f"its transcript exports are stale: run 'outreach transcript publish {slug}'")
    return found


def feed_problems(session: Session, workspace: Workspace, episode: Episode) -> list[str]:
    """The gate as `feed build` applies it to a published episode, on every build and so without
    reading the MP3: it must still be there, the size `normalize` measured, its stored loudness
    and true peak must meet the targets, and its public transcript exports must be current (a
    small JSON note). Episodes `normalize` never measured (imported from another host) pass:
    their audio is not ours to judge."""
    if not episode.audio or not episode.audio_sha256:
        return []
    normalize = f"run 'outreach episode normalize {episode.slug}'"
    mp3 = workspace.path(episode.audio)
    try:
        size = mp3.stat().st_size
    except OSError:
        return [f"{episode.audio} is missing: {normalize}"]
    found = []
    if size != episode.byte_size:
        found.append(f"{episode.audio} changed since it was measured: {normalize}")
    target, _ = loudness_target(workspace, mp3_channels(mp3))
    ceiling = workspace.settings.audio.ceiling_dbtp
    stored = problems(_stored(episode), target_lufs=target, ceiling_dbtp=ceiling)
    if stored:
        found.append(f"stored {'; '.join(stored)}: {normalize}")
    if not exports_are_current(session, workspace, episode):
        found.append(
            f"its transcript exports are stale: run 'outreach transcript publish {episode.slug}'"
        )
    return found


def _stored(episode: Episode) -> Measurement:
    return Measurement(
        integrated_lufs=episode.loudness_lufs if episode.loudness_lufs is not None else -math.inf,
        true_peak_dbtp=episode.true_peak_dbtp if episode.true_peak_dbtp is not None else math.inf,
        sample_peak_dbfs=math.nan,
        loudness_range_lu=episode.loudness_range_lu or 0.0,
        duration_seconds=episode.duration_seconds or 0.0,
        channels=0,
        sample_rate=0,
    )


def publish_episode(
    session: Session, workspace: Workspace, slug: str, when: dt.datetime | None = None
) -> Episode:
    """Mark published (status and published_at) once the gate finds nothing wrong."""
    episode = get_episode(session, slug)
    found = publish_problems(session, workspace, episode)
    if found:
        raise ValidationError(f"episode {slug!r} cannot be published: {'; '.join(found)}")
    episode.status = "published"
    episode.published_at = when or episode.published_at or utcnow()
    return episode


def unpublish_episode(session: Session, slug: str) -> Episode:
    """Back to draft; published_at is kept so publishing again keeps the original date."""
    episode = get_episode(session, slug)
    episode.status = "draft"
    return episode


@dataclass
class CheckReport:
    """`episode check`: the MP3 measured by ffmpeg, what was stored, and every problem found."""

    measured: Measurement
    target_lufs: float
    ceiling_dbtp: float
    problems: list[str] = field(default_factory=list)


def check_episode(session: Session, workspace: Workspace, slug: str) -> CheckReport:
    """Decode the MP3 and meter it with ffmpeg (`ebur128=peak=true`); then the publish gate."""
    episode = get_episode(session, slug)
    if not is_normalised(workspace, episode):
        raise ValidationError(
            f"episode {slug!r} is not normalised yet: run 'outreach episode normalize {slug}'"
        )
    mp3 = workspace.path(episode.audio or "")
    target, dual_mono = loudness_target(workspace, mp3_channels(mp3))
    ceiling = workspace.settings.audio.ceiling_dbtp
    measured = measure_file(mp3, dual_mono=dual_mono)
    found = [
        f"{p}: run 'outreach episode normalize {slug}'"
        for p in problems(measured, target_lufs=target, ceiling_dbtp=ceiling)
    ]
    if episode.loudness_lufs is not None and not math.isclose(
        measured.integrated_lufs, episode.loudness_lufs, abs_tol=TARGET_TOLERANCE_LU / 2
    ):
        found.append(
            f"it measures {measured.integrated_lufs:.1f} LUFS but {episode.loudness_lufs:.1f}"
            f" was stored: run 'outreach episode normalize {slug}'"
        )
    for problem in publish_problems(session, workspace, episode):
        if problem not in found and not problem.startswith("stored"):
            found.append(problem)
    return CheckReport(measured, target, ceiling, found)
