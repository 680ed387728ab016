"""The one module that decodes, measures, limits, encodes and tags audio.

Everything streams: ffmpeg decodes to 32-bit float PCM on a pipe, read in blocks of about 1.5 s,
so a 60-minute episode is never in memory whole.

* Loudness follows ITU-R BS.1770-4: K-weighting (two biquads, filter state carried across
  blocks), 400 ms blocks with 75 % overlap built from 100 ms sub-block powers, the absolute gate at
  -70 LUFS and the relative gate at -10 LU. Only the sub-block powers are kept (36 000 numbers for
  an hour), never the samples.
* True peak follows BS.1770-4 Annex 2: 4x oversampling with the Recommendation's 48-tap
  interpolation filter, streamed with a 12-sample overlap between blocks.
* Loudness range follows EBU Tech 3342 (3 s short-term windows at 10 Hz, -20 LU relative gate,
  10th to 95th percentile), so the output can be shown to keep the dynamics of the input.

Normalisation is linear: one static gain to the target, then a look-ahead true-peak limiter that
only touches the peaks (its gain computed per 1 ms control step), then libmp3lame. ffmpeg's `loudnorm` is not used: in its "linear" mode it
silently falls back to dynamic compression (and 192 kHz resampling) whenever the gain would push the
peaks over the ceiling, which is the usual case for speech. The encoded file is decoded and measured
again, and both measurements are reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from outreach.chapters import Chapter
from outreach.errors import AudioError, ValidationError
from outreach.fsutil import atomic_path

BLOCK_FRAMES = 1 << 16
SUB_BLOCK_SECONDS = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
# libmp3lame puts peaks above the limited PCM it is fed: about 0.3-0.8 dB on speech, and now and
# then (a deep, fast cut on a transient) nearly 2 dB. The limiter aims this far below the
# ceiling; the measurement of the encoded stream catches the file that still peaks over, and the
# encode is redone with the limiter lowered by the measured excess.
ENCODER_HEADROOM_DB = 1.0
# The overshoot grows with how deep the limiter cuts (measured on the benchmark's speech: 0.7 dB
# at 11 dB of cut over 10 minutes, 1-1.9 dB at 13-15 dB, 2 dB at 17 dB over an hour): beyond
# DEEP_CUT_DB of cut the limiter aims this much lower per dB. A retry after a peak over the
# ceiling lowers the limiter by the excess and this margin (the overshoot is erratic).
DEEP_CUT_DB = 10.0
DEEP_CUT_HEADROOM_PER_DB = 0.2
DEEP_CUT_MAX_EXTRA_DB = 1.5
RETRY_PEAK_MARGIN_DB = 0.3
# libmp3lame (through ffmpeg) plays back about 0.45 dB quieter than the PCM it was given, even
# for a pure tone: the plan aims the PCM this much higher, and a retry uses the measured offset.
MP3_LEVEL_OFFSET_DB = 0.45
# libmp3lame's encoder delay (576 + the decoder's 529 samples), which its LAME header tells
# decoders to skip.
MP3_ENCODER_DELAY_FRAMES = 1105
LIMITER_LOOKAHEAD_SECONDS = 0.003
LIMITER_RELEASE_DB_PER_SECOND = 300.0
# The encode is redone only when the MP3 misses the target by more than this (the target is
# +-0.5 LU; the margin covers the spread between meters).
LOUDNESS_TOLERANCE_LU = 0.4
MAX_ATTEMPTS = 3
# Solving for the gain: stop within this of the target (or when the bracket is this narrow);
# the limiter's loss is at most MAX_MAKEUP_DB of make-up gain (beyond it the audio is all peaks
# and no gain helps).
PLAN_TOLERANCE_LU = 0.01
PLAN_TOLERANCE_DB = 0.001
PLAN_MAX_PASSES = 30
MAX_MAKEUP_DB = 24.0
# The limiter's control step (rounded to a divisor of the 100 ms sub-block), and how many steps
# a pass of the plan reads at a time (about 2 minutes at 44.1 kHz).
CONTROL_STEP_SECONDS = 0.001
PLAN_SEGMENT_STEPS = 1 << 17

Block = NDArray[np.float32]
# Called with (step name, seconds of audio done in that step, seconds in all).
Progress = Callable[[str, float, float], None]

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


# --------------------------------------------------------------------------------------------
# ffmpeg


def ffmpeg_exe() -> str:
    """ffmpeg from PATH, else the binary shipped in the imageio-ffmpeg wheel (it has no ffprobe)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class AudioInfo:
    """What `probe` learnt by decoding a whole file."""

    path: Path
    codec: str
    channels: int
    sample_rate: int
    duration_seconds: float


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "5.0": 5, "5.1": 6}


