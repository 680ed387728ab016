"""Generated test signals for the loudness ceiling: hot tone bursts over a noise bed.

The finding of issue 15 was made with these: bursts a few milliseconds long of a 2-3 kHz tone,
one every few seconds and one at the very start, over a noise bed at about -24 LUFS, with quiet
parts (`gated`) or without (`steady`). Nothing large is committed; the tests make what they
need, and `python -m tests.helpers.signals FOLDER` writes the two cases of the finding as WAV
files for trying the CLI by hand.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from outreach.audio.decode import ffmpeg_exe
from outreach.audio.loudness import LoudnessMeter

RATE = 44100


@dataclass(frozen=True)
class Bursts:
    """Tone bursts of `width_ms` over a noise bed whose loudness is about `level_lufs`; the
    bursts peak `crest_db` above that level (so up to +24 dBFS: the file is float)."""

    width_ms: float
    level_lufs: float
    crest_db: float
    seconds: float = 3.0
    every_seconds: float = 0.9
    steady: bool = False
    channels: int = 1
    seed: int = 15
    dc_offset: float = 0.0

    def samples(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        frames = round(self.seconds * RATE)
        # A bed of noise tilted towards the low end (a one-pole low-pass), like a voice in a room.
        white = rng.standard_normal((frames, self.channels))
        bed = signal.lfilter([1.0], [1.0, -0.9], white, axis=0)
        if not self.steady:  # quiet stretches: half of every second at -20 dB
            bed *= np.where((np.arange(frames) // (RATE // 2)) % 2 == 0, 1.0, 0.1)[:, None]
        meter = LoudnessMeter(self.channels, RATE, dual_mono=self.channels == 1)
        meter.add(bed)
        bed *= 10 ** ((self.level_lufs - meter.result().integrated_lufs) / 20)
        amplitude = 10 ** ((self.level_lufs + self.crest_db) / 20)
        width = max(1, round(self.width_ms / 1000 * RATE))
        t = np.arange(width) / RATE
        starts = [0, *range(round(0.37 * RATE), frames - width, round(self.every_seconds * RATE))]
        for number, start in enumerate(starts):
            frequency = 2000.0 + 1000.0 * (number % 2)
            bed[start : start + width, 0] += amplitude * np.sin(2 * np.pi * frequency * t)
        return (bed + self.dc_offset).astype(np.float32)

    def write(self, path: Path) -> Path:
        """A float WAV (so peaks over full scale survive, as in a clipped or hot recording)."""
        data = self.samples()
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE)]
            + ["-ac", str(self.channels), "-i", "pipe:0", "-c:a", "pcm_f32le", str(path)],
            input=data.tobytes(),
            check=True,
        )
        return path


# The two cases of the finding: -24 LUFS with quiet parts, and over a steady bed.
FINDING_GATED = Bursts(
    width_ms=4.0, level_lufs=-24.0, crest_db=19.0, seconds=12.0, every_seconds=3.0
)
FINDING_STEADY = Bursts(
    width_ms=4.0, level_lufs=-24.0, crest_db=19.0, seconds=12.0, every_seconds=3.0, steady=True
)

# The property grid: every transient width meets every level, and the crest factor turns so
# that each crest meets each width and each level once (a Latin square), plus steady beds.
WIDTHS_MS = (0.5, 2.0, 10.0)
LEVELS_LUFS = (-30.0, -18.0, -6.0)
CRESTS_DB = (10.0, 20.0, 30.0)
GRID = (
    [
        Bursts(width_ms=width, level_lufs=level, crest_db=CRESTS_DB[(i + j) % 3])
        for i, width in enumerate(WIDTHS_MS)
        for j, level in enumerate(LEVELS_LUFS)
    ]
    + [
        Bursts(width_ms=width, level_lufs=-24.0, crest_db=crest, steady=True, channels=2)
        for width, crest in [(0.5, 30.0), (3.0, 20.0), (10.0, 10.0)]
    ]
    + [
        # A DC offset of 0.3 (-10 dBFS) under it all: inaudible, but it counts in every peak.
        Bursts(width_ms=2.0, level_lufs=-20.0, crest_db=20.0, dc_offset=0.3),
    ]
)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for name, case in [("bursts-gated.wav", FINDING_GATED), ("bursts-steady.wav", FINDING_STEADY)]:
        print(case.write(folder / name))
