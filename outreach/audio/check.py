"""The independent check of what listeners get: ffmpeg's own decoder and `ebur128` meter.

Our meters (`loudness`) and limiter are one implementation; if they share a mistake, measuring
our output with them again cannot find it (a burst in the first milliseconds once left at +17
dBTP and was reported as such, then published). So the MP3 is always judged by ffmpeg: its MP3
decoder and its EBU R128 filter with `peak=true` (4x-oversampled true peak) and `sample`. This
runs inside the encode pass on the encoded packets as they are written (`encode`), and on
demand on the file (`outreach episode check`). Its summary prints one decimal: the judgement
uses the printed figures, the same ones anyone re-measuring the file with ffmpeg sees.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from outreach.audio.decode import ffmpeg_exe, last_error_line
from outreach.audio.loudness import Measurement
from outreach.errors import AudioError

# The loudness target holds to this (EBU R128 allows +-1 LU for live, +-0.5 is what we promise).
TARGET_TOLERANCE_LU = 0.5


def ebur128_filter(*, dual_mono: bool) -> str:
    """The filter as the check runs it (frames are not logged: only the summary is read)."""
    return f"ebur128=peak=true+sample:dualmono={'true' if dual_mono else 'false'}:framelog=quiet"


def parse_summary(stderr: str, *, channels: int, sample_rate: int, frames: int) -> Measurement:
    """Integrated loudness, LRA, true and sample peak from the filter's closing summary."""
    try:
        summary = stderr[stderr.rindex("Summary:") :]
    except ValueError:
        raise AudioError(
            f"ffmpeg's loudness meter gave no summary: {last_error_line(stderr)}"
        ) from None

    def number(section: str, label: str) -> float:
        found = re.search(section + r".*?" + label + r":\s+(-?[\d.]+|-?inf)", summary, re.S)
        if found is None:
            raise AudioError(f"ffmpeg's loudness summary has no {section} {label}")
        return float(found.group(1))

    return Measurement(
        integrated_lufs=number("Integrated loudness", "I"),
        true_peak_dbtp=number("True peak", "Peak"),
        sample_peak_dbfs=number("Sample peak", "Peak"),
        loudness_range_lu=number("Loudness range", "LRA"),
        duration_seconds=frames / sample_rate if sample_rate else 0.0,
        channels=channels,
        sample_rate=sample_rate,
    )


def measure_file(path: Path, *, dual_mono: bool) -> Measurement:
    """Decode the MP3 (honouring its LAME header, as players do) and meter it with ebur128."""
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0",
        "-af", ebur128_filter(dual_mono=dual_mono), "-f", "null", "-progress", "pipe:1", "-",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    if result.returncode != 0:
        raise AudioError(f"{path}: could not measure: {last_error_line(result.stderr)}")
    info = re.search(r"Stream #0:\d+.*?: Audio: [^,]+, (\d+) Hz, ([^,]+)", result.stderr)
    rate = int(info.group(1)) if info else 0
    channels = 1 if info and info.group(2).strip().startswith("mono") else 2
    times = re.findall(r"out_time_us=(\d+)", result.stdout)
    seconds = int(times[-1]) / 1e6 if times else 0.0
    return parse_summary(
        result.stderr, channels=channels, sample_rate=rate, frames=round(seconds * rate)
    )


def problems(measured: Measurement, *, target_lufs: float, ceiling_dbtp: float) -> list[str]:
    """What breaks the targets, in words (empty when the MP3 is good)."""
    found = []
    if not math.isfinite(measured.true_peak_dbtp) or measured.true_peak_dbtp > ceiling_dbtp:
        found.append(
            f"true peak {measured.true_peak_dbtp:+.1f} dBTP is over the {ceiling_dbtp:g} dBTP ceiling"
        )
    miss = measured.integrated_lufs - target_lufs
    if not math.isfinite(miss) or abs(miss) > TARGET_TOLERANCE_LU:
        found.append(
            f"loudness {measured.integrated_lufs:.1f} LUFS is {miss:+.1f} LU from the"
            f" {target_lufs:g} LUFS target (allowed +-{TARGET_TOLERANCE_LU:g})"
        )
    return found


@dataclass(frozen=True)
class FileStamp:
    """Size and SHA-256 of a file: what `publish` compares to see that the MP3 is the one measured."""

    byte_size: int
    sha256: str


def stamp(path: Path) -> FileStamp:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return FileStamp(path.stat().st_size, digest.hexdigest())