def _last_error_line(text: str) -> str:
    """The most telling line of ffmpeg's stderr, without its `[component @ 0x...]` prefixes."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip() for line in text.splitlines()]
    lines = [
        line
        for line in lines
        if line and line != "Conversion failed!" and not line.startswith(("Input #", "Output #"))
    ]
    for line in lines:
        if re.search(r"(?i)invalid|error|corrupt|failed|missing", line):
            return line
    return lines[-1] if lines else "ffmpeg failed"


def probe(path: Path) -> AudioInfo:
    """Decode the whole first audio stream to nothing: refuses empty, non-audio and corrupt files.

    Decoding (rather than reading headers) is what finds a file that is damaged in the middle.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValidationError(f"{path}: the file is empty")
    command = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-xerror",
        "-err_detect",
        "crccheck+bitstream+buffer+explode",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-",
    ]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    stderr = result.stderr
    match = _STREAM_RE.search(stderr)
    if match is None or "matches no streams" in stderr:
        if "Invalid data found" in stderr and match is None and "Input #0" not in stderr:
            raise ValidationError(f"{path}: not an audio file ffmpeg can read")
        raise ValidationError(f"{path}: not an audio file (no audio stream)")
    if result.returncode != 0:
        raise ValidationError(f"{path}: corrupt audio ({_last_error_line(stderr)})")
    codec, rate, channels = _stream_info(path, stderr) or ("", 0, 0)
    times = re.findall(r"out_time_us=(\d+)", result.stdout)
    duration = int(times[-1]) / 1e6 if times else 0.0
    if duration <= 0:
        raise ValidationError(f"{path}: contains no audio samples")
    return AudioInfo(path, codec, channels, rate, duration)


def _stream_info(path: Path, stderr: str) -> tuple[str, int, int] | None:
    match = _STREAM_RE.search(stderr)
    if match is None:
        return None
    codec, rate, layout = match.group(1), int(match.group(2)), match.group(3).strip()
    channels = _LAYOUT_CHANNELS.get(layout.split("(")[0].strip())
    if channels is None:
        counted = re.match(r"(\d+) channels", layout)
        channels = int(counted.group(1)) if counted else 2
    return codec, rate, channels


def probe_header(path: Path) -> AudioInfo:
    """Channels, rate and (container) duration from the header only: quick, for planning."""
    result = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    info = _stream_info(path, result.stderr)
    if info is None:
        raise AudioError(f"{path}: not an audio file (no audio stream)")
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    duration = (
        int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))
        if found
        else 0.0
    )
    return AudioInfo(Path(path), info[0], info[2], info[1], duration)


@contextlib.contextmanager
def _stderr_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as handle:
        yield handle


