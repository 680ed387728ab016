"""Decoding with ffmpeg: probing a file (in full, or its header only) and float32 PCM blocks.

Everything streams: ffmpeg decodes to 32-bit float PCM on a pipe, read in blocks of about 1.5 s,
so a 60-minute episode is never in memory whole.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from outreach.audio.loudness import LoudnessMeter, Measurement
from outreach.audio.programme import BLOCK_FRAMES, Block, Progress
from outreach.errors import AudioError, ValidationError


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


# Input sanity (`_check_plausible`): no speech is recorded below 8 kHz; a decoded length may
# differ from the container's by a few seconds (VBR estimates) but not by half.
MIN_SAMPLE_RATE = 8000
# Below any voice or room tone (and below the K-weighting's 38 Hz high-pass): only DC goes.
DC_CUTOFF_HZ = 5
DURATION_SLACK_SECONDS = 5.0
DURATION_RATIO = 1.5
_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "5.0": 5, "5.1": 6}


def last_error_line(text: str) -> str:
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
        raise ValidationError(f"{path}: corrupt audio ({last_error_line(stderr)})")
    codec, rate, channels = _stream_info(path, stderr) or ("", 0, 0)
    times = re.findall(r"out_time_us=(\d+)", result.stdout)
    duration = int(times[-1]) / 1e6 if times else 0.0
    if duration <= 0:
        raise ValidationError(f"{path}: contains no audio samples")
    info = AudioInfo(path, codec, channels, rate, duration)
    _check_plausible(info, _container_duration(stderr))
    return info


def _container_duration(stderr: str) -> float | None:
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", stderr)
    if found is None:
        return None
    return int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))


def _check_plausible(info: AudioInfo, container_seconds: float | None) -> None:
    """Refuse what decodes but cannot be a recording: a damaged header makes 4 KB into an hour.

    A WAV header claiming 1 Hz decoded to a 33-minute file, which normalising then resampled
    into 24 MB of MP3 at +10 dBTP. No speech is recorded below MIN_SAMPLE_RATE. A container that
    states its length should agree with what decodes (streams without one say nothing).
    """
    if info.sample_rate < MIN_SAMPLE_RATE:
        raise ValidationError(
            f"{info.path}: sample rate {info.sample_rate} Hz is below"
            f" {MIN_SAMPLE_RATE // 1000} kHz (a damaged header?); export the audio again"
        )
    if container_seconds is None or container_seconds <= 0:
        return
    longer = max(container_seconds, info.duration_seconds)
    shorter = min(container_seconds, info.duration_seconds)
    if longer - shorter > DURATION_SLACK_SECONDS and longer > DURATION_RATIO * shorter:
        raise ValidationError(
            f"{info.path}: decodes to {info.duration_seconds:.1f} s but its header says"
            f" {container_seconds:.1f} s (a damaged file?); export the audio again"
        )


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
    duration = _container_duration(result.stderr) or 0.0
    return AudioInfo(Path(path), info[0], info[2], info[1], duration)


@contextlib.contextmanager
def stderr_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as handle:
        yield handle


def read_stderr(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def decode_blocks(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    block_frames: int = BLOCK_FRAMES,
    *,
    remove_dc: bool = False,
) -> Iterator[Block]:
    """Yield float32 blocks of shape (frames, channels); several sources are mixed (summed).

    Tracks recorded in one session are summed sample by sample (ffmpeg `amix` with
    `normalize=0`, so the mix is the plain sum and the loudness stage sets the level).
    `remove_dc` high-passes at DC_CUTOFF_HZ: a DC offset is inaudible (the K-weighting ignores
    it) but counts in every peak, so left in, it makes the limiter cut the whole programme.
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error"]
    for source in sources:
        command += ["-i", str(source)]
    dc = f",highpass=f={DC_CUTOFF_HZ}" if remove_dc else ""
    if len(sources) > 1:
        inputs = "".join(f"[{i}:a:0]" for i in range(len(sources)))
        command += [
            "-filter_complex",
            f"{inputs}amix=inputs={len(sources)}:duration=longest:normalize=0{dc}[mix]",
            "-map",
            "[mix]",
        ]
    else:
        command += ["-map", "0:a:0"] + (["-af", dc[1:]] if dc else [])
    command += ["-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "-c:a", "pcm_f32le"]
    command += ["pipe:1"]
    frame_bytes = 4 * channels
    with stderr_file() as err:
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
            raise AudioError(f"could not decode {names}: {last_error_line(read_stderr(err))}")


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
