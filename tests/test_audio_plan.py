"""The normalisation pipeline: the exact limiter plan on PCM, one encode, the in-pass MP3 check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from outreach import audio
from outreach.errors import AudioError

from .conftest import FIXTURES
from .helpers.loudness import decode, ebur128

STEREO = FIXTURES / "audio-stereo-peaks.flac"
SPEECH = FIXTURES / "audio-speech.flac"


def _programme(
    path: Path, channels: int, folder: Path
) -> tuple[audio.Measurement, audio._Programme]:
    return audio._decode_to_cache(
        [path],
        folder / "programme.f32",
        channels,
        44100,
        dual_mono=False,
        progress=None,
        total_seconds=0.0,
    )


def _streamed(data: np.ndarray, gain_db: float, limit_dbtp: float) -> np.ndarray:
    """The reference: the whole programme through one streaming limiter, in odd-sized blocks."""
    limiter = audio.TruePeakLimiter(data.shape[1], 44100, limit_dbtp)
    gain = 10 ** (gain_db / 20)
    out = [
        limiter.process(audio._gained(data[i : i + 7919], gain)) for i in range(0, len(data), 7919)
    ]
    out.append(limiter.flush())
    return np.concatenate(out)


@pytest.mark.parametrize("gain_db", [4.0, 9.0, 15.0])
def test_plan_predicts_exactly_what_gets_encoded(tmp_path: Path, gain_db: float) -> None:
    """The plan's loudness is that of the very samples the encode pass sends (the limited runs
    it kept, the gained programme elsewhere), they stay under the ceiling, and limiting only
    the loud runs gives the loudness of one limiter over the whole programme."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan = audio._planned_loudness(programme, gain_db, -2.0, tmp_path / "limited.f32")
    assert plan.runs, "the gain must make the limiter act"
    planned = np.concatenate(list(audio._planned_blocks(programme, plan)))
    source = decode(STEREO, 2)
    assert planned.shape == source.shape
    meter = audio.LoudnessMeter(2, 44100)
    meter.add(planned)
    measured = meter.result()
    assert plan.lufs == pytest.approx(measured.integrated_lufs, abs=1e-4)
    assert measured.true_peak_dbtp <= -2.0 + 0.01
    outside = np.ones(len(source), dtype=bool)
    for start, stop in plan.runs:
        outside[start:stop] = False
    if gain_db == 4.0:
        assert outside.any()  # quiet stretches are not run through the limiter at all
    np.testing.assert_allclose(planned[outside], source[outside] * 10 ** (gain_db / 20), atol=1e-6)
    reference = audio.LoudnessMeter(2, 44100)
    reference.add(_streamed(source, gain_db, -2.0))
    assert plan.lufs == pytest.approx(reference.result().integrated_lufs, abs=0.01)
    assert plan.stats.max_reduction_db > 0


@pytest.mark.parametrize(
    ("target", "make_up", "most_passes"), [(-16.0, 0.0, 1), (-12.0, 3.0, audio.PLAN_MAX_PASSES)]
)
def test_plan_solves_for_the_make_up_gain(
    tmp_path: Path, target: float, make_up: float, most_passes: int
) -> None:
    """-12 LUFS from a file peaking at +2.7 dBTP pins nearly all its power: the hard case."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan, passes = audio._plan_gain(programme, target, -2.0, None)
    naive = target - before.integrated_lufs
    # The limiter took loudness off, the gain gives it back (none needed at -16 LUFS here).
    assert plan.gain_db >= naive + make_up
    assert plan.lufs == pytest.approx(target, abs=audio.PLAN_TOLERANCE_LU)
    assert passes <= most_passes
    reference = _streamed(decode(STEREO, 2), plan.gain_db, -2.0)
    meter = audio.LoudnessMeter(2, 44100)
    meter.add(reference)
    assert meter.result().integrated_lufs == pytest.approx(target, abs=0.1 + 0.01)


def test_sub_block_peaks_do_not_depend_on_block_size() -> None:
    data = decode(STEREO, 2)
    whole = audio._SubBlockPeaks(4410)
    whole.add(data)
    pieces = audio._SubBlockPeaks(4410)
    for start in range(0, len(data), 3001):
        pieces.add(data[start : start + 3001])
    expected = [np.abs(data[i : i + 4410]).max() for i in range(0, len(data), 4410)]
    np.testing.assert_array_equal(whole.result(), pieces.result())
    np.testing.assert_allclose(whole.result(), expected)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "channels", "target"),
    [(STEREO, 2, -16.0), (SPEECH, 1, -16.0), (STEREO, 2, -14.0)],
    ids=["stereo-peaks", "speech-dual-mono", "stereo-peaks-louder"],
)
def test_one_encode_lands_on_target_and_keeps_the_range(
    tmp_path: Path, path: Path, channels: int, target: float
) -> None:
    output = tmp_path / "out" / "episode.mp3"
    report = audio.normalize_loudness(
        [path],
        output,
        target_lufs=target,
        ceiling_dbtp=-1.0,
        channels=channels,
        sample_rate=44100,
        bitrate_kbps=128 if channels == 2 else 96,
        dual_mono=channels == 1,
    )
    assert report.attempts == 1, report.notes
    reading = ebur128(output, dual_mono=channels == 1)
    assert reading.integrated == pytest.approx(target, abs=0.5)
    assert reading.true_peak <= -1.0
    source = ebur128(path, dual_mono=channels == 1)
    assert abs(reading.loudness_range - source.loudness_range) <= 1.0
    # The check measured while encoding agrees with the file measured afterwards.
    assert report.after.integrated_lufs == pytest.approx(reading.integrated, abs=0.1)
    assert report.after.true_peak_dbtp == pytest.approx(reading.true_peak, abs=0.2)
    assert report.after.duration_seconds == pytest.approx(report.before.duration_seconds)
    assert sorted(p.name for p in output.parent.iterdir()) == ["episode.mp3"]


def test_encoder_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    output = tmp_path / "out" / "episode.mp3"
    with pytest.raises(AudioError, match="MP3 encoding failed"):
        audio.normalize_loudness(
            [SPEECH],
            output,
            target_lufs=-16.0,
            ceiling_dbtp=-1.0,
            channels=1,
            sample_rate=96000,  # MP3 has no 96 kHz
            bitrate_kbps=96,
            dual_mono=True,
        )
    assert list(output.parent.iterdir()) == []
