"""From audio inputs to one guarded, time-ordered segment list, whatever the engine.

A multitrack episode (one track per speaker) is transcribed track by track; the segments are
labelled with the track's speaker and merged by time, which names speakers exactly without
diarization. A single input keeps `speaker` None (the review step lets people name them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from outreach.transcription import Engine, ProgressCallback, Segment, TranscribeOptions
from outreach.transcription.guards import GuardReport, apply_guards
from outreach.transcription.probe import AudioProbe


@dataclass(frozen=True)
class AudioInput:
    """One file to transcribe and whose voice it carries (None: unknown or several)."""

    probe: AudioProbe
    speaker: str | None = None


def transcribe_inputs(
    engine: Engine,
    inputs: Sequence[AudioInput],
    options: TranscribeOptions,
    progress: ProgressCallback | None = None,
    report: GuardReport | None = None,
) -> list[Segment]:
    """Transcribe every input, guard each one's segments, and merge them by time.

    `progress` receives seconds of audio processed over all inputs (monotonic).
    """
    report = report if report is not None else GuardReport()
    merged: list[Segment] = []
    done = 0.0
    reported = 0.0

    for item in inputs:
        duration = item.probe.duration

        def advance(seconds: float, base: float = done, duration: float = duration) -> None:
            nonlocal reported
            value = base + min(max(seconds, 0.0), duration)
            if progress is not None and value > reported:
                reported = value
                progress(value)

        raw = engine.transcribe(item.probe.path, options, advance)
        guarded = apply_guards(raw, options, item.probe.silences, report)
        for segment in guarded:
            merged.append(_bounded(segment, duration, item.speaker))
        done += duration
        advance(duration, base=done - duration)
    merged.sort(key=lambda s: (s["start"], s["end"]))
    return [{**segment, "id": index} for index, segment in enumerate(merged)]


def _bounded(segment: Segment, duration: float, speaker: str | None) -> Segment:
    """Times clamped into the file; a segment never ends before it starts."""
    start = min(max(segment["start"], 0.0), duration)
    end = min(max(segment["end"], start), duration)
    words = [
        {
            **word,
            "start": min(max(word["start"], start), end),
            "end": min(max(word["end"], word["start"], start), end),
        }
        for word in segment["words"]
    ]
    return {**segment, "start": start, "end": end, "speaker": speaker, "words": words}  # type: ignore[typeddict-item]