def _read_stderr(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def decode_blocks(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    block_frames: int = BLOCK_FRAMES,
) -> Iterator[Block]:
    """Yield float32 blocks of shape (frames, channels); several sources are mixed (summed).

    Tracks recorded in one session are summed sample by sample (ffmpeg `amix` with
    `normalize=0`, so the mix is the plain sum and the loudness stage sets the level).
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error"]
    for source in sources:
        command += ["-i", str(source)]
    if len(sources) > 1:
        inputs = "".join(f"[{i}:a:0]" for i in range(len(sources)))
        command += [
            "-filter_complex",
            f"{inputs}amix=inputs={len(sources)}:duration=longest:normalize=0[mix]",
            "-map",
            "[mix]",
        ]
    else:
        command += ["-map", "0:a:0"]
    command += ["-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "-c:a", "pcm_f32le"]
    command += ["pipe:1"]
    frame_bytes = 4 * channels
    with _stderr_file() as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        assert process.stdout is not None
        completed = False
        try:
            want = block_frames * frame_bytes
            while True:
                data = process.stdout.read(want)
                if not data:
                    break
                usable = len(data) - len(data) % frame_bytes
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
            completed = True
        finally:
            process.stdout.close()
            if not completed:
                process.kill()
            code = process.wait()
        if code != 0:
            names = ", ".join(str(s) for s in sources)
            raise AudioError(f"could not decode {names}: {_last_error_line(_read_stderr(err))}")


# --------------------------------------------------------------------------------------------
# Measuring


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


def _db(amplitude: float) -> float:
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
            integrated_lufs=_integrated_lufs(subs, self._weight),
            true_peak_dbtp=_db(true_peak),
            sample_peak_dbfs=_db(sample_peak),
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


def _integrated_lufs(sub_blocks: NDArray[np.float64], weight: float) -> float:
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


def measure(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    *,
    dual_mono: bool = False,
    progress: Progress | None = None,
    step: str = "measuring",
    total_seconds: float = 0.0,
) -> Measurement:
    """Decode and measure (the first pass, and the check on the encoded file)."""
    meter = LoudnessMeter(channels, sample_rate, dual_mono=dual_mono)
    for block in decode_blocks(sources, channels, sample_rate):
        meter.add(block)
        if progress:
            progress(step, meter.frames / sample_rate, total_seconds)
    return meter.result()


# --------------------------------------------------------------------------------------------
# Limiting
#
# The limiter works at a control rate. The programme is cut into control steps of about 1 ms (a
# whole number of them in each 100 ms sub-block), and the first pass keeps, per step, what does
# not depend on the gain: the step's true-peak envelope, and its K-weighted energy split three
# ways for a gain that ramps linearly across the step (_ControlRecorder). The limiter's gain is
# computed per step (hold, release, smoothing) and interpolated linearly between steps. A pass
# at a given gain therefore works on 3.5 million steps for an hour instead of 160 million
# samples, and predicts the loudness of the limited programme without touching its samples.


@dataclass
class LimiterStats:
    frames: int = 0
    limited_frames: int = 0
    max_reduction_db: float = 0.0

    @property
    def limited_share(self) -> float:
        return self.limited_frames / self.frames if self.frames else 0.0


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
_RECORD_FIELDS = 4


def _frame_envelope(context: NDArray[np.float64]) -> NDArray[np.float64]:
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


class _ControlRecorder:
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
        self._take_envelope(_frame_envelope(context)[_ENVELOPE_LAG : _ENVELOPE_LAG + ready])
        self._history = context[ready : ready + _ENVELOPE_LAG]
        self._pending = pending[ready:]
        self._write()

    def finish(self) -> None:
        if len(self._pending):
            context = np.concatenate([self._history, self._pending, np.zeros_like(self._history)])
            count = len(self._pending)
            self._take_envelope(_frame_envelope(context)[_ENVELOPE_LAG : _ENVELOPE_LAG + count])
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
        records = np.empty((count, _RECORD_FIELDS), dtype="<f4")
        records[:, 0] = 20.0 * np.log10(np.maximum(peaks, 1e-10))
        records[:, 1:] = energy
        self._sink.write(records.tobytes())
        self.steps += count
        self._envelope = self._envelope[frames:]
        self._energy = self._energy[frames:]


# --------------------------------------------------------------------------------------------
# Encoding and tagging


@dataclass(frozen=True)
class Tags:
    """ID3v2.4 tags written into the MP3."""

    title: str
    show: str
    author: str
    year: int | None = None
    language: str = "swe"
    summary: str | None = None
    number: int | None = None
    season: int | None = None
    cover: Path | None = None
    chapters: Sequence[Chapter] = ()


@dataclass
class NormalizeReport:
    """What `normalize_loudness` did: both measurements, the gain and what the limiter touched."""

    before: Measurement
    after: Measurement
    gain_db: float
    target_lufs: float
    ceiling_dbtp: float
    limiter: LimiterStats
    output: Path
    byte_size: int
    attempts: int = 1
    # Loudness the limited PCM was predicted to have (before the encoder's level offset).
    predicted_lufs: float = -math.inf
    plan_passes: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The programme cache and the limiter plan


@dataclass
class _Programme:
    """The decoded (and mixed) programme as raw float32 in a temporary file, its control records
    (_ControlRecorder) in another, and per 100 ms sub-block its K-weighted power per channel.

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


def _record_programme(
    blocks: Iterable[Block],
    folder: Path,
    channels: int,
    sample_rate: int,
    *,
    dual_mono: bool,
    progress: Progress | None,
    total_seconds: float,
) -> tuple[Measurement, _Programme]:
    """The first pass: measure, and keep the samples and control records for what follows."""
    shape = LimiterShape.for_rate(sample_rate)
    cache, controls = folder / "programme.f32", folder / "controls.f32"
    with open(cache, "wb") as samples, open(controls, "wb") as records:
        recorder = _ControlRecorder(channels, shape.step, records)
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
    programme = _Programme(
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
        true_peak_dbtp=_db(recorder.true_peak),
        sample_peak_dbfs=_db(recorder.sample_peak),
    )
    return measured, programme


def _decode_to_cache(
    sources: Sequence[Path],
    folder: Path,
    channels: int,
    sample_rate: int,
    *,
    dual_mono: bool,
    progress: Progress | None,
    total_seconds: float,
) -> tuple[Measurement, _Programme]:
    """Decode once (mixing several tracks), measure, and cache the programme in `folder`."""
    return _record_programme(
        decode_blocks(sources, channels, sample_rate),
        folder,
        channels,
        sample_rate,
        dual_mono=dual_mono,
        progress=progress,
        total_seconds=total_seconds,
    )


@dataclass
class _Plan:
    """The limiter at one gain: the loudness it leaves, and (when kept) its gain per control step
    in `gains` (float32, one value more than there are steps), which the encode pass applies."""

    gain_db: float
    limit_dbtp: float
    lufs: float
    stats: LimiterStats
    gains: Path | None = None


def _limiter_pass(
    programme: _Programme, gain_db: float, limit_dbtp: float, keep: Path | None = None
) -> _Plan:
    """The limiter's gain per control step at `gain_db`, and the integrated loudness it leaves.

    Works through the control records in segments (memory stays flat): a step needs
    min(0, ceiling - gain - envelope) dB; that is held over `hold` steps either side (a minimum
    filter), released at `release_db` per step (a running minimum against a ramp, carried across
    segments) and averaged over the look-ahead. The energy under the interpolated gain comes
    from the recorded A, B, C. Applying the gain after the K-weighting instead of before is the
    one approximation (the gain moves over milliseconds, the filter's memory is shorter); the
    tests bound it.
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
    record_bytes = 4 * _RECORD_FIELDS
    with open(programme.controls, "rb") as records, contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(keep, "wb")) if keep is not None else None
        for first in range(0, steps, PLAN_SEGMENT_STEPS):
            last = min(steps, first + PLAN_SEGMENT_STEPS)
            low, high = max(0, first - hold), min(steps, last + hold)
            records.seek(low * record_bytes)
            rows = np.fromfile(records, dtype="<f4", count=(high - low) * _RECORD_FIELDS)
            rows = rows.reshape(-1, _RECORD_FIELDS)
            needed = np.minimum(0.0, headroom - rows[:, 0].astype(np.float64))
            held = ndimage.minimum_filter1d(needed, 2 * hold + 1, mode="constant", cval=0.0)
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
    stats.max_reduction_db = -_db(lowest) if lowest < 1.0 else 0.0
    linear = 10.0 ** (gain_db / 20.0)
    powers = energy * (linear * linear / programme.hop)
    lufs = _integrated_lufs(powers[:, None], programme.weight)
    return _Plan(gain_db, limit_dbtp, lufs, stats, keep)


def _add_energy(
    energy: NDArray[np.float64], sub_block: NDArray[np.intp], values: NDArray[np.float64]
) -> None:
    """Add per-step energy to its sub-block; steps in the last, partial sub-block don't count."""
    inside = sub_block < len(energy)
    energy += np.bincount(sub_block[inside], weights=values[inside], minlength=len(energy))


def _plan_gain(
    programme: _Programme,
    target_lufs: float,
    limit_dbtp: float,
    progress: Progress | None,
    keep: Path,
) -> tuple[_Plan, int]:
    """The static gain whose limited programme measures `target_lufs`, and the passes it took.

    The loudness only grows with the gain, and the limiter only takes loudness off: the gain
    lies between the unlimited one and MAX_MAKEUP_DB above it. A pass costs a fraction of a
    second, so the root is found to PLAN_TOLERANCE_LU (regula falsi, Illinois variant); the
    final pass keeps the limiter's gains for the encode.
    """
    source = _integrated_lufs(programme.sub_powers, programme.weight)
    low = target_lufs - source
    passes = 0

    def miss(gain_db: float) -> float:
        nonlocal passes
        passes += 1
        if progress:
            progress("planning the limiter", passes, passes + 1)
        return _limiter_pass(programme, gain_db, limit_dbtp).lufs - target_lufs

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
    plan = _limiter_pass(programme, gain_db, limit_dbtp, keep)
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


# --------------------------------------------------------------------------------------------
# Encoding (with the check of the encoded stream in the same pass)


def _pcm_blocks(stream: IO[bytes], channels: int, block_frames: int) -> Iterator[Block]:
    frame_bytes = 4 * channels
    want = block_frames * frame_bytes
    pending = b""
    while True:
        data = stream.read(want)
        if not data:
            break
        data = pending + data
        usable = len(data) - len(data) % frame_bytes
        pending = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)


