"""Transcript versions: append-only history per episode, and which version is publishable.

Every transcription run and every guest submission adds a version (`Transcript` rows, numbered 1, 2, …
per episode); nothing is overwritten. The publishable version is the accepted one, or the latest when
guest review is switched off (`[review] enabled = false`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.errors import NotFoundError
from outreach.models import Episode, Transcript
from outreach.transcription import Segment


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
    else:
        transcript = session.scalar(query.where(Transcript.version == version))
    if transcript is None:
        which = "a transcript" if version is None else f"transcript version {version}"
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
    session: Session, episode: Episode, *, review_enabled: bool
) -> Transcript | None:
    """The version the feed and the public site may show, or None if there is none yet."""
    query = select(Transcript).where(Transcript.episode_id == episode.id)
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
