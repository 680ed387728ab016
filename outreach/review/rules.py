"""Who may edit what in a guest review, and the small rules the other review modules share.

A guest edits the segments whose speaker is their name. In a single-track episode the segments start
unlabelled (one recording, Whisper does not know who speaks), so any guest may edit an unlabelled
segment and set its speaker; once a segment is labelled only that speaker may edit it.
`[review] allow_editing_others = true` lets every guest edit every segment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from outreach.errors import NotFoundError
from outreach.models import Episode, Person
from outreach.podcast.episodes import get_episode as find_episode
from outreach.workspace import Workspace


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_episode(session: Session, slug: str) -> Episode:
    return find_episode(session, slug)


def same_name(a: str | None, b: str | None) -> bool:
    return bool(a and b) and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()  # type: ignore[union-attr]


def person_by_email(episode: Episode, email: str) -> Person:
    wanted = email.strip().casefold()
    for person in episode.people:
        if person.email and person.email.strip().casefold() == wanted:
            return person
    raise NotFoundError(f"episode {episode.slug} has no guest with the address {email}")


def is_single_track(episode: Episode) -> bool:
    return len(episode.tracks) <= 1


def can_edit(
    segment: Mapping[str, Any], person: Person, *, single_track: bool, others: bool
) -> bool:
    """May `person` edit `segment`? (The module docstring gives the rule.)"""
    if others:
        return True
    speaker = segment.get("speaker")
    if not speaker or not str(speaker).strip():
        return single_track
    return same_name(str(speaker), person.name)


def speaker_choices(workspace: Workspace, episode: Episode) -> list[str]:
    """Names a guest may give a segment in a single-track episode: the episode's people, the hosts."""
    names: list[str] = []
    for name in [p.name for p in episode.people] + list(workspace.settings.show.hosts):
        if name and not any(same_name(name, known) for known in names):
            names.append(name)
    return names
