"""The review page's view-model: the latest version as turns of one speaker, marked with what the
guest may edit, and the audio they listen to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from outreach.models import Episode, Person, ReviewRequest
from outreach.podcast import transcripts
from outreach.podcast.episodes import mix_path
from outreach.podcast.wordtimes import segment_start_text, timings_json
from outreach.review.rules import can_edit, is_single_track, speaker_choices
from outreach.transcription import Word
from outreach.workspace import Workspace

# Words the model gave less than this probability are marked as uncertain on the review page.
LOW_PROBABILITY = 0.5
# A speaker's long turn (or a whole unlabelled single-track episode) is shown as paragraphs of at
# most this many segments, each with its own edit fields.
PARAGRAPH_SEGMENTS = 6
UNCERTAIN = Markup(
    '<span class="uncertain">{}<span class="visually-hidden"> (osäkert ord)</span></span>'
)


@dataclass
class PageSegment:
    id: int
    start: float
    end: float
    speaker: str | None
    text: str
    words: list[Word]
    editable: bool

    def is_uncertain(self, word: Word) -> bool:
        return float(word.get("probability", 1.0)) < LOW_PROBABILITY

    @property
    def start_text(self) -> str:
        return segment_start_text(self.start)

    @property
    def end_text(self) -> str:
        return segment_start_text(self.end)

    def marked_text(self) -> Markup:
        """The words as text, uncertain ones marked (timings go in the page's JSON block)."""
        if not self.words:
            return escape(self.text)
        return Markup(" ").join(
            UNCERTAIN.format(w["word"]) if self.is_uncertain(w) else escape(w["word"])
            for w in self.words
        )


@dataclass
class Turn:
    """Consecutive segments of one speaker: one paragraph on the page (long turns are split into
    paragraphs of at most PARAGRAPH_SEGMENTS, `continued` marks the later ones)."""

    speaker: str | None
    segments: list[PageSegment]
    continued: bool = False


@dataclass
class ReviewPage:
    episode_title: str
    guest_name: str
    expires_at: dt.datetime
    version: int
    single_track: bool
    speaker_choices: list[str]
    turns: list[Turn]
    has_audio: bool
    state: str
    editing_others: bool
    word_times: Markup

    def segment_start(self, segment_id: int) -> float:
        for turn in self.turns:
            for segment in turn.segments:
                if segment.id == segment_id:
                    return segment.start
        return 0.0


def review_audio(workspace: Workspace, episode: Episode) -> str | None:
    """The audio a guest listens to: the normalised MP3, else the multitrack mix, else the one track
    (workspace-relative, or None: separate tracks without a mix are not played)."""
    if episode.audio:
        return episode.audio
    mixed = mix_path(workspace, episode)
    if mixed is not None:
        return str(mixed.relative_to(workspace.root))
    if len(episode.tracks) == 1:
        return episode.tracks[0].path
    return None


def review_page(session: Session, workspace: Workspace, request: ReviewRequest) -> ReviewPage:
    episode = session.get_one(Episode, request.episode_id)
    person = session.get_one(Person, request.person_id)
    head = transcripts.get_version(session, episode)
    single = is_single_track(episode)
    others = workspace.settings.review.allow_editing_others
    turns: list[Turn] = []
    for raw in head.segments:
        segment = PageSegment(
            id=int(raw["id"]),
            start=float(raw["start"]),
            end=float(raw["end"]),
            speaker=raw.get("speaker"),
            text=raw["text"],
            words=list(raw.get("words") or []),
            editable=can_edit(raw, person, single_track=single, others=others),
        )
        same_speaker = bool(turns) and turns[-1].speaker == segment.speaker
        if same_speaker and len(turns[-1].segments) < PARAGRAPH_SEGMENTS:
            turns[-1].segments.append(segment)
        else:
            turns.append(Turn(segment.speaker, [segment], continued=same_speaker))
    audio = review_audio(workspace, episode)
    return ReviewPage(
        episode_title=episode.title,
        guest_name=person.name,
        expires_at=request.expires_at,
        version=head.version,
        single_track=single,
        speaker_choices=speaker_choices(workspace, episode),
        turns=turns,
        has_audio=audio is not None and workspace.path(audio).is_file(),
        state=request.state,
        editing_others=others,
        word_times=Markup(timings_json(head.segments)),
    )
