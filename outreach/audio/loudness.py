"""BS.1770-4 loudness, true peak and loudness range of streamed float blocks (numpy and SciPy only).

* Loudness: K-weighting (two biquads, filter state carried across blocks), 400 ms blocks with 75 %
  overlap built from 100 ms sub-block powers, the absolute gate at -70 LUFS and the relative gate
  at -10 LU. Only the sub-block powers are kept (36 000 numbers for an hour), never the samples.
* True peak (Annex 2): 4x oversampling with the Recommendation's 48-tap interpolation filter,
  streamed with a 12-sample overlap between blocks. The limiter's envelope uses the same filter.
* Loudness range follows EBU Tech 3342 (3 s short-term windows at 10 Hz, -20 LU relative gate,
  10th to 95th percentile), so the output can be shown to keep the dynamics of the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

SUB_BLOCK_SECONDS = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0

# ITU-R BS.1770-4 Annex 2: the 48-tap interpolating FIR, four phases of twelve taps.
_TP_PHASE_0 = [
    0.0017089843750,
    0.0109863281250,
    -0.0196533203125,
    0.0332031250000,
    -0.0594482421875,
    0.1373291015625,
    0.9721679687500,
    -0.1022949218750,
    0.0476074218750,
    -0.0266113281250,
    0.0148925781250,
    -0.0083007812500,
]
_TP_PHASE_1 = [
    -0.0291748046875,
    0.0292968750000,
    -0.0517578125000,
    0.0891113281250,
    -0.1665039062500,
    0.4650878906250,
    0.7797851562500,
    -0.2003173828125,
    0.1015625000000,
    -0.0582275390625,
    0.0330810546875,
    -0.0189208984375,
]
TRUE_PEAK_PHASES = np.array(
    [_TP_PHASE_0, _TP_PHASE_1, _TP_PHASE_1[::-1], _TP_PHASE_0[::-1]], dtype=np.float64
)
# The prototype filter, interleaved: h[4k + p] = phase p, tap k.
TRUE_PEAK_FIR = TRUE_PEAK_PHASES.T.reshape(-1)
_TP_TAPS = TRUE_PEAK_PHASES.shape[1]
_TP_PHASES_REVERSED = TRUE_PEAK_PHASES[:, ::-1].astype(np.float32)
# No interpolated value can exceed the largest input sample in reach times this (exact bound), so
# blocks whose samples stay below running_peak / _TP_BOUND need no oversampling at all.
_TP_BOUND = float(np.abs(TRUE_PEAK_PHASES).sum(axis=1).max())


def k_weighting_sos(sample_rate: int) -> NDArray[np.float64]:
    """The BS.1770 K-weighting (high shelf + high pass) as two biquads for any sample rate.

    The 48 kHz coefficients of the Recommendation come from these analogue prototypes (the same
    derivation libebur128 uses), so other rates get the same response.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf_b = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    ]
    shelf_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    pass_b = [1.0, -2.0, 1.0]
    pass_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf_b + shelf_a, pass_b + pass_a], dtype=np.float64)


def _lufs(power: float) -> float:
    return -0.691 + 10.0 * math.log10(power) if power > 0 else -math.inf


def db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


@dataclass(frozen=True)
class Measurement:
    """One BS.1770 / EBU Tech 3342 measurement of a whole programme."""

    integrated_lufs: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    loudness_range_lu: float
    duration_seconds: float
    channels: int
    sample_rate: int

    def describe(self) -> str:
        return (
            f"{self.integrated_lufs:.1f} LUFS, true peak {self.true_peak_dbtp:.1f} dBTP, "
            f"LRA {self.loudness_range_lu:.1f} LU, {self.duration_seconds:.1f} s"
        )


