"""Transcript versions: append-only history per episode, how a run makes one, and the exports.

Every transcription run and every guest submission adds a version (`Transcript` rows, numbered 1, 2, …
per episode); nothing is overwritten. The publishable version is the accepted one, or the latest when
guest review is switched off (`[review] enabled = false`).

A run (`plan_transcription` then `run_transcription`) stores its version only once the engine has
finished, in one transaction, with its draft exports in `episodes/<slug>/transcripts/v<N>/`;
`publish_exports` copies the publishable version's exports to `episodes/<slug>/<slug>.<ext>`.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from outreach.db import session_scope
from outreach.errors import NotFoundError, TranscriptionError, ValidationError
from outreach.fsutil import atomic_write_text
from outreach.models import Episode, Transcript
from outreach.podcast.episodes import get_episode
from outreach.podcast.privacy import hidden_names, public_segments
from outreach.transcription import Engine, ProgressCallback, Segment, TranscribeOptions
from outreach.transcription.engines import ENGINES, load_engine
from outreach.transcription.formats import EXPORT_FORMATS, FORMATS_REVISION, render_all
from outreach.transcription.guards import GuardReport
from outreach.transcription.models import (
    ResolvedModel,
    default_cache_dir,
    model_hash,
    resolve_model,
)
from outreach.transcription.pipeline import AudioInput, transcribe_inputs
from outreach.transcription.probe import probe_audio
from outreach.workspace import Workspace


def create_version(
    session: Session,
    episode: Episode,
    segments: list[Segment],
    *,
    author: str,
    parent: Transcript | None = None,
    engine: str | None = None,
    model: str | None = None,
    model_hash: str | None = None,
    settings: dict[str, Any] | None = None,
    diff: str | None = None,
) -> Transcript:
    """Add the next version of `episode`'s transcript (the caller's transaction commits it)."""
    current = session.scalar(
        select(func.max(Transcript.version)).where(Transcript.episode_id == episode.id)
    )
    transcript = Transcript(
        episode_id=episode.id,
        version=(current or 0) + 1,
        parent_id=parent.id if parent is not None else None,
        author=author,
        engine=engine,
        model=model,
        model_hash=model_hash,
        settings=settings,
        segments=[dict(segment) for segment in segments],
        diff=diff,
    )
    session.add(transcript)
    session.flush()
    return transcript


def get_version(session: Session, episode: Episode, version: int | None = None) -> Transcript:
    """Version `version` of the episode's transcript, or the latest when None."""
    query = select(Transcript).where(Transcript.episode_id == episode.id)
    if version is None:
        transcript = session.scalar(query.order_by(Transcript.version.desc()).limit(1))
    elif not 0 < version < 2**63:
        transcript = None  # no such row; the database's integers would overflow on the query
    else:
        transcript = session.scalar(query.where(Transcript.version == version))
    if transcript is None:
        which = "transcript" if version is None else f"transcript version {version}"
        raise NotFoundError(f"episode {episode.slug} has no {which}")
    return transcript


def list_versions(session: Session, episode: Episode) -> list[Transcript]:
    return list(
        session.scalars(
            select(Transcript)
            .where(Transcript.episode_id == episode.id)
            .order_by(Transcript.version)
        )
    )


def accept_version(session: Session, transcript: Transcript) -> None:
    """Make `transcript` the episode's one accepted (publishable) version."""
    session.execute(
        update(Transcript)
        .where(Transcript.episode_id == transcript.episode_id, Transcript.id != transcript.id)
        .values(accepted_at=None)
    )
    transcript.accepted_at = dt.datetime.now(dt.UTC)
    session.flush()


def publishable_version(
    session: Session, episode: Episode, *, review_enabled: bool, with_segments: bool = True
) -> Transcript | None:
    """The version the feed and the public site may show, or None if there is none yet.
    `with_segments=False` loads the (large) segments only when first read."""
    query = select(Transcript).where(Transcript.episode_id == episode.id)
    if not with_segments:
        query = query.options(defer(Transcript.segments))
    if review_enabled:
        return session.scalar(query.where(Transcript.accepted_at.is_not(None)).limit(1))
    return session.scalar(query.order_by(Transcript.version.desc()).limit(1))


def episodes_with_publishable_version(session: Session, *, review_enabled: bool) -> set[int]:
    """Ids of the episodes `publishable_version` would find a version for, in one query
    (the feed asks this for every published episode)."""
    query = select(Transcript.episode_id).distinct()
    if review_enabled:
        query = query.where(Transcript.accepted_at.is_not(None))
    return set(session.scalars(query))


