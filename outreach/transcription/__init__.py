"""Transcription: one small engine interface, the offline models, and the transcript data shape.

A transcript is a list of segments (plain JSON, stored as-is in `transcripts.segments`):

    {"id": 0, "start": 1.2, "end": 4.8, "speaker": "Anna" | None, "text": "Hej och välkomna.",
     "words": [{"start": 1.2, "end": 1.5, "word": "Hej", "probability": 0.93}, ...]}

Times are seconds from the start of the episode audio. Words carry no surrounding spaces;
`text` is the words joined by single spaces (editors may change both, see the review flow).
Engines are imported lazily: faster-whisper and openai-whisper are heavy, and the second is optional.

Modules: `engines` (the registry), `models` (where weights come from, their hash), `probe` (one
ffmpeg pass: duration, levels, silences), `pipeline` (inputs → engine in chunks → `guards` →
merged by time), `formats` (the exports). `outreach.transcripts` stores runs as versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict


class Word(TypedDict):
    start: float
    end: float
    word: str
    probability: float


class Segment(TypedDict):
    id: int
    start: float
    end: float
    speaker: str | None
    text: str
    words: list[Word]


@dataclass(frozen=True)
class TranscribeOptions:
    """What every engine is asked to do. Defaults follow the team's Whisper settings (DESIGN.md)."""

    language: str = "sv"
    beam_size: int = 5
    vad: bool = True
    glossary: Sequence[str] = ()
    compute_type: str = "int8"
    # 0 = every core this process may use (CTranslate2's own default of 4 oversubscribes 2 cores).
    cpu_threads: int = 0
    # Whisper's long-form guards.
    compression_ratio_threshold: float = 2.4
    hallucination_silence_threshold: float | None = 2.0
    max_repeats: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


# Called with seconds of audio processed so far (monotonic, ≤ the audio's duration).
ProgressCallback = Callable[[float], None]


class Engine(Protocol):
    """A Whisper engine bound to one model. `transcribe` returns segments for one audio file."""

    name: str
    model: str

    def transcribe(
        self,
        audio: Path,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> list[Segment]: ...


def build_segment(
    index: int,
    raw_words: Iterable[tuple[float, float, str, float]],
    text: str,
    start: float,
    end: float,
) -> Segment | None:
    """One engine segment in our shape: (start, end, word, probability) tuples as the engine gives
    them, rounded and stripped; None when nothing was said. Both engines build segments here."""
    words: list[Word] = [
        {
            "start": round(float(w_start), 3),
            "end": round(float(max(w_end, w_start)), 3),
            "word": word.strip(),
            "probability": round(float(probability), 4),
        }
        for w_start, w_end, word, probability in raw_words
        if word.strip()
    ]
    joined = " ".join(w["word"] for w in words) if words else " ".join(text.split())
    if not joined:
        return None
    return {
        "id": index,
        "start": words[0]["start"] if words else round(float(start), 3),
        "end": words[-1]["end"] if words else round(float(end), 3),
        "speaker": None,
        "text": joined,
        "words": words,
    }


def first_line(exc: BaseException) -> str:
    """An exception as one short line for a one-line error message."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:240]
