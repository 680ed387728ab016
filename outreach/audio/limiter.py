"""The true-peak limiter of `episode normalize`, and the plan that solves for its make-up gain.

The limiter works at a control rate. The programme is cut into control steps of about 1 ms (a
whole number of them in each 100 ms sub-block), and the first pass (`programme`) keeps, per
step, what does not depend on the gain: the step's true-peak envelope, and its K-weighted
energy split three ways for a gain that ramps linearly across the step (ControlRecorder). The
limiter's gain is computed per step (hold, release, smoothing) and interpolated linearly between
steps. A pass at a given gain therefore works on 3.5 million steps for an hour instead of 160
million samples, and predicts the loudness of the limited programme without touching its
samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from outreach.audio.loudness import db, integrated_lufs
from outreach.audio.programme import BLOCK_FRAMES, RECORD_FIELDS, Programme, Progress
from outreach.errors import AudioError

# Solving for the gain: stop within this of the target (or when the bracket is this narrow);
# the limiter's loss is at most MAX_MAKEUP_DB of make-up gain (beyond it the audio is all peaks
# and no gain helps).
PLAN_TOLERANCE_LU = 0.01
PLAN_TOLERANCE_DB = 0.001
PLAN_MAX_PASSES = 30
MAX_MAKEUP_DB = 24.0
# How many control steps a pass of the plan reads at a time (about 2 minutes at 44.1 kHz).
PLAN_SEGMENT_STEPS = 1 << 17


@dataclass
class LimiterStats:
    frames: int = 0
    limited_frames: int = 0
    max_reduction_db: float = 0.0

    @property
    def limited_share(self) -> float:
        return self.limited_frames / self.frames if self.frames else 0.0


@dataclass
class Plan:
    """The limiter at one gain: the loudness it leaves, and (when kept) its gain per control step
    in `gains` (float32, one value more than there are steps), which the encode pass applies."""

    gain_db: float
    limit_dbtp: float
    lufs: float
    stats: LimiterStats
    gains: Path | None = None


def limiter_pass(
    programme: Programme, gain_db: float, limit_dbtp: float, keep: Path | None = None
) -> Plan:
    """The limiter's gain per control step at `gain_db`, and the integrated loudness it leaves.

    Works through the control records in segments (memory stays flat): a step needs
    min(0, ceiling - gain - envelope) dB; that is held over `hold` steps either side (a minimum
    filter), released at `release_db` per step (a running minimum against a ramp, carried across
    segments) and averaged over the look-ahead. The energy under the interpolated gain comes
    from the recorded A, B, C. Applying the gain after the K-weighting instead of before is the
    one approximation: the gain moves over milliseconds, and what it moves is mostly energy far
    above the filter's 38 Hz high-pass. Measured against the limited samples it is within
    0.0012 LU on the fixtures and 0.0006 LU on an hour of speech; the tests bound it at 0.005.
    """
    from scipy import ndimage

    shape = programme.shape
    steps, hold, width = programme.steps, shape.hold, shape.lookahead + 1
    per_sub = programme.hop // shape.step
    subs = len(programme.sub_powers)
    energy = np.zeros(subs, dtype=np.float64)
    headroom = limit_dbtp - gain_db
    released = 0.0
    tail = np.zeros(shape.lookahead, dtype=np.float64)  # reductions (1 - gain) of the last steps
    carried: tuple[float, NDArray[np.float32]] | None = None  # the last step, awaiting the next
    stats = LimiterStats(frames=programme.frames)
    lowest = 1.0
    record_bytes = 4 * RECORD_FIELDS
    with open(programme.controls, "rb") as records, contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(keep, "wb")) if keep is not None else None
        for first in range(0, steps, PLAN_SEGMENT_STEPS):
            last = min(steps, first + PLAN_SEGMENT_STEPS)
            low, high = max(0, first - hold), min(steps, last + hold)
            records.seek(low * record_bytes)
            rows = np.fromfile(records, dtype="<f4", count=(high - low) * RECORD_FIELDS)
            rows = rows.reshape(-1, RECORD_FIELDS)
            needed = np.minimum(0.0, headroom - rows[:, 0].astype(np.float64))
            held = ndimage.minimum_filter1d(needed, 2 * hold + 1, mode="constant", cval=0.0)
            if first == 0:
                tail = _lead_in(needed, shape.lookahead)
            held = held[first - low : last - low]
            ramp = shape.release_db * np.arange(1, len(held) + 1)
            release = ramp + np.minimum(np.minimum.accumulate(held - ramp), released)
            released = float(release[-1])
            # Averaging the reduction (1 - gain) keeps untouched steps at exactly 1.
            reduction = np.concatenate([tail, 1.0 - 10.0 ** (release / 20.0)])
            cumulative = np.concatenate([[0.0], np.cumsum(reduction)])
            gain = 1.0 - np.clip((cumulative[width:] - cumulative[:-width]) / width, 0.0, 1.0)
            tail = reduction[len(reduction) - shape.lookahead :]
            if sink is not None:
                sink.write(gain.astype("<f4").tobytes())
            lowest = min(lowest, float(gain.min()))
            stats.limited_frames += int(np.count_nonzero(gain < 0.9999)) * shape.step
            weights = rows[first - low : last - low, 1:]
            if carried is not None:
                gain = np.concatenate([[carried[0]], gain])
                weights = np.concatenate([carried[1][None, :], weights])
            index = np.arange(last - len(gain), last - 1)
            here, after = gain[:-1], gain[1:]
            w = weights[:-1].astype(np.float64)
            step_energy = w[:, 0] * here * here + 2.0 * w[:, 1] * here * after
            step_energy += w[:, 2] * after * after
            _add_energy(energy, index // per_sub, step_energy)
            carried = (float(gain[-1]), weights[-1])
        if carried is not None:  # the last step: its gain holds to the end
            final, weight = carried
            _add_energy(
                energy,
                np.array([steps - 1]) // per_sub,
                np.array([float(weight[0] + 2.0 * weight[1] + weight[2]) * final * final]),
            )
            if sink is not None:
                sink.write(np.array([final], dtype="<f4").tobytes())
    stats.max_reduction_db = -db(lowest) if lowest < 1.0 else 0.0
    linear = 10.0 ** (gain_db / 20.0)
    powers = energy * (linear * linear / programme.hop)
    lufs = integrated_lufs(powers[:, None], programme.weight)
    return Plan(gain_db, limit_dbtp, lufs, stats, keep)


def _lead_in(needed: NDArray[np.float64], lookahead: int) -> NDArray[np.float64]:
    """The reductions of the `lookahead` steps before the first one, as the average sees them.

    A transient in the first milliseconds has no earlier steps for the gain to ramp down over;
    counting them as untouched let such a burst through with a quarter of its reduction. Each
    of these virtual steps is held like a real one: it needs what the first steps within its
    hold need, so the programme starts already down as far as they require.
    """
    reach = np.minimum.accumulate(needed[: lookahead + 1])
    reach = np.concatenate([reach, np.full(lookahead + 1 - len(reach), reach[-1])])
    return np.asarray(1.0 - 10.0 ** (reach[1:] / 20.0))


def _add_energy(
    energy: NDArray[np.float64], sub_block: NDArray[np.intp], values: NDArray[np.float64]
) -> None:
    """Add per-step energy to its sub-block; steps in the last, partial sub-block don't count."""
    inside = sub_block < len(energy)
    energy += np.bincount(sub_block[inside], weights=values[inside], minlength=len(energy))