def _encode_and_check(
    programme: _Programme,
    plan: _Plan,
    folder: Path,
    *,
    bitrate_kbps: int,
    dual_mono: bool,
    progress: Progress | None,
) -> tuple[Path, Measurement]:
    """Feed the planned (gained and limited) programme to libmp3lame; measure the MP3 as it is made.

    ffmpeg's tee muxer writes the encoded packets both to `folder/encoded.mp3` (seekable, so it
    gets its Xing/LAME header) and to a pipe into a second ffmpeg that decodes them again; that
    PCM is measured as it arrives, so the check of the encoded file costs no extra pass.
    """
    channels, rate = programme.channels, programme.sample_rate
    encoded = folder / "encoded.mp3"
    slave = "f=mp3:id3v2_version=0"
    encoder_command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0",
        "-map", "0:a", *_lame_arguments(bitrate_kbps, rate, channels),
        "-f", "tee", f"[{slave}:write_xing=1]{encoded.name}|[{slave}:write_xing=0]pipe:1",
    ]  # fmt: skip
    decoder_command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error",
        "-f", "mp3", "-i", "pipe:0", "-ac", str(channels), "-ar", str(rate),
        "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1",
    ]  # fmt: skip
    meter = LoudnessMeter(channels, rate, dual_mono=dual_mono)
    failures: list[BaseException] = []
    total_seconds = programme.frames / rate
    with _stderr_file() as encoder_err, _stderr_file() as decoder_err:
        encoder = subprocess.Popen(
            encoder_command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=encoder_err,
            cwd=folder,
        )
        decoder = subprocess.Popen(
            decoder_command, stdin=encoder.stdout, stdout=subprocess.PIPE, stderr=decoder_err
        )
        assert encoder.stdin is not None and encoder.stdout is not None
        assert decoder.stdout is not None
        encoder.stdout.close()  # the decoder holds it now
        sink = encoder.stdin

        def feed() -> None:
            done = 0
            try:
                for block in _planned_blocks(programme, plan):
                    sink.write(np.asarray(block, "<f4").tobytes())
                    done += len(block)
                    if progress:
                        progress("encoding", done / rate, total_seconds)
            except BrokenPipeError:
                pass  # the encoder stopped; its exit status and stderr tell why
            except BaseException as exc:  # re-raised in the calling thread
                failures.append(exc)
            finally:
                with contextlib.suppress(BrokenPipeError):
                    sink.close()

        feeder = threading.Thread(target=feed, name="mp3-feed", daemon=True)
        feeder.start()
        completed = False
        try:
            # The stream has no LAME header, so its decoder does not drop the encoder delay
            # (the file's decoder does): skip it, and the padding at the end, to measure
            # exactly the samples a player of the file plays.
            skip, wanted = MP3_ENCODER_DELAY_FRAMES, programme.frames
            for block in _pcm_blocks(decoder.stdout, channels, BLOCK_FRAMES):
                if skip:
                    dropped = min(skip, len(block))
                    block, skip = block[dropped:], skip - dropped
                block = block[: max(0, wanted - meter.frames)]
                meter.add(block)
            completed = True
        finally:
            if not completed:
                encoder.kill()
                decoder.kill()
            feeder.join()
            decoder.stdout.close()
            encoder_code, decoder_code = encoder.wait(), decoder.wait()
        if failures:
            raise failures[0]
        if encoder_code != 0:
            raise AudioError(f"MP3 encoding failed: {_last_error_line(_read_stderr(encoder_err))}")
        if decoder_code != 0:
            raise AudioError(
                f"could not decode the encoded MP3: {_last_error_line(_read_stderr(decoder_err))}"
            )
    after = meter.result()
    return encoded, after


