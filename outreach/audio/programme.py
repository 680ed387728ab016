"""The first pass of `episode normalize`: the decoded programme kept on disk, and its control records.

Decoding and mixing happen once. The samples go to a float32 file that the encode pass reads
back; per limiter control step (about 1 ms) a record keeps what the limiter and the plan need
and that does not depend on the gain: the step's true-peak envelope and its K-weighted energy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from outreach.audio.loudness import (
    SUB_BLOCK_SECONDS,
    LoudnessMeter,
    Measurement,
    db,
    frame_envelope,
)

# Frames per block when streaming samples (about 1.5 s at 44.1 kHz).
BLOCK_FRAMES = 1 << 16
# The limiter's timing (LimiterShape); every control record covers one step.
LIMITER_LOOKAHEAD_SECONDS = 0.003
LIMITER_RELEASE_DB_PER_SECOND = 300.0
# The limiter's control step (rounded to a divisor of the 100 ms sub-block).
CONTROL_STEP_SECONDS = 0.001

Block = NDArray[np.float32]
# Called with (step name, seconds of audio done in that step, seconds in all).
Progress = Callable[[str, float, float], None]


@dataclass(frozen=True)
class LimiterShape:
    """The limiter's timing in control steps.

    The gain a step needs (to bring its envelope under the ceiling) is held for `hold` steps on
    either side, released by at most `release_db` per step, and averaged over the last
    `lookahead` + 1 steps, so it ramps into a peak instead of jumping. The hold reaches one step
    further than the average, and the gain between two steps is a mix of theirs: every value
    that reaches a sample is at most what its step and both neighbours need, so no peak passes.
    """

    step: int
    lookahead: int
    hold: int
    release_db: float

    @classmethod
    def for_rate(cls, sample_rate: int) -> LimiterShape:
        hop = round(SUB_BLOCK_SECONDS * sample_rate)
        wanted = max(1, round(sample_rate * CONTROL_STEP_SECONDS))
        divisors = [d for d in range(1, hop + 1) if hop % d == 0]
        step = min(divisors, key=lambda d: (abs(d - wanted), d))
        lookahead = max(1, math.ceil(LIMITER_LOOKAHEAD_SECONDS * sample_rate / step))
        return cls(
            step=step,
            lookahead=lookahead,
            hold=lookahead + 1,
            release_db=LIMITER_RELEASE_DB_PER_SECOND * step / sample_rate,
        )


# Frames the envelope lags the input by: the interpolator reaches six samples ahead.
_ENVELOPE_LAG = 16
# A control record: the step's envelope in dB, then its energy weights A, B, C (float32).
RECORD_FIELDS = 4


class ControlRecorder:
    """Writes the first pass's record of every control step to `sink`.

    A record is the step's envelope (the largest of its samples and of the 4x-interpolated
    values after each, in dB) and its channel-summed K-weighted energy as three sums over the
    step, A = sum (1-u)^2 p, B = sum u(1-u) p, C = sum u^2 p, with u the position in the step
    (0 to 1). Under a gain ramping linearly from G_k to G_k+1 the step's energy is then exactly
    A G_k^2 + 2 B G_k G_k+1 + C G_k+1^2. The envelope of the whole programme also gives its
    true peak (BS.1770-4 Annex 2), so the first pass needs no separate true-peak meter.
    """

    def __init__(self, channels: int, step: int, sink: IO[bytes]) -> None:
        self.step = step
        self.steps = 0
        self.true_peak = 0.0
        self.sample_peak = 0.0
        u = np.arange(step, dtype=np.float64) / step
        self._weights = np.stack([(1 - u) ** 2, u * (1 - u), u * u], axis=1)
        self._sink = sink
        self._history = np.zeros((_ENVELOPE_LAG, channels), dtype=np.float64)
        self._pending = np.zeros((0, channels), dtype=np.float64)
        self._envelope = np.zeros(0, dtype=np.float64)
        self._energy = np.zeros(0, dtype=np.float64)

    def add_energy(self, squares: NDArray[np.float64]) -> None:
        """Per frame, the K-weighted squares summed over the channels (from the meter)."""
        self._energy = np.concatenate([self._energy, squares])
        self._write()

    def add_samples(self, block: NDArray[Any]) -> None:
        if len(block):
            self.sample_peak = max(self.sample_peak, float(np.abs(block).max()))
        pending = np.concatenate([self._pending, np.asarray(block, dtype=np.float64)])
        ready = len(pending) - _ENVELOPE_LAG
        if ready <= 0:
            self._pending = pending
            return
        context = np.concatenate([self._history, pending])
        self._take_envelope(frame_envelope(context)[_ENVELOPE_LAG : _ENVELOPE_LAG + ready])
        self._history = context[ready : ready + _ENVELOPE_LAG]
        self._pending = pending[ready:]
        self._write()

    def finish(self) -> None:
        if len(self._pending):
            context = np.concatenate([self._history, self._pending, np.zeros_like(self._history)])
            count = len(self._pending)
            self._take_envelope(frame_envelope(context)[_ENVELOPE_LAG : _ENVELOPE_LAG + count])
            self._pending = self._pending[:0]
        partial = len(self._envelope) % self.step
        if partial:  # the last step is short: pad it with silence
            pad = self.step - partial
            self._envelope = np.concatenate([self._envelope, np.zeros(pad)])
            self._energy = np.concatenate([self._energy, np.zeros(pad)])
        self._write()

    def _take_envelope(self, envelope: NDArray[np.float64]) -> None:
        if len(envelope):
            self.true_peak = max(self.true_peak, float(envelope.max()))
        self._envelope = np.concatenate([self._envelope, envelope])

    def _write(self) -> None:
        count = min(len(self._envelope), len(self._energy)) // self.step
        if not count:
            return
        frames = count * self.step
        peaks = self._envelope[:frames].reshape(count, self.step).max(axis=1)
        energy = self._energy[:frames].reshape(count, self.step) @ self._weights
        records = np.empty((count, RECORD_FIELDS), dtype="<f4")
        records[:, 0] = 20.0 * np.log10(np.maximum(peaks, 1e-10))
        records[:, 1:] = energy
        self._sink.write(records.tobytes())
        self.steps += count
        self._envelope = self._envelope[frames:]
        self._energy = self._energy[frames:]


@dataclass
class Programme:
    """The decoded (and mixed) programme as raw float32 in a temporary file, its control records
    (ControlRecorder) in another, and per 100 ms sub-block its K-weighted power per channel.

    Decoding and mixing happen once. The plan reads only the control records; the encode pass
    reads the samples back in blocks, so memory stays flat however long the episode is.
    """

    path: Path
    controls: Path
    steps: int
    shape: LimiterShape
    channels: int
    sample_rate: int
    frames: int
    sub_powers: NDArray[np.float64]
    weight: float

    @property
    def hop(self) -> int:
        return round(SUB_BLOCK_SECONDS * self.sample_rate)

    def blocks(
        self, start: int = 0, stop: int | None = None, block_frames: int = BLOCK_FRAMES
    ) -> Iterator[Block]:
        stop = self.frames if stop is None else min(stop, self.frames)
        with open(self.path, "rb") as handle:
            handle.seek(start * 4 * self.channels)
            position = start
            while position < stop:
                count = min(block_frames, stop - position)
                data = np.fromfile(handle, dtype="<f4", count=count * self.channels)
                if not len(data):
                    break
                yield data.reshape(-1, self.channels)
                position += len(data) // self.channels


def record_programme(
    blocks: Iterable[Block],
    folder: Path,
    channels: int,
    sample_rate: int,
    *,
    dual_mono: bool,
    progress: Progress | None,
    total_seconds: float,
) -> tuple[Measurement, Programme]:
    """The first pass: measure, and keep the samples and control records for what follows."""
    shape = LimiterShape.for_rate(sample_rate)
    cache, controls = folder / "programme.f32", folder / "controls.f32"
    with open(cache, "wb") as samples, open(controls, "wb") as records:
        recorder = ControlRecorder(channels, shape.step, records)
        meter = LoudnessMeter(
            channels,
            sample_rate,
            dual_mono=dual_mono,
            true_peak=False,
            on_energy=recorder.add_energy,
        )
        for block in blocks:
            samples.write(block.tobytes())
            meter.add(block)
            recorder.add_samples(block)
            if progress:
                progress("measuring", meter.frames / sample_rate, total_seconds)
        recorder.finish()
    programme = Programme(
        path=cache,
        controls=controls,
        steps=recorder.steps,
        shape=shape,
        channels=channels,
        sample_rate=sample_rate,
        frames=meter.frames,
        sub_powers=meter.sub_block_powers(),
        weight=meter.weight,
    )
    measured = dataclasses.replace(
        meter.result(),
        true_peak_dbtp=db(recorder.true_peak),
        sample_peak_dbfs=db(recorder.sample_peak),
    )
    return measured, programme
