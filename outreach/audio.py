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
only touches the peaks, then libmp3lame. ffmpeg's `loudnorm` is not used: in its "linear" mode it
silently falls back to dynamic compression (and 192 kHz resampling) whenever the gain would push the
peaks over the ceiling, which is the usual case for speech. The encoded file is decoded and measured
again, and both measurements are reported.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
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
# The encoded MP3 peaks a little above the PCM fed to the encoder; the limiter aims this far below
# the ceiling, and a second pass corrects it if the encoded file still measures over.
ENCODER_HEADROOM_DB = 0.5
# libmp3lame (through ffmpeg) plays back about 0.4 dB quieter than the PCM it was given, even for
# a pure tone; the encode pass starts with this much more gain and the check corrects the rest.
MP3_LEVEL_OFFSET_DB = 0.45
LIMITER_LOOKAHEAD_SECONDS = 0.003
LIMITER_RELEASE_DB_PER_SECOND = 300.0
LOUDNESS_TOLERANCE_LU = 0.3
MAX_ATTEMPTS = 3

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


def _channel_peak(frames: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per frame, the largest magnitude over the channels (column-wise: numpy's axis=1
    reductions over two columns are slow)."""
    peak = np.abs(frames[:, 0])
    for channel in range(1, frames.shape[1]):
        np.maximum(peak, np.abs(frames[:, channel]), out=peak)
    return peak


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


def _oversampled(context: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 4x interpolated signal of `context` where the filter has full support."""
    from scipy import signal

    upsampled = signal.upfirdn(TRUE_PEAK_FIR, context, up=4, axis=0)
    full = len(TRUE_PEAK_FIR) - 1
    return np.asarray(upsampled[full : 4 * (len(context) - 1) + 1])


def _oversampled_peak(context: NDArray[np.float64]) -> float:
    values = _oversampled(context)
    return float(np.abs(values).max()) if len(values) else 0.0


class LoudnessMeter:
    """Integrated loudness, loudness range and true peak of a stream of float blocks."""

    def __init__(self, channels: int, sample_rate: int, *, dual_mono: bool = False) -> None:
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
        self._peak = TruePeakMeter(channels)
        self.frames = 0

    def add(self, block: NDArray[Any]) -> None:
        if not len(block):
            return
        from scipy import signal

        self.frames += len(block)
        self._peak.add(block)
        filtered, self._zi = signal.sosfilt(
            self._sos, block.astype(np.float64, copy=False), axis=0, zi=self._zi
        )
        squares = filtered * filtered
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

    def _window_powers(self, sub_blocks: NDArray[np.float64], size: int) -> NDArray[np.float64]:
        """Channel-summed mean-square power of every window of `size` sub-blocks (hop: one)."""
        summed = sub_blocks.sum(axis=1) * self._weight
        if len(summed) < size:
            return np.zeros(0)
        cumulative = np.concatenate([[0.0], np.cumsum(summed)])
        return np.asarray((cumulative[size:] - cumulative[:-size]) / size)

    def result(self) -> Measurement:
        subs = (
            np.concatenate(self._sub_blocks)
            if self._sub_blocks
            else np.zeros((0, self.channels), dtype=np.float64)
        )
        blocks = self._window_powers(subs, 4)
        integrated = _gated_loudness(blocks, RELATIVE_GATE_LU)
        short_term = self._window_powers(subs, 30)
        true_peak = self._peak.finish()
        return Measurement(
            integrated_lufs=integrated,
            true_peak_dbtp=_db(true_peak),
            sample_peak_dbfs=_db(self._peak.sample_peak),
            loudness_range_lu=_loudness_range(short_term),
            duration_seconds=self.frames / self.sample_rate,
            channels=self.channels,
            sample_rate=self.sample_rate,
        )


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


@dataclass
class LimiterStats:
    frames: int = 0
    limited_frames: int = 0
    max_reduction_db: float = 0.0

    @property
    def limited_share(self) -> float:
        return self.limited_frames / self.frames if self.frames else 0.0


class TruePeakLimiter:
    """A look-ahead limiter on the 4x-oversampled signal, so inter-sample peaks stay under `ceiling`.

    For every sample the gain needed to bring the oversampled peak around it under the ceiling is
    computed; a minimum filter reaching `lookahead` (plus the interpolator's reach) on both sides
    holds it, a release of LIMITER_RELEASE_DB_PER_SECOND lets it go (a running minimum in the
    dB domain, so it vectorises), and a moving average over the look-ahead makes the gain ramp
    smoothly into the peak instead of jumping. The average of values that are all at most the
    needed gain is at most that gain, so no peak passes. Where nothing comes near the ceiling the
    audio passes untouched. The output lags the input by one block (the look-ahead context).
    """

    def __init__(
        self,
        channels: int,
        sample_rate: int,
        ceiling_dbtp: float,
        *,
        lookahead_seconds: float = LIMITER_LOOKAHEAD_SECONDS,
        release_db_per_second: float = LIMITER_RELEASE_DB_PER_SECOND,
    ) -> None:
        self.channels = channels
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.lookahead = max(8, round(lookahead_seconds * sample_rate))
        self.reach = self.lookahead + _TP_TAPS // 2
        self.release = release_db_per_second / sample_rate
        self._pad = _TP_TAPS + 2
        self._before = np.zeros((self._pad, channels), dtype=np.float64)
        self._pending: NDArray[np.float64] | None = None
        self._gain_tail = np.ones(self.lookahead, dtype=np.float64)
        self._released_db = 0.0
        self.stats = LimiterStats()

    def process(self, block: NDArray[Any]) -> NDArray[np.float64]:
        """Feed a block; returns the limited audio that is ready (the previous block)."""
        block = np.asarray(block, dtype=np.float64)
        if self._pending is None:
            self._pending = block
            return np.zeros((0, self.channels))
        out = self._run(self._pending, block)
        self._pending = block
        return out

    def flush(self) -> NDArray[np.float64]:
        if self._pending is None:
            return np.zeros((0, self.channels))
        out = self._run(self._pending, np.zeros((0, self.channels)))
        self._pending = None
        return out

    def _run(
        self, current: NDArray[np.float64], future: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        n = len(current)
        after = self.reach + self._pad
        future = future[:after]
        if len(future) < after:
            future = np.concatenate([future, np.zeros((after - len(future), self.channels))])
        context = np.concatenate([self._before, current, future])
        self._before = context[n : n + self._pad]
        self.stats.frames += n
        released = self._released_db >= 0.0 and bool((self._gain_tail >= 1.0).all())
        if released and float(np.abs(context).max()) * _TP_BOUND <= self.ceiling:
            return current
        from scipy import ndimage

        envelope = self._peak_envelope(context)
        needed = np.minimum(1.0, self.ceiling / np.maximum(envelope, 1e-12))
        if released and float(needed.min()) >= 1.0:
            return current
        held = ndimage.minimum_filter1d(needed, size=2 * self.reach + 1, mode="nearest")
        held = held[self._pad : self._pad + n]
        held_db = 20.0 * np.log10(held)
        ramp = self.release * np.arange(n)
        released_db = ramp + np.minimum.accumulate(held_db - ramp)
        released_db = np.minimum(released_db, self._released_db + ramp + self.release)
        released_db = np.minimum(released_db, 0.0)
        self._released_db = float(released_db[-1])
        gain_linear = 10.0 ** (released_db / 20.0)
        joined = np.concatenate([self._gain_tail, gain_linear])
        cumulative = np.concatenate([[0.0], np.cumsum(joined)])
        width = self.lookahead + 1
        smooth = (cumulative[width:] - cumulative[:-width]) / width
        gain = smooth[-n:]
        self._gain_tail = joined[-self.lookahead :]
        limited = gain < 0.9999
        self.stats.limited_frames += int(limited.sum())
        if limited.any():
            self.stats.max_reduction_db = max(self.stats.max_reduction_db, -_db(float(gain.min())))
        return np.asarray(current * gain[:, None])

    def _peak_envelope(self, context: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per sample: the largest oversampled magnitude within one sample either side.

        Computed only near samples that could interpolate over the ceiling (_hot_segments);
        elsewhere the sample magnitude stands in, which is below the ceiling anyway.
        """
        from scipy import ndimage

        magnitude = _channel_peak(context)
        envelope = magnitude.copy()
        for start, stop in _hot_segments(magnitude, self.ceiling / _TP_BOUND):
            low, high = max(0, start - _TP_TAPS), min(len(context), stop + _TP_TAPS)
            interpolated = _interpolated_envelope(context[low:high])
            envelope[start:stop] = np.maximum(
                envelope[start:stop], interpolated[start - low : stop - low]
            )
        return np.asarray(ndimage.maximum_filter1d(envelope, size=3, mode="nearest"))


def _interpolated_envelope(context: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per sample i: the largest 4x-interpolated magnitude between samples i and i + 1."""
    from scipy import signal

    values = _channel_peak(signal.upfirdn(TRUE_PEAK_FIR, context, up=4, axis=0))
    # Output k of the 48-tap filter sits at input time (k - 23.5) / 4.
    delay = (len(TRUE_PEAK_FIR) - 1) // 2 + 1
    groups = values[delay : delay + 4 * len(context)]
    groups = np.concatenate([groups, np.zeros(4 * len(context) - len(groups))])
    return np.maximum(
        np.maximum(groups[0::4], groups[1::4]), np.maximum(groups[2::4], groups[3::4])
    )


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
    notes: list[str] = field(default_factory=list)


class _Encoder:
    """libmp3lame in an ffmpeg child, fed float PCM on stdin."""

    def __init__(
        self, output: Path, channels: int, sample_rate: int, bitrate_kbps: int, err: IO[bytes]
    ) -> None:
        command = [
            ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            str(sample_rate),
            "-ac",
            str(channels),
            "-i",
            "pipe:0",
            "-map_metadata",
            "-1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            f"{bitrate_kbps}k",
            "-ar",
            str(sample_rate),
            "-ac",
            str(channels),
            "-id3v2_version",
            "0",
            "-write_xing",
            "1",
            "-f",
            "mp3",
            str(output),
        ]
        self.err = err
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=err)

    def write(self, block: NDArray[Any]) -> None:
        if len(block):
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(np.asarray(block, dtype="<f4").tobytes())
            except BrokenPipeError:
                self.close()

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        if self.process.wait() != 0:
            raise AudioError(f"MP3 encoding failed: {_last_error_line(_read_stderr(self.err))}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def _encode_pass(
    sources: Sequence[Path],
    output: Path,
    *,
    channels: int,
    sample_rate: int,
    bitrate_kbps: int,
    gain_db: float,
    limit_dbtp: float,
    progress: Progress | None,
    total_seconds: float,
) -> LimiterStats:
    gain = 10.0 ** (gain_db / 20.0)
    limiter = TruePeakLimiter(channels, sample_rate, limit_dbtp)
    done = 0
    with _stderr_file() as err:
        encoder = _Encoder(output, channels, sample_rate, bitrate_kbps, err)
        try:
            for block in decode_blocks(sources, channels, sample_rate):
                encoder.write(limiter.process(block * gain))
                done += len(block)
                if progress:
                    progress("limiting and encoding", done / sample_rate, total_seconds)
            encoder.write(limiter.flush())
        except BaseException:
            encoder.kill()
            raise
        encoder.close()
    return limiter.stats


def _limited_loudness(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    gain_db: float,
    limit_dbtp: float,
    dual_mono: bool,
    progress: Progress | None,
) -> float:
    gain = 10.0 ** (gain_db / 20.0)
    limiter = TruePeakLimiter(channels, sample_rate, limit_dbtp)
    meter = LoudnessMeter(channels, sample_rate, dual_mono=dual_mono)
    total = 0.0
    for block in decode_blocks(sources, channels, sample_rate):
        meter.add(limiter.process(block * gain))
        total += len(block) / sample_rate
        if progress:
            progress("planning the limiter", total, total)
    meter.add(limiter.flush())
    return meter.result().integrated_lufs


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

    If the encoded file misses the target (the limiter took loudness off, or the encoder added
    peak), the encode pass runs again with the gain or the limiter threshold corrected.
    """
    if not sources:
        raise AudioError("no source audio")
    before = measure(
        sources,
        channels,
        sample_rate,
        dual_mono=dual_mono,
        progress=progress,
        total_seconds=duration_hint,
    )
    if not math.isfinite(before.integrated_lufs):
        raise AudioError("the audio is silent (below -70 LUFS): nothing to normalise")
    gain_db = target_lufs - before.integrated_lufs
    limit_dbtp = ceiling_dbtp - ENCODER_HEADROOM_DB
    notes: list[str] = []
    # Where the limiter will work, find (on PCM, without encoding) how much loudness it takes off
    # and raise the gain to make up for it, so the one MP3 encode lands on target.
    for _ in range(2):
        if before.true_peak_dbtp + gain_db <= limit_dbtp:
            break
        predicted = _limited_loudness(
            sources, channels, sample_rate, gain_db, limit_dbtp, dual_mono, progress
        )
        shortfall = target_lufs - predicted
        if abs(shortfall) <= 0.1:
            break
        gain_db += shortfall
    with atomic_path(output, suffix=".mp3") as tmp:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            stats = _encode_pass(
                sources,
                tmp,
                channels=channels,
                sample_rate=sample_rate,
                bitrate_kbps=bitrate_kbps,
                gain_db=gain_db + MP3_LEVEL_OFFSET_DB,
                limit_dbtp=limit_dbtp,
                progress=progress,
                total_seconds=before.duration_seconds,
            )
            after = measure(
                [tmp],
                channels,
                sample_rate,
                dual_mono=dual_mono,
                progress=progress,
                step="checking the MP3",
                total_seconds=before.duration_seconds,
            )
            loudness_error = target_lufs - after.integrated_lufs
            peak_excess = after.true_peak_dbtp - ceiling_dbtp
            if attempt == MAX_ATTEMPTS or (
                abs(loudness_error) <= LOUDNESS_TOLERANCE_LU and peak_excess <= 0
            ):
                break
            if peak_excess > 0:
                limit_dbtp -= peak_excess + 0.1
                notes.append(f"the MP3 peaked {peak_excess:.2f} dB over; limiting lower")
            if abs(loudness_error) > LOUDNESS_TOLERANCE_LU:
                gain_db += loudness_error
                notes.append(f"the MP3 was {-loudness_error:+.2f} LU off target; gain corrected")
        if tags is not None:
            write_tags(tmp, tags, duration_seconds=after.duration_seconds)
        byte_size = tmp.stat().st_size
        # mkstemp makes the file private; the MP3 is published media.
        tmp.chmod(0o644)
    return NormalizeReport(
        before=before,
        after=after,
        gain_db=gain_db,
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
        limiter=stats,
        output=output,
        byte_size=byte_size,
        attempts=attempt,
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
