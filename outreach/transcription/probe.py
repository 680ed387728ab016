"""One decoding pass over an input file before any model loads: duration, loudness, silences.

ffmpeg decodes the file once to 16 kHz mono, streamed through a 10 ms level meter, so memory
stays flat with length. That gives the progress bar its total, the silence guard its intervals,
the pipeline its cut points for long files (the quietest moments), and turns a corrupt or
unreadable file into a one-line error before a model is loaded. `extract` cuts one stretch of a
file to a WAV for an engine.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from outreach.audio.decode import ffmpeg_exe
from outreach.errors import TranscriptionError

SAMPLE_RATE = 16_000
FRAME_SECONDS = 0.01
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_SECONDS)
# Below this level (dBFS) for at least the silence threshold counts as silence. Low on purpose:
# a room's noise floor is usually under it, quiet speech never.
SILENCE_NOISE_DB = -50.0
# A cut between two chunks goes in the quietest window of this length.
CUT_WINDOW_SECONDS = 0.3
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class AudioProbe:
    """What one decoding pass learnt about a file. `levels` is dBFS per 10 ms frame."""

    path: Path
    duration: float
    silences: tuple[tuple[float, float], ...]
    levels: np.ndarray = field(repr=False, compare=False)

    def cut_points(self, max_chunk: float, search: float = 30.0) -> list[float]:
        """Where to cut the file into chunks of at most `max_chunk` seconds: the quietest
        `CUT_WINDOW_SECONDS` in the last `search` seconds before each limit."""
        cuts: list[float] = []
        position = 0.0
        window = max(1, int(CUT_WINDOW_SECONDS / FRAME_SECONDS))
        power = 10 ** (self.levels.astype(np.float64) / 10)
        summed = np.concatenate([[0.0], np.cumsum(power)])
        while self.duration - position > max_chunk:
            low = int((position + max_chunk - search) / FRAME_SECONDS)
            high = int((position + max_chunk) / FRAME_SECONDS) - window
            low = max(low, int(position / FRAME_SECONDS) + 1)
            if high <= low:
                cut = position + max_chunk
            else:
                sums = summed[low + window : high + window] - summed[low:high]
                quietest = np.flatnonzero(sums <= sums.min() * 1.001 + 1e-12)
                # The last run of equally quiet windows, cut in its middle (mid-pause).
                breaks = np.flatnonzero(np.diff(quietest) > 1)
                run = quietest[breaks[-1] + 1 :] if breaks.size else quietest
                best = low + (int(run[0]) + int(run[-1])) / 2
                cut = (best + window / 2) * FRAME_SECONDS
            cuts.append(round(float(cut), 3))
            position = cut
        return cuts


def _decoder(path: Path, *, start: float = 0.0, length: float | None = None) -> list[str]:
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    if start > 0:
        command += ["-ss", f"{start:.3f}"]
    command += ["-i", str(path)]
    if length is not None:
        command += ["-t", f"{length:.3f}"]
    return [*command, "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE)]


def probe_audio(path: Path, min_silence: float | None = 2.0) -> AudioProbe:
    """Decode `path` once; its duration, 10 ms levels and silences ≥ `min_silence` seconds."""
    if not path.is_file():
        raise TranscriptionError(f"audio file not found: {path}")
    command = [*_decoder(path), "-f", "s16le", "-"]
    blocks: list[np.ndarray] = []
    samples = 0
    leftover = np.zeros(0, dtype=np.float32)
    # stderr goes to a file: a pipe nobody reads could fill up and stall ffmpeg.
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise TranscriptionError(f"cannot run ffmpeg ({exc})") from None
        assert process.stdout is not None
        try:
            while chunk := process.stdout.read(READ_BYTES):
                data = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2")
                samples += data.size
                data = np.concatenate([leftover, data.astype(np.float32) / 32768.0])
                whole = data.size // FRAME_SAMPLES * FRAME_SAMPLES
                blocks.append(_levels(data[:whole]))
                leftover = data[whole:]
        finally:
            process.stdout.close()
            returncode = process.wait()
        errors.seek(0)
        stderr = errors.read(64_000).decode("utf-8", "replace")
    if leftover.size:
        blocks.append(_levels(np.pad(leftover, (0, FRAME_SAMPLES - leftover.size))))
    duration = samples / SAMPLE_RATE
    if returncode != 0 or samples == 0:
        raise TranscriptionError(
            f"cannot decode audio file {path.name}: {_last_error(stderr)}; "
            "give a WAV, MP3, FLAC, M4A or Ogg file"
        )
    levels = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return AudioProbe(path, duration, _silences(levels, duration, min_silence), levels)


def _levels(samples: np.ndarray) -> np.ndarray:
    frames = samples.reshape(-1, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: np.ndarray = (20 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)
    return levels


def _silences(
    levels: np.ndarray, duration: float, min_silence: float | None
) -> tuple[tuple[float, float], ...]:
    if not min_silence or levels.size == 0:
        return ()
    quiet = np.concatenate([[False], levels < SILENCE_NOISE_DB, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    found = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        begin, finish = start * FRAME_SECONDS, min(duration, end * FRAME_SECONDS)
        if finish - begin >= min_silence:
            found.append((round(float(begin), 3), round(float(finish), 3)))
    return tuple(found)


def extract(path: Path, target: Path, start: float, length: float) -> Path:
    """Write `length` seconds of `path` from `start` to `target` as 16 kHz mono WAV."""
    command = [*_decoder(path, start=start, length=length), "-y", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    if done.returncode != 0:
        raise TranscriptionError(
            f"cannot decode audio file {path.name}: {_last_error(done.stderr)}"
        )
    return target


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    interesting = [line for line in lines if "rror" in line or "nvalid" in line]
    text = (interesting or lines or ["no audio stream"])[-1]
    return text.split("] ", 1)[-1][:200]