def solve_gain(
    programme: Programme,
    target_lufs: float,
    limit_dbtp: float,
    progress: Progress | None,
    keep: Path,
) -> tuple[Plan, int]:
    """The static gain whose limited programme measures `target_lufs`, and the passes it took.

    The loudness only grows with the gain, and the limiter only takes loudness off: the gain
    lies between the unlimited one and MAX_MAKEUP_DB above it. A pass costs a fraction of a
    second, so the root is found to PLAN_TOLERANCE_LU (regula falsi, Illinois variant); the
    final pass keeps the limiter's gains for the encode.
    """
    source = integrated_lufs(programme.sub_powers, programme.weight)
    low = target_lufs - source
    passes = 0

    def miss(gain_db: float) -> float:
        nonlocal passes
        passes += 1
        if progress:
            progress("planning the limiter", passes, passes + 1)
        return limiter_pass(programme, gain_db, limit_dbtp).lufs - target_lufs

    gain_db = low
    shortfall = miss(low)
    if shortfall < -PLAN_TOLERANCE_LU:
        # Bracket the root, starting from twice the loss at the unlimited gain.
        most = low + MAX_MAKEUP_DB
        high = min(most, low - 2.0 * shortfall)
        above = miss(high)
        while above < 0 and high < most:
            low, shortfall, high = high, above, min(most, high + (high - low) - 2.0 * above)
            above = miss(high)
        # Out of reach under this ceiling (above < 0): as loud as it gets.
        gain_db = high if above < 0 else _regula_falsi(miss, low, shortfall, high, above)
    plan = limiter_pass(programme, gain_db, limit_dbtp, keep)
    passes += 1
    if progress:
        progress("planning the limiter", passes, passes)
    return plan, passes


def _regula_falsi(
    miss: Callable[[float], float], low: float, at_low: float, high: float, at_high: float
) -> float:
    """The root of an increasing `miss` bracketed by low (< 0) and high (>= 0), to within
    PLAN_TOLERANCE_LU of it (Illinois: the end that keeps its place has its value halved)."""
    side = 0
    guess = high
    for _ in range(PLAN_MAX_PASSES):
        guess = (low * at_high - high * at_low) / (at_high - at_low)
        value = miss(guess)
        if abs(value) <= PLAN_TOLERANCE_LU or high - low <= PLAN_TOLERANCE_DB:
            break
        if value < 0:
            low, at_low = guess, value
            if side < 0:
                at_high /= 2.0
            side = -1
        else:
            high, at_high = guess, value
            if side > 0:
                at_low /= 2.0
            side = 1
    return guess


def limited_blocks(programme: Programme, plan: Plan) -> Iterator[NDArray[Any]]:
    """The programme with the plan's gain and its limiter, the gain interpolated between steps."""
    if plan.gains is None:
        raise AudioError("the plan kept no limiter gains")
    step = programme.shape.step
    position = np.arange(step, dtype=np.float32) / step
    scale = np.float32(10.0 ** (plan.gain_db / 20.0))
    with open(plan.gains, "rb") as gains:
        previous = np.fromfile(gains, dtype="<f4", count=1)
        for block in programme.blocks(block_frames=max(1, BLOCK_FRAMES // step) * step):
            count = -(-len(block) // step)
            following = np.fromfile(gains, dtype="<f4", count=count)
            if len(following) != count or not len(previous):
                raise AudioError("the limiter's temporary file is short")
            points = np.concatenate([previous, following])
            here = points[:-1, None]
            curve = (here + (points[1:, None] - here) * position).reshape(-1)[: len(block)]
            previous = following[-1:]
            yield block * (curve * scale)[:, None]
