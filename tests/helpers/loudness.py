"""Independent loudness meters for the tests: ffmpeg's ebur128 filter and pyloudnorm."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from outreach.audio.decode import ffmpeg_exe


@dataclass(frozen=True)
class Reading:
    integrated: float
    loudness_range: float
    true_peak: float


def ebur128(path: Path, *, dual_mono: bool = False) -> Reading:
    """ffmpeg's own EBU R128 meter (`ebur128=peak=true`), parsed from its summary."""
    result = subprocess.run(
        [ffmpeg_exe(), "-nostats", "-hide_banner", "-i", str(path), "-filter_complex"]
        + [f"ebur128=peak=true:dualmono={'true' if dual_mono else 'false'}", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = result.stderr[result.stderr.rindex("Summary:") :]

    def number(label: str) -> float:
        found = re.search(label + r":\s+(-?[\d.]+|-inf)", summary)
        assert found, summary
        return float(found.group(1))

    return Reading(number("I"), number("LRA"), number("Peak"))


def decode(path: Path, channels: int, rate: int = 44100) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", str(channels), "-ar", str(rate)]
        + ["-f", "f32le", "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).astype(np.float64)


def pyloudnorm_lufs(path: Path, channels: int, rate: int = 44100) -> float:
    import pyloudnorm

    data = decode(path, channels, rate)
    return float(pyloudnorm.Meter(rate).integrated_loudness(data if channels > 1 else data[:, 0]))


def loudnorm_linear(path: Path, output: Path, target: float, ceiling: float) -> dict[str, str]:
    """ffmpeg-normalize's method: loudnorm measures, then runs again with `linear=true` and the
    measured values. Returns the second pass's report (it says which normalisation it did)."""

    def report(stderr: str) -> dict[str, str]:
        parsed: dict[str, str] = json.loads(stderr[stderr.rindex("{") : stderr.rindex("}") + 1])
        return parsed

    base = f"loudnorm=I={target}:TP={ceiling}:LRA=11:print_format=json"
    first = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af", base, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = report(first.stderr)
    second = (
        f"{base}:linear=true:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
        f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
        f":offset={measured['target_offset']}"
    )
    run = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-y", "-i", str(path), "-af", second]
        + [str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    return report(run.stderr)