class TruePeakMeter:
    """Streaming 4x-oversampled true peak (BS.1770-4 Annex 2), exact, with a cheap skip test."""

    def __init__(self, channels: int) -> None:
        self._history = np.zeros((_TP_TAPS, channels), dtype=np.float64)
        self.peak = 0.0
        self.sample_peak = 0.0

    def add(self, block: NDArray[Any]) -> None:
        if not len(block):
            return
        context = np.concatenate([self._history, block.astype(np.float64, copy=False)])
        self._history = context[-_TP_TAPS:]
        magnitude = _channel_peak(context)
        self.sample_peak = max(self.sample_peak, float(magnitude.max()))
        self.peak = max(self.peak, self.sample_peak)
        for start, stop in _hot_segments(magnitude, self.peak / _TP_BOUND):
            low, high = max(0, start - _TP_TAPS), min(len(context), stop + _TP_TAPS)
            self.peak = max(self.peak, _oversampled_peak(context[low:high]))

    def finish(self) -> float:
        tail = np.concatenate([self._history, np.zeros_like(self._history)])
        if float(np.abs(self._history).max()) * _TP_BOUND > self.peak:
            self.peak = max(self.peak, _oversampled_peak(tail))
        return self.peak


def _channel_peak(frames: NDArray[Any]) -> NDArray[Any]:
    """Per frame, the largest magnitude over the channels (column-wise: numpy's axis=1
    reductions over two columns are slow)."""
    peak = np.abs(frames[:, 0])
    for channel in range(1, frames.shape[1]):
        np.maximum(peak, np.abs(frames[:, channel]), out=peak)
    return np.asarray(peak)


def _hot_segments(
    magnitude: NDArray[np.float64], threshold: float, chunk: int = 256
) -> list[tuple[int, int]]:
    """Index ranges (whole chunks, widened by one chunk each side) where `magnitude` > threshold.

    Only there can the interpolated signal reach threshold * _TP_BOUND, so only there is the
    (costly) oversampling done; the result is the same as oversampling everything.
    """
    n = len(magnitude)
    padded = np.concatenate([magnitude, np.zeros((-n) % chunk)])
    over = padded.reshape(-1, chunk).max(axis=1) > threshold
    if not over.any():
        return []
    hot = over.copy()
    hot[1:] |= over[:-1]
    hot[:-1] |= over[1:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    return [
        (int(a) * chunk, min(n, int(b) * chunk))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def _oversampled_peak(context: NDArray[np.float64]) -> float:
    """The largest 4x-interpolated magnitude of `context` where the filter has full support."""
    values = _interpolated_envelope(context)[_TP_TAPS // 2 - 1 : len(context) - _TP_TAPS // 2]
    return float(values.max()) if len(values) else 0.0


class LoudnessMeter:
    """Integrated loudness, loudness range and true peak of a stream of float blocks."""

    def __init__(
        self,
        channels: int,
        sample_rate: int,
        *,
        dual_mono: bool = False,
        true_peak: bool = True,
        on_energy: Callable[[NDArray[np.float64]], None] | None = None,
    ) -> None:
        self.channels = channels
        self.sample_rate = sample_rate
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, channels), dtype=np.float64)
        self._hop = round(SUB_BLOCK_SECONDS * sample_rate)
        self._partial = np.zeros(channels, dtype=np.float64)
        self._partial_count = 0
        self._sub_blocks: list[NDArray[np.float64]] = []
        # A mono programme is played on both earphones: BS.1770 then counts it twice (+3.01 dB).
        self._weight = 2.0 if (dual_mono and channels == 1) else 1.0
        self._peak = TruePeakMeter(channels) if true_peak else None
        # Called with every block's K-weighted squares summed over the channels.
        self._on_energy = on_energy
        self.frames = 0

    def add(self, block: NDArray[Any]) -> None:
        if not len(block):
            return
        from scipy import signal

        self.frames += len(block)
        if self._peak is not None:
            self._peak.add(block)
        filtered, self._zi = signal.sosfilt(
            self._sos, block.astype(np.float64, copy=False), axis=0, zi=self._zi
        )
        squares = filtered * filtered
        if self._on_energy is not None:
            summed = squares[:, 0].copy()
            for channel in range(1, self.channels):
                summed += squares[:, channel]
            self._on_energy(summed)
        start = 0
        if self._partial_count:
            take = min(self._hop - self._partial_count, len(squares))
            self._partial += squares[:take].sum(axis=0)
            self._partial_count += take
            start = take
            if self._partial_count == self._hop:
                self._sub_blocks.append(self._partial[None, :] / self._hop)
                self._partial = np.zeros(self.channels, dtype=np.float64)
                self._partial_count = 0
        whole = (len(squares) - start) // self._hop
        if whole:
            chunk = squares[start : start + whole * self._hop]
            self._sub_blocks.append(chunk.reshape(whole, self._hop, self.channels).mean(axis=1))
            start += whole * self._hop
        if start < len(squares):
            self._partial += squares[start:].sum(axis=0)
            self._partial_count += len(squares) - start

    @property
    def weight(self) -> float:
        """How much each channel's power counts (2 for a mono programme measured as dual mono)."""
        return self._weight

    def sub_block_powers(self) -> NDArray[np.float64]:
        """Mean-square K-weighted power of every whole 100 ms sub-block so far, per channel."""
        if not self._sub_blocks:
            return np.zeros((0, self.channels), dtype=np.float64)
        return np.concatenate(self._sub_blocks)

    def result(self) -> Measurement:
        subs = self.sub_block_powers()
        true_peak = self._peak.finish() if self._peak is not None else 0.0
        sample_peak = self._peak.sample_peak if self._peak is not None else 0.0
        return Measurement(
            integrated_lufs=integrated_lufs(subs, self._weight),
            true_peak_dbtp=db(true_peak),
            sample_peak_dbfs=db(sample_peak),
            loudness_range_lu=_loudness_range(_window_powers(subs, 30, self._weight)),
            duration_seconds=self.frames / self.sample_rate,
            channels=self.channels,
            sample_rate=self.sample_rate,
        )


def _window_powers(
    sub_blocks: NDArray[np.float64], size: int, weight: float
) -> NDArray[np.float64]:
    """Channel-summed mean-square power of every window of `size` sub-blocks (hop: one)."""
    summed = sub_blocks.sum(axis=1) * weight
    if len(summed) < size:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(summed)])
    return np.asarray((cumulative[size:] - cumulative[:-size]) / size)


