"""One decoding pass over an input file before any model loads: duration and long silences.

ffmpeg decodes the whole file once (streaming, so memory stays flat with length) through its
`silencedetect` filter. That gives the progress bar its total, the silence guard its intervals,
and turns a corrupt or unreadable file into a one-line error before a model is loaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from outreach.errors import TranscriptionError

# Below this level (dBFS) for at least the silence threshold counts as silence. Low on purpose:
# a room's noise floor is usually under it, quiet speech never.
SILENCE_NOISE_DB = -50.0

_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")
_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class AudioProbe:
    """What one decoding pass learnt about a file."""

    path: Path
    duration: float
    silences: tuple[tuple[float, float], ...]


def ffmpeg_executable() -> str:
    """ffmpeg on PATH, else the static build that ships with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - imageio-ffmpeg is a base dependency
        raise TranscriptionError(
            "ffmpeg is not installed; install it (apt-get install ffmpeg) or pip install imageio-ffmpeg"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe_audio(path: Path, min_silence: float | None = 2.0) -> AudioProbe:
    """Decode `path` once; return its duration and silences of at least `min_silence` seconds."""
    if not path.is_file():
        raise TranscriptionError(f"audio file not found: {path}")
    detect = f"silencedetect=noise={SILENCE_NOISE_DB}dB:d={min_silence}" if min_silence else "anull"
    command = [
        ffmpeg_executable(),
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-i",
        str(path),
        "-vn",
        "-af",
        detect,
        "-progress",
        "pipe:1",
        "-f",
        "null",
        "-",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", check=False
        )
    except OSError as exc:
        raise TranscriptionError(f"cannot run ffmpeg ({exc})") from None
    times = [int(t) for t in _OUT_TIME.findall(done.stdout)]
    duration = max(times, default=0) / 1_000_000
    if done.returncode != 0 or duration <= 0:
        raise TranscriptionError(
            f"cannot decode audio file {path.name}: {_last_error(done.stderr)}; "
            "give a WAV, MP3, FLAC, M4A or Ogg file"
        )
    return AudioProbe(path, duration, _silences(done.stderr, duration))


def _silences(log: str, duration: float) -> tuple[tuple[float, float], ...]:
    found: list[tuple[float, float]] = []
    start: float | None = None
    for line in log.splitlines():
        if (match := _SILENCE_START.search(line)) is not None:
            start = max(0.0, float(match.group(1)))
        elif (match := _SILENCE_END.search(line)) is not None and start is not None:
            found.append((start, min(duration, float(match.group(1)))))
            start = None
    if start is not None and start < duration:
        found.append((start, duration))
    return tuple(found)


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    interesting = [line for line in lines if "rror" in line or "nvalid" in line]
    text = (interesting or lines or ["no audio stream"])[-1]
    return text.split("] ", 1)[-1][:200]
