"""Who may be named in public: hosts, and guests who agreed (`Person.consent_named`).

Speaker labels in a transcript are names (from the tracks, or set by guests on the review page). On
the public page and in the published transcript files, a guest who did not agree to be named is
shown as "Gäst" ("Gäst 1", "Gäst 2", … when there are several); everyone else keeps their label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from outreach.models import Episode

STAND_IN = "Gäst"


def fold(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


def hidden_names(episode: Episode) -> dict[str, str]:
    """Folded name -> stand-in for the episode's guests who are not to be named."""
    named = {fold(p.name) for p in episode.people if p.role != "guest" or p.consent_named}
    unnamed: list[str] = []
    for person in episode.people:
        key = fold(person.name)
        if person.role == "guest" and key not in named and key not in unnamed:
            unnamed.append(key)
    if len(unnamed) == 1:
        return {unnamed[0]: STAND_IN}
    return {key: f"{STAND_IN} {i}" for i, key in enumerate(unnamed, 1)}


def public_speaker(label: str | None, hidden: Mapping[str, str]) -> str | None:
    """The label as the public may see it (None for an unlabelled segment)."""
    text = " ".join((label or "").split())
    return hidden.get(text.casefold(), text) or None


def public_segments(
    segments: Sequence[Mapping[str, Any]], hidden: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Copies of `segments` with unnamed guests' labels replaced (the rest unchanged)."""
    if not hidden:
        return [dict(s) for s in segments]
    return [
        {**s, "speaker": public_speaker(s.get("speaker"), hidden)} if s.get("speaker") else dict(s)
        for s in segments
    ]