def integrated_lufs(sub_blocks: NDArray[np.float64], weight: float) -> float:
    """BS.1770 gated integrated loudness from 100 ms sub-block powers (400 ms blocks, 75 %)."""
    return _gated_loudness(_window_powers(sub_blocks, 4, weight), RELATIVE_GATE_LU)


def _gated_loudness(powers: NDArray[np.float64], relative_lu: float) -> float:
    absolute = powers[powers > 10.0 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10.0)]
    if not len(absolute):
        return -math.inf
    threshold = 10.0 ** ((_lufs(float(absolute.mean())) + relative_lu + 0.691) / 10.0)
    gated = absolute[absolute > threshold]
    return _lufs(float(gated.mean())) if len(gated) else -math.inf


def _loudness_range(short_term: NDArray[np.float64]) -> float:
    absolute = short_term[short_term > 10.0 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10.0)]
    if len(absolute) < 2:
        return 0.0
    threshold = 10.0 ** ((_lufs(float(absolute.mean())) + LRA_RELATIVE_GATE_LU + 0.691) / 10.0)
    gated = absolute[absolute > threshold]
    if len(gated) < 2:
        return 0.0
    levels = -0.691 + 10.0 * np.log10(gated)
    low, high = np.percentile(levels, [10, 95])
    return float(high - low)


def frame_envelope(context: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per frame i: the largest magnitude of sample i and of the interpolated values up to i + 1."""
    return np.asarray(np.maximum(_channel_peak(context), _interpolated_envelope(context)))


def _interpolated_envelope(context: NDArray[Any]) -> NDArray[np.float32]:
    """Per sample i: the largest 4x-interpolated magnitude between samples i and i + 1.

    Samples outside `context` count as silence. Each phase of the filter is twelve shifted
    multiply-adds over the whole block in float32, about three times faster than upfirdn.
    """
    frames, channels = context.shape
    padded = np.zeros((frames + _TP_TAPS - 1, channels), dtype=np.float32)
    # Value i of a phase needs samples i - 5 to i + 6.
    before = _TP_TAPS // 2 - 1
    padded[before : before + frames] = context
    peak = np.zeros((frames, channels), dtype=np.float32)
    total = np.empty_like(peak)
    product = np.empty_like(peak)
    for taps in _TP_PHASES_REVERSED:
        np.multiply(padded[:frames], taps[0], out=total)
        for tap in range(1, _TP_TAPS):
            np.multiply(padded[tap : tap + frames], taps[tap], out=product)
            total += product
        np.abs(total, out=total)
        np.maximum(peak, total, out=peak)
    return np.asarray(_channel_peak(peak))
