"""Merging the tracks of a multitrack recording into turns in spoken order.

Each track carries one speaker, and Whisper cuts a track into segments without knowing what the
other tracks hold: a host's segment can run from his greeting over the guest's whole reply to
his next question (0.18-19.73 s around her 6.86-12.24 s). Sorting such segments by start time
prints his question before her greeting. So a segment is split at the word boundaries where
another speaker's word begins in between, and where two turns still overlap (people talk at
once) the earlier one is ended where the later one begins. The result: segments in time order,
never overlapping, each with its track's speaker.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from outreach.transcription import Segment, Word


def merge_turns(segments: Sequence[Segment]) -> list[Segment]:
    """Split, order and separate the segments of several speakers (ids are renumbered)."""
    starts: dict[str | None, list[float]] = {}
    for segment in segments:
        for word in segment["words"]:
            starts.setdefault(segment["speaker"], []).append(word["start"])
    others = {
        speaker: sorted(start for who, times in starts.items() if who != speaker for start in times)
        for speaker in starts
    }
    pieces: list[Segment] = []
    for segment in segments:
        pieces += _split(segment, others.get(segment["speaker"], []))
    pieces.sort(key=lambda s: (s["start"], s["end"]))
    for earlier, later in zip(pieces, pieces[1:], strict=False):
        if earlier["end"] > later["start"]:
            _end_at(earlier, later["start"])
    return [{**piece, "id": index} for index, piece in enumerate(pieces) if piece["text"]]


def _split(segment: Segment, other_starts: list[float]) -> list[Segment]:
    """The segment cut before each word that follows another speaker's word start."""
    words = segment["words"]
    if len(words) < 2 or " ".join(w["word"] for w in words) != segment["text"]:
        return [dict(segment)]  # type: ignore[list-item]  # edited text: keep it whole
    groups: list[list[Word]] = [[words[0]]]
    for before, word in zip(words, words[1:], strict=False):
        between = bisect.bisect_right(other_starts, before["start"]) < bisect.bisect_left(
            other_starts, word["start"]
        )
        if between:
            groups.append([word])
        else:
            groups[-1].append(word)
    if len(groups) == 1:
        return [dict(segment)]  # type: ignore[list-item]
    return [
        {
            **segment,
            "start": group[0]["start"],
            "end": max(group[-1]["end"], group[0]["start"]),
            "text": " ".join(w["word"] for w in group),
            "words": group,
        }
        for group in groups
    ]


def _end_at(segment: Segment, moment: float) -> None:
    """End `segment` at `moment` (never before it starts); its words are kept inside it."""
    end = max(segment["start"], moment)
    segment["end"] = end
    segment["words"] = [
        {**w, "start": min(w["start"], end), "end": min(max(w["end"], w["start"]), end)}
        for w in segment["words"]
    ]
