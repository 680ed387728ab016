"""Guards against Whisper's long-form failures, applied to any engine's segments.

Whisper sometimes loops (the same sentence again and again), emits one token sequence many times
inside a segment (a high compression ratio), or invents text where nobody speaks. The engines have
their own defences (temperature fallback, `hallucination_silence_threshold`); these guards are the
engine-independent second line, so both engines publish the same kind of transcript:

- a run of `max_repeats` or more identical consecutive segments keeps only its first segment;
- a segment whose text compresses by more than `compression_ratio_threshold` (zlib, as Whisper
  measures it) is dropped;
- words that lie entirely inside a long silence of the audio (found by `probe.probe_audio`) are
  dropped, and a segment left with no words goes with them.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from outreach.transcription import Segment, TranscribeOptions, Word

Interval = tuple[float, float]


@dataclass
class GuardReport:
    """How many segments and words each guard removed (stored with the version's settings)."""

    repeated_segments: int = 0
    compressed_segments: int = 0
    silent_words: int = 0
    silent_segments: int = 0
    dropped_texts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "repeated_segments": self.repeated_segments,
            "compressed_segments": self.compressed_segments,
            "silent_words": self.silent_words,
            "silent_segments": self.silent_segments,
        }


def compression_ratio(text: str) -> float:
    """Bytes of UTF-8 text over bytes of its zlib compression (Whisper's repetition measure)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def _normalised(text: str) -> str:
    """Text for comparing segments: case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def drop_repeats(
    segments: Sequence[Segment], max_repeats: int, report: GuardReport
) -> list[Segment]:
    """Collapse every run of ≥ `max_repeats` identical consecutive segments to its first one."""
    kept: list[Segment] = []
    index = 0
    while index < len(segments):
        key = _normalised(segments[index]["text"])
        end = index + 1
        while end < len(segments) and key and _normalised(segments[end]["text"]) == key:
            end += 1
        run = end - index
        if run >= max_repeats:
            kept.append(segments[index])
            report.repeated_segments += run - 1
            report.dropped_texts.extend(s["text"] for s in segments[index + 1 : end])
        else:
            kept.extend(segments[index:end])
        index = end
    return kept


def drop_compressed(
    segments: Sequence[Segment], threshold: float, report: GuardReport
) -> list[Segment]:
    """Drop segments whose text is so repetitive that it compresses by more than `threshold`."""
    kept: list[Segment] = []
    for segment in segments:
        if compression_ratio(segment["text"]) > threshold:
            report.compressed_segments += 1
            report.dropped_texts.append(segment["text"])
        else:
            kept.append(segment)
    return kept


class _Silences:
    """Whether a span lies wholly inside some silence, by binary search: checking each word
    against every silence took 0.66 s at 180 minutes (words x silences)."""

    def __init__(self, silences: Sequence[Interval]) -> None:
        ordered = sorted(silences)
        self._starts = [start for start, _ in ordered]
        # Per position, the latest end of the silences starting there or before: with it the
        # one candidate test also covers silences that overlap or nest.
        self._reach = list(itertools.accumulate((end for _, end in ordered), max))

    def contain(self, start: float, end: float) -> bool:
        index = bisect.bisect_right(self._starts, start) - 1
        return index >= 0 and self._reach[index] >= end


def drop_silent_text(
    segments: Sequence[Segment], silences: Sequence[Interval], report: GuardReport
) -> list[Segment]:
    """Remove words placed entirely inside a long silence; drop segments left empty.

    Only words wholly inside a silence go: Whisper often stretches a real word's end into the
    pause after it, and that word must stay.
    """
    if not silences:
        return list(segments)
    index = _Silences(silences)
    kept: list[Segment] = []
    for segment in segments:
        words = segment["words"]
        if not words:
            if index.contain(segment["start"], segment["end"]):
                report.silent_segments += 1
                report.dropped_texts.append(segment["text"])
            else:
                kept.append(segment)
            continue
        spoken: list[Word] = [w for w in words if not index.contain(w["start"], w["end"])]
        report.silent_words += len(words) - len(spoken)
        if not spoken:
            report.silent_segments += 1
            report.dropped_texts.append(segment["text"])
            continue
        if len(spoken) == len(words):
            kept.append(segment)
            continue
        kept.append(
            {
                **segment,
                "start": spoken[0]["start"],
                "end": spoken[-1]["end"],
                "text": " ".join(w["word"] for w in spoken),
                "words": spoken,
            }
        )
    return kept


def apply_guards(
    segments: Sequence[Segment],
    options: TranscribeOptions,
    silences: Sequence[Interval] = (),
    report: GuardReport | None = None,
) -> list[Segment]:
    """All guards, in the order that keeps the most real speech (repeats first, then ratio)."""
    report = report if report is not None else GuardReport()
    result = drop_repeats(segments, options.max_repeats, report)
    result = drop_compressed(result, options.compression_ratio_threshold, report)
    return drop_silent_text(result, silences, report)