# Running a transcription ------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptionPlan:
    """Everything checked before a model loads: the episode, engine, model, options and inputs."""

    slug: str
    engine: str
    model: ResolvedModel
    options: TranscribeOptions
    inputs: tuple[AudioInput, ...]

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio to process (the progress bar's length)."""
        return sum(item.probe.duration for item in self.inputs)

    @property
    def audio_description(self) -> str:
        """ "53 s of audio", "2 tracks × 53 s" (one per speaker), or "2 tracks (53 s + 41 s)"."""
        lengths = [round(item.probe.duration) for item in self.inputs]
        if len(lengths) == 1:
            return f"{lengths[0]} s of audio"
        if max(lengths) - min(lengths) <= 1:
            return f"{len(lengths)} tracks × {max(lengths)} s"
        return f"{len(lengths)} tracks ({' + '.join(f'{n} s' for n in lengths)})"


@dataclass(frozen=True)
class TranscriptionResult:
    version: int
    segments: int
    words: int
    audio_seconds: float
    elapsed_seconds: float
    draft_dir: Path
    published: tuple[Path, ...]
    guards: dict[str, int]

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_seconds / self.audio_seconds if self.audio_seconds else 0.0


def episode_audio_inputs(workspace: Workspace, episode: Episode) -> list[tuple[Path, str | None]]:
    """What to transcribe: each track (with its speaker) if several, else the episode's audio."""
    tracks = sorted(episode.tracks, key=lambda t: t.position)
    if len(tracks) > 1:
        return [(workspace.path(t.path), t.speaker) for t in tracks]
    if episode.audio:
        return [(workspace.path(episode.audio), None)]
    if tracks:
        return [(workspace.path(tracks[0].path), None)]
    raise ValidationError(
        f"episode {episode.slug} has no audio; add it with 'outreach episode add' first"
    )


def model_cache_dir(workspace: Workspace) -> Path:
    setting = workspace.settings.transcription.cache_dir
    return workspace.path(setting) if setting else default_cache_dir()


def plan_transcription(
    workspace: Workspace,
    slug: str,
    *,
    engine: str | None = None,
    model: str | None = None,
    language: str | None = None,
    beam_size: int | None = None,
) -> TranscriptionPlan:
    """Check the episode, engine, model and audio (decoding it once) before any model loads."""
    settings = workspace.settings.transcription
    engine_name = engine or settings.engine
    if engine_name not in ENGINES:
        raise TranscriptionError(
            f"unknown transcription engine {engine_name!r}; choose one of: {', '.join(ENGINES)}"
        )
    if beam_size is not None and beam_size < 1:
        raise ValidationError(f"beam size must be at least 1, got {beam_size}")
    with session_scope(workspace) as session:
        episode = get_episode(session, slug)
        files = episode_audio_inputs(workspace, episode)
        episode_language = episode.language
    options = TranscribeOptions(
        language=language or episode_language or settings.language,
        beam_size=beam_size or settings.beam_size,
        vad=settings.vad,
        glossary=tuple(settings.glossary),
        compute_type=settings.compute_type,
    )
    resolved = resolve_model(model or settings.model, model_cache_dir(workspace))
    silence = options.hallucination_silence_threshold or 2.0
    inputs = tuple(AudioInput(probe_audio(path, silence), speaker) for path, speaker in files)
    return TranscriptionPlan(slug, engine_name, resolved, options, inputs)


def load_plan_engine(plan: TranscriptionPlan) -> Engine:
    """Load the plan's engine and model (the slow, failure-prone step before any progress)."""
    return load_engine(plan.engine, plan.model, plan.options)


def run_transcription(
    workspace: Workspace,
    plan: TranscriptionPlan,
    progress: ProgressCallback | None = None,
    *,
    engine: Engine | None = None,
) -> TranscriptionResult:
    """Transcribe, then store the new version and its draft exports in one step.

    Nothing is written until the engine has finished: an interrupted run leaves no version and
    no export folder behind. The publishable exports are refreshed afterwards.
    """
    started = time.monotonic()
    if engine is None:
        engine = load_plan_engine(plan)
    report = GuardReport()
    segments = transcribe_inputs(engine, plan.inputs, plan.options, progress, report)
    elapsed = time.monotonic() - started
    weights = getattr(engine, "model_path", None) or plan.model.path
    digest = model_hash(weights, model_cache_dir(workspace))
    settings = _run_settings(workspace, plan, report, elapsed)
    with session_scope(workspace) as session:
        episode = get_episode(session, plan.slug)
        transcript = create_version(
            session,
            episode,
            segments,
            author=plan.engine,
            engine=plan.engine,
            model=plan.model.name,
            model_hash=digest,
            settings=settings,
        )
        drafts = write_draft_exports(workspace, episode, transcript)
        try:
            session.commit()
        except BaseException:
            # The folder exists only with its version (a rerun would replace it anyway).
            shutil.rmtree(drafts, ignore_errors=True)
            raise
        published = publish_exports(session, workspace, episode)
        version = transcript.version
    return TranscriptionResult(
        version=version,
        segments=len(segments),
        words=sum(len(s["words"]) for s in segments),
        audio_seconds=plan.audio_seconds,
        elapsed_seconds=elapsed,
        draft_dir=drafts,
        published=tuple(published),
        guards=report.as_dict(),
    )


def _run_settings(
    workspace: Workspace, plan: TranscriptionPlan, report: GuardReport, elapsed: float
) -> dict[str, Any]:
    options = plan.options
    try:
        engine_version = importlib.metadata.version(plan.engine)
    except importlib.metadata.PackageNotFoundError:
        engine_version = None
    return {
        "engine_version": engine_version,
        "language": options.language,
        "beam_size": options.beam_size,
        "vad": options.vad,
        "compute_type": options.compute_type,
        "glossary": list(options.glossary),
        "condition_on_previous_text": False,
        "word_timestamps": True,
        "compression_ratio_threshold": options.compression_ratio_threshold,
        "hallucination_silence_threshold": options.hallucination_silence_threshold,
        "max_repeats": options.max_repeats,
        "inputs": [
            {
                "path": workspace.shown(item.probe.path),
                "speaker": item.speaker,
                "duration": round(item.probe.duration, 3),
            }
            for item in plan.inputs
        ],
        "guards": report.as_dict(),
        "audio_seconds": round(plan.audio_seconds, 3),
        "elapsed_seconds": round(elapsed, 3),
    }


# Exports ----------------------------------------------------------------------------------------


# In the (unserved) draft folder: which version the public exports were made from.
PUBLISHED_NOTE = "published.json"


def episode_dir(workspace: Workspace, episode: Episode) -> Path:
    return workspace.episodes_dir / episode.slug


def draft_dir(workspace: Workspace, episode: Episode, version: int) -> Path:
    """Where a version's draft exports live (not served): `episodes/<slug>/transcripts/v<N>/`."""
    return episode_dir(workspace, episode) / "transcripts" / f"v{version}"


def render_version(
    episode: Episode, transcript: Transcript, hidden: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every export format of one version, as text keyed by file suffix; speaker labels in
    `hidden` (guests not to be named in public, `privacy.hidden_names`) get their stand-in."""
    segments: list[Segment] = [
        cast(Segment, s) for s in public_segments(transcript.segments, hidden or {})
    ]
    return render_all(segments, title=episode.title, language=episode.language or "sv")


def write_draft_exports(workspace: Workspace, episode: Episode, transcript: Transcript) -> Path:
    """Write a version's exports to its draft folder, all at once (one folder rename)."""
    target = draft_dir(workspace, episode, transcript.version)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for fmt, text in render_version(episode, transcript).items():
            (staging / f"{episode.slug}.{fmt}").write_text(text, encoding="utf-8")
        if target.exists():
            # Left by a run interrupted between this rename and its commit: that version
            # never existed, so its folder goes.
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def published_paths(workspace: Workspace, episode: Episode) -> dict[str, Path]:
    """The public export files: `episodes/<slug>/<slug>.{vtt,srt,json,txt,html}`."""
    folder = episode_dir(workspace, episode)
    return {fmt: folder / f"{episode.slug}.{fmt}" for fmt in EXPORT_FORMATS}


def publish_exports(session: Session, workspace: Workspace, episode: Episode) -> list[Path]:
    """Write the publishable version's exports next to the episode's audio (each file atomic).

    The publishable version is the accepted one, or the latest with `[review] enabled = false`.
    When there is none, stale public exports are removed so nothing unreviewed stays online.
    Cheap when nothing changed (`feed build` calls it for every episode with a transcript): a
    note in the draft folder records what the public files were made from.
    Returns the public files (empty when there is nothing to publish).
    """
    transcript = publishable_version(
        session, episode, review_enabled=workspace.settings.review.enabled
    )
    paths = published_paths(workspace, episode)
    note = episode_dir(workspace, episode) / "transcripts" / PUBLISHED_NOTE
    if transcript is None:
        for path in paths.values():
            path.unlink(missing_ok=True)
        note.unlink(missing_ok=True)
        return []
    if _exports_match(workspace, episode, transcript):
        return list(paths.values())
    rendered = render_version(episode, transcript, hidden_names(episode))
    for fmt, path in paths.items():
        atomic_write_text(path, rendered[fmt])
    made_from = _made_from(episode, transcript)
    atomic_write_text(note, json.dumps(made_from, ensure_ascii=False) + "\n")
    return list(paths.values())


def exports_are_current(session: Session, workspace: Workspace, episode: Episode) -> bool:
    """Whether the public exports are what `publish_exports` would write now (nothing to do):
    made from the publishable version, title and formats, or absent when there is none."""
    transcript = publishable_version(
        session, episode, review_enabled=workspace.settings.review.enabled
    )
    if transcript is None:
        return not any(path.exists() for path in published_paths(workspace, episode).values())
    return _exports_match(workspace, episode, transcript)


def _made_from(episode: Episode, transcript: Transcript) -> dict[str, Any]:
    return {
        "transcript": transcript.id,
        "hidden": sorted(hidden_names(episode)),
        "version": transcript.version,
        "title": episode.title,
        "language": episode.language,
        "formats": FORMATS_REVISION,
    }


def _exports_match(workspace: Workspace, episode: Episode, transcript: Transcript) -> bool:
    note = episode_dir(workspace, episode) / "transcripts" / PUBLISHED_NOTE
    try:
        current = json.loads(note.read_text(encoding="utf-8")) == _made_from(episode, transcript)
    except (OSError, ValueError):
        current = False
    return current and all(path.is_file() for path in published_paths(workspace, episode).values())