def _planned_blocks(programme: _Programme, plan: _Plan) -> Iterator[NDArray[Any]]:
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


def _lame_arguments(bitrate_kbps: int, rate: int, channels: int) -> list[str]:
    return ["-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k"] + [
        "-ar", str(rate), "-ac", str(channels),
    ]  # fmt: skip


def normalize_loudness(
    sources: Sequence[Path],
    output: Path,
    *,
    target_lufs: float,
    ceiling_dbtp: float,
    channels: int,
    sample_rate: int,
    bitrate_kbps: int,
    dual_mono: bool,
    tags: Tags | None = None,
    progress: Progress | None = None,
    duration_hint: float = 0.0,
) -> NormalizeReport:
    """Measure, gain + true-peak limit, encode MP3, tag, measure again; `output` appears atomically.

    One decode (cached as float32 on disk next to the output, with the limiter's control records),
    a plan that predicts from those records how much loudness the limiter will take off and
    solves for the gain that makes up for it, then one encode whose output is measured while it
    is written. Only if that measurement misses
    (by more than LOUDNESS_TOLERANCE_LU, or peaks over the ceiling) is the encode redone, with
    the encoder's observed level offset and peak overshoot taken into account.
    """
    if not sources:
        raise AudioError("no source audio")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".normalize-", dir=output.parent) as work_name:
        work = Path(work_name)
        before, programme = _decode_to_cache(
            sources,
            work,
            channels,
            sample_rate,
            dual_mono=dual_mono,
            progress=progress,
            total_seconds=duration_hint,
        )
        if not math.isfinite(before.integrated_lufs):
            raise AudioError("the audio is silent (below -70 LUFS): nothing to normalise")
        limit_dbtp = ceiling_dbtp - ENCODER_HEADROOM_DB
        level_offset = MP3_LEVEL_OFFSET_DB
        notes: list[str] = []
        plan_passes = 0
        gains = work / "gains.f32"
        with atomic_path(output, suffix=".mp3") as tmp:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                plan, passes = _plan_gain(
                    programme, target_lufs + level_offset, limit_dbtp, progress, gains
                )
                plan_passes += passes
                # Aiming lower deepens the cut itself (the gain rises to make up): about twice
                # the extra headroom, hence the fixed point.
                extra = min(
                    DEEP_CUT_MAX_EXTRA_DB,
                    DEEP_CUT_HEADROOM_PER_DB
                    * (plan.stats.max_reduction_db - DEEP_CUT_DB)
                    / (1.0 - 2.0 * DEEP_CUT_HEADROOM_PER_DB),
                )
                if attempt == 1 and extra > 0.05:
                    limit_dbtp -= extra
                    notes.append(
                        f"the limiter cuts up to {plan.stats.max_reduction_db:.0f} dB: aiming"
                        f" {ceiling_dbtp - limit_dbtp:.1f} dB under the ceiling, as the encoder"
                        " overshoots more on audio limited this hard"
                    )
                    plan, passes = _plan_gain(
                        programme, target_lufs + level_offset, limit_dbtp, progress, gains
                    )
                    plan_passes += passes
                gain_db, predicted = plan.gain_db, plan.lufs
                encoded, after = _encode_and_check(
                    programme,
                    plan,
                    work,
                    bitrate_kbps=bitrate_kbps,
                    dual_mono=dual_mono,
                    progress=progress,
                )
                loudness_error = target_lufs - after.integrated_lufs
                peak_excess = after.true_peak_dbtp - ceiling_dbtp
                if abs(target_lufs + level_offset - predicted) > LOUDNESS_TOLERANCE_LU:
                    # No gain reaches the target under this ceiling: encoding again won't help.
                    notes.append(
                        f"{target_lufs:g} LUFS is out of reach under the ceiling (the limiter"
                        f" would have to cut more than {MAX_MAKEUP_DB:g} dB)"
                    )
                    loudness_error = 0.0
                if attempt == MAX_ATTEMPTS or (
                    abs(loudness_error) <= LOUDNESS_TOLERANCE_LU and peak_excess <= 0
                ):
                    break
                if peak_excess > 0:
                    limit_dbtp -= peak_excess + RETRY_PEAK_MARGIN_DB
                    notes.append(f"the MP3 peaked {peak_excess:.2f} dB over; limiting lower")
                if abs(loudness_error) > LOUDNESS_TOLERANCE_LU:
                    notes.append(
                        f"the MP3 was {-loudness_error:+.2f} LU off target; encoding again"
                    )
                # What the encoder really did to the level, measured: plan with that next time.
                level_offset = predicted - after.integrated_lufs
            os.replace(encoded, tmp)
            if tags is not None:
                write_tags(tmp, tags, duration_seconds=after.duration_seconds)
            byte_size = tmp.stat().st_size
            # The MP3 is published media (mkstemp made the temporary file private).
            tmp.chmod(0o644)
    return NormalizeReport(
        before=before,
        after=after,
        gain_db=gain_db,
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
        limiter=plan.stats,
        output=output,
        byte_size=byte_size,
        attempts=attempt,
        predicted_lufs=predicted - level_offset,
        plan_passes=plan_passes,
        notes=notes,
    )


