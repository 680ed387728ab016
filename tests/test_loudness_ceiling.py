"""The loudness promise on the MP3 itself, over a grid of generated signals (issue 15).

Whatever the input, the encoded MP3 decoded and measured by ffmpeg (`ebur128=peak=true`, an
independent decoder and meter) stays under `ceiling_dbtp` and within +-0.5 LU of the target.
The signals are hot 2-3 kHz tone bursts (0.5-10 ms, one at the very start) over a noise bed at
-30 to -6 LUFS, peaking 10-30 dB over it (tests/helpers/signals.py); three seconds each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.audio.normalize import normalize_loudness

from .helpers.loudness import ebur128
from .helpers.signals import FINDING_GATED, FINDING_STEADY, GRID, Bursts

CEILING = -1.0
TARGET = -16.0


def _normalise(case: Bursts, folder: Path) -> Path:
    source = case.write(folder / "source.wav")
    output = folder / "out" / "episode.mp3"
    report = normalize_loudness(
        [source],
        output,
        target_lufs=TARGET,
        ceiling_dbtp=CEILING,
        channels=case.channels,
        sample_rate=44100,
        bitrate_kbps=96 if case.channels == 1 else 128,
        dual_mono=case.channels == 1,
    )
    # What the encode pass measured is what the file measures.
    reading = ebur128(output, dual_mono=case.channels == 1)
    assert report.after.true_peak_dbtp == pytest.approx(reading.true_peak, abs=0.15)
    return output


@pytest.mark.parametrize(
    "case",
    GRID,
    ids=[
        f"{c.width_ms:g}ms-{c.level_lufs:g}LUFS-crest{c.crest_db:g}"
        + ("-steady" if c.steady else "")
        + (f"-dc{c.dc_offset:g}" if c.dc_offset else "")
        for c in GRID
    ],
)
def test_the_mp3_holds_the_ceiling_and_the_target(tmp_path: Path, case: Bursts) -> None:
    source = ebur128(case.write(tmp_path / "probe.wav"), dual_mono=case.channels == 1)
    assert source.true_peak >= case.level_lufs + case.crest_db - 3  # the bursts are there
    reading = ebur128(_normalise(case, tmp_path), dual_mono=case.channels == 1)
    assert reading.true_peak <= CEILING
    assert reading.integrated == pytest.approx(TARGET, abs=0.5)


@pytest.mark.parametrize("case", [FINDING_GATED, FINDING_STEADY], ids=["gated", "steady"])
def test_the_finding_of_issue_15(tmp_path: Path, case: Bursts) -> None:
    """Bursts over a -24 LUFS bed, one in the first milliseconds: the MP3 peaked at +0.6 dBTP
    (and at +17 dBTP with a quieter bed), while normalize reported success."""
    reading = ebur128(_normalise(case, tmp_path), dual_mono=True)
    assert reading.true_peak <= CEILING
    assert reading.integrated == pytest.approx(TARGET, abs=0.5)
