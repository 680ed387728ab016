"""From audio inputs to one guarded, time-ordered segment list, whatever the engine.

A multitrack episode (one track per speaker) is transcribed track by track; the segments are
labelled with the track's speaker and merged into turns in spoken order (`turns`), which names
speakers exactly without diarization. A single input keeps `speaker` None (the review step lets people name them).
"""

from __future__ import annotations

import contextlib
import ctypes
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from outreach.transcription import Engine, ProgressCallback, Segment, TranscribeOptions
from outreach.transcription.guards import GuardReport, apply_guards
from outreach.transcription.probe import AudioProbe, extract
from outreach.transcription.turns import merge_turns

# Longer inputs are transcribed in chunks of about this many seconds (memory flat with length:
# faster-whisper's features for 240 s of audio alone take 160 MB at their peak).
CHUNK_SECONDS = 120.0
CHUNK_SLACK = 30.0


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
    """Transcribe every input, guard each one's segments, and merge them into turns by time.

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

        raw = _transcribe_in_chunks(engine, item.probe, options, advance)
        guarded = apply_guards(raw, options, item.probe.silences, report)
        for segment in guarded:
            merged.append(_bounded(segment, duration, item.speaker))
        done += duration
        advance(duration, base=done - duration)
    return merge_turns(merged)


def _transcribe_in_chunks(
    engine: Engine, probe: AudioProbe, options: TranscribeOptions, progress: ProgressCallback
) -> list[Segment]:
    """Long files go to the engine in chunks cut at their quietest moments.

    Whisper engines decode the whole file and compute features for all of it at once, so their
    memory grows with length; chunks of `CHUNK_SECONDS` keep it flat. Nothing carries over a cut
    (`condition_on_previous_text` is off anyway), and a cut sits in the quietest 0.3 s nearby.
    """
    cuts = probe.cut_points(CHUNK_SECONDS) if probe.duration > CHUNK_SECONDS + CHUNK_SLACK else []
    if not cuts:
        return engine.transcribe(probe.path, options, progress)
    bounds = [0.0, *cuts, probe.duration]
    segments: list[Segment] = []
    with tempfile.TemporaryDirectory(prefix="outreach-chunks-") as folder:
        for index, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
            piece = extract(probe.path, Path(folder) / f"chunk-{index:04d}.wav", start, end - start)

            def advance(seconds: float, start: float = start, end: float = end) -> None:
                progress(min(start + seconds, end))

            for segment in engine.transcribe(piece, options, advance):
                segments.append(_shifted(segment, start))
            piece.unlink()
            _release_freed_memory()
    return segments


def _release_freed_memory() -> None:
    """Hand memory freed by the last chunk back to the system (glibc keeps it otherwise, and
    fragmentation would let the process grow chunk by chunk)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _shifted(segment: Segment, offset: float) -> Segment:
    words = [
        {**w, "start": round(w["start"] + offset, 3), "end": round(w["end"] + offset, 3)}
        for w in segment["words"]
    ]
    return {
        **segment,
        "start": round(segment["start"] + offset, 3),
        "end": round(segment["end"] + offset, 3),
        "words": words,  # type: ignore[typeddict-item]
    }


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