def write_tags(path: Path, tags: Tags, *, duration_seconds: float) -> None:
    """ID3v2.4: title, show, author, year, language, summary, cover (APIC), chapters (CHAP/CTOC)."""
    from mutagen.id3 import (
        APIC,
        CHAP,
        COMM,
        CTOC,
        ID3,
        TALB,
        TDRC,
        TIT2,
        TLAN,
        TPE1,
        TPOS,
        TRCK,
        CTOCFlags,
        Encoding,
        PictureType,
    )

    id3 = ID3()
    id3.add(TIT2(encoding=Encoding.UTF8, text=tags.title))
    id3.add(TALB(encoding=Encoding.UTF8, text=tags.show))
    id3.add(TPE1(encoding=Encoding.UTF8, text=tags.author))
    id3.add(TLAN(encoding=Encoding.UTF8, text=tags.language))
    if tags.year:
        id3.add(TDRC(encoding=Encoding.UTF8, text=str(tags.year)))
    if tags.number is not None:
        id3.add(TRCK(encoding=Encoding.UTF8, text=str(tags.number)))
    if tags.season is not None:
        id3.add(TPOS(encoding=Encoding.UTF8, text=str(tags.season)))
    if tags.summary:
        id3.add(COMM(encoding=Encoding.UTF8, lang=tags.language, desc="", text=tags.summary))
    if tags.cover is not None:
        mime = "image/png" if tags.cover.suffix.lower() == ".png" else "image/jpeg"
        id3.add(
            APIC(
                encoding=Encoding.UTF8,
                mime=mime,
                type=PictureType.COVER_FRONT,
                desc="",
                data=tags.cover.read_bytes(),
            )
        )
    if tags.chapters:
        total_ms = round(duration_seconds * 1000)
        ids = []
        for index, chapter in enumerate(tags.chapters):
            following = tags.chapters[index + 1].start if index + 1 < len(tags.chapters) else None
            end = chapter.end if chapter.end is not None else following
            start_ms = min(round(chapter.start * 1000), total_ms)
            end_ms = min(round(end * 1000) if end is not None else total_ms, total_ms)
            element = f"chp{index}"
            sub_frames: list[Any] = [TIT2(encoding=Encoding.UTF8, text=chapter.title)]
            if chapter.url:
                from mutagen.id3 import WXXX

                sub_frames.append(WXXX(encoding=Encoding.UTF8, desc="", url=chapter.url))
            id3.add(
                CHAP(
                    element_id=element,
                    start_time=start_ms,
                    end_time=max(end_ms, start_ms),
                    sub_frames=sub_frames,
                )
            )
            if chapter.toc:
                ids.append(element)
        id3.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=Encoding.UTF8, text="Kapitel")],
            )
        )
    try:
        id3.save(str(path), v2_version=4)
    except Exception as exc:  # mutagen raises its own error types for unwritable files
        raise AudioError(f"could not write ID3 tags to {path}: {exc}") from None
