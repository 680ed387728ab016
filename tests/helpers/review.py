"""Episodes ready for guest review, made directly through the ORM (real audio, hand-made segments)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from outreach.db import session_scope
from outreach.models import Episode, Person, Track
from outreach.podcast import transcripts
from outreach.transcription import Segment, Word
from outreach.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ANNA = ("Anna Andersson", "anna@example.se")
BO = ("Bo Berg", "bo@example.se")
# speech-en.wav (~12 s) says these three sentences; times are hand-made, spread over the audio.
SENTENCES = [
    (0.3, 2.0, "Welcome to the podcast.", ANNA[0]),
    (2.2, 6.0, "Today we talk about artificial intelligence in local government.", BO[0]),
    (
        6.3,
        11.5,
        "Many municipalities want to start small, with one clear problem and good data.",
        None,
    ),
]
UNCERTAIN_WORD = "municipalities"


def make_words(start: float, end: float, text: str) -> list[Word]:
    tokens = text.split()
    step = (end - start) / len(tokens)
    return [
        Word(
            start=round(start + i * step, 3),
            end=round(start + (i + 1) * step - 0.02, 3),
            word=token,
            probability=0.3 if token == UNCERTAIN_WORD else 0.95,
        )
        for i, token in enumerate(tokens)
    ]


def make_segments() -> list[Segment]:
    return [
        Segment(
            id=i,
            start=start,
            end=end,
            speaker=speaker,
            text=text,
            words=make_words(start, end, text),
        )
        for i, (start, end, text, speaker) in enumerate(SENTENCES)
    ]


def add_review_episode(
    workspace: Workspace,
    slug: str = "samtal-1",
    *,
    title: str = "AI i kommunen",
    tracks: int = 1,
    guests: tuple[tuple[str, str], ...] = (ANNA, BO),
) -> dict[str, Any]:
    """An episode with `tracks` source tracks (speech-en.wav copied in), guests and version 1."""
    source = workspace.episodes_dir / slug / "source"
    source.mkdir(parents=True, exist_ok=True)
    with session_scope(workspace) as session:
        episode = Episode(guid=str(uuid.uuid4()), slug=slug, title=title)
        session.add(episode)
        session.flush()
        for position in range(tracks):
            target = source / f"track-{position + 1}.wav"
            shutil.copyfile(FIXTURES / "speech-en.wav", target)
            speaker = guests[position][0] if position < len(guests) else None
            session.add(
                Track(
                    episode_id=episode.id,
                    position=position + 1,
                    path=str(target.relative_to(workspace.root)),
                    speaker=speaker,
                )
            )
        for name, email in guests:
            session.add(Person(episode_id=episode.id, name=name, email=email, role="guest"))
        session.add(Person(episode_id=episode.id, name="Karin Värd", email=None, role="host"))
        session.flush()
        session.refresh(episode)
        transcript = transcripts.create_version(
            session, episode, make_segments(), author="whisper", engine="faster-whisper"
        )
        return {"episode_id": episode.id, "transcript_id": transcript.id}
