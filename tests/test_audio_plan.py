"""The normalisation pipeline: the control-rate limiter plan, one encode, the in-pass MP3 check."""

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
        [path], folder, channels, 44100, dual_mono=False, progress=None, total_seconds=0.0
    )


def _encoded_samples(programme: audio._Programme, plan: audio._Plan) -> np.ndarray:
    return np.concatenate(list(audio._planned_blocks(programme, plan)))


@pytest.mark.parametrize("gain_db", [4.0, 9.0, 15.0, 20.0])
def test_plan_predicts_what_gets_encoded(tmp_path: Path, gain_db: float) -> None:
    """The plan's loudness, computed from the control records alone, is that of the samples the
    encode pass sends; those stay under the ceiling; where the limiter does not act they are
    the source times the gain."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan = audio._limiter_pass(programme, gain_db, -2.0, tmp_path / "gains.f32")
    assert plan.stats.max_reduction_db > 0, "the gain must make the limiter act"
    planned = _encoded_samples(programme, plan)
    source = decode(STEREO, 2).astype(np.float32)
    assert planned.shape == source.shape
    meter = audio.LoudnessMeter(2, 44100)
    meter.add(planned)
    measured = meter.result()
    # The one approximation (gain applied after the K-weighting) costs at most a few 0.001 LU.
    assert plan.lufs == pytest.approx(measured.integrated_lufs, abs=0.005)
    assert measured.true_peak_dbtp <= -2.0 + 0.01
    untouched = np.all(planned == (source * np.float32(10 ** (gain_db / 20))), axis=1)
    if gain_db == 4.0:
        assert untouched.mean() > 0.5  # quiet stretches are left exactly as they were
    assert plan.stats.limited_share == pytest.approx(1 - untouched.mean(), abs=0.05)


@pytest.mark.parametrize("segment", [1, 7, 100, 1000])
def test_plan_does_not_depend_on_its_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment: int
) -> None:
    """A pass reads the records in segments (about two minutes each); the hold's context, the
    release, the smoothing and the energy of the step awaiting its successor all carry across."""
    _, programme = _programme(STEREO, 2, tmp_path)
    whole = audio._limiter_pass(programme, 12.0, -2.0, tmp_path / "whole.f32")
    monkeypatch.setattr(audio, "PLAN_SEGMENT_STEPS", segment)
    cut = audio._limiter_pass(programme, 12.0, -2.0, tmp_path / "cut.f32")
    assert programme.steps > 4 * segment
    assert cut.lufs == pytest.approx(whole.lufs, abs=1e-9)
    assert cut.stats.limited_frames == whole.stats.limited_frames
    assert cut.stats.max_reduction_db == pytest.approx(whole.stats.max_reduction_db, abs=1e-9)
    np.testing.assert_allclose(
        np.fromfile(tmp_path / "cut.f32", dtype="<f4"),
        np.fromfile(tmp_path / "whole.f32", dtype="<f4"),
        rtol=1e-6,
    )


def test_plan_without_limiting_is_the_measured_loudness_plus_the_gain(tmp_path: Path) -> None:
    before, programme = _programme(SPEECH, 1, tmp_path)
    plan = audio._limiter_pass(programme, -6.0, -1.0)
    assert plan.stats.limited_frames == 0
    assert plan.lufs == pytest.approx(before.integrated_lufs - 6.0, abs=1e-4)


@pytest.mark.parametrize(("target", "make_up"), [(-16.0, 0.0), (-12.0, 3.0)])
def test_plan_solves_for_the_make_up_gain(tmp_path: Path, target: float, make_up: float) -> None:
    """-12 LUFS from a file peaking at +2.7 dBTP pins nearly all its power: the hard case."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan, passes = audio._plan_gain(programme, target, -2.0, None, tmp_path / "gains.f32")
    naive = target - before.integrated_lufs
    # The limiter took loudness off, the gain gives it back (none needed at -16 LUFS here).
    assert plan.gain_db >= naive + make_up
    assert plan.lufs == pytest.approx(target, abs=audio.PLAN_TOLERANCE_LU)
    assert passes <= 15
    meter = audio.LoudnessMeter(2, 44100)
    meter.add(_encoded_samples(programme, plan))
    assert meter.result().integrated_lufs == pytest.approx(target, abs=0.02)


def test_control_records_do_not_depend_on_block_size(tmp_path: Path) -> None:
    """The records (envelope and energy per step) and the true peak taken from them are the same
    however the stream is cut, and the true peak agrees with the meter and with ebur128."""
    data = decode(STEREO, 2)
    readings = []
    for size in [len(data), 3001, 45]:
        folder = tmp_path / str(size)
        folder.mkdir()
        blocks = (data[i : i + size] for i in range(0, len(data), size))
        measured, programme = audio._record_programme(
            blocks, folder, 2, 44100, dual_mono=False, progress=None, total_seconds=0.0
        )
        records = np.fromfile(programme.controls, dtype="<f4").reshape(-1, 4)
        assert programme.steps == len(records) == -(-len(data) // programme.shape.step)
        readings.append((measured, records, programme.sub_powers))
    (whole, expected, powers), *others = readings
    for measured, records, _ in others:
        np.testing.assert_allclose(records, expected, rtol=1e-5, atol=1e-9)
        assert measured.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-6)
    meter = audio.TruePeakMeter(2)
    meter.add(data)
    assert whole.true_peak_dbtp == pytest.approx(20 * np.log10(meter.finish()), abs=1e-4)
    assert whole.true_peak_dbtp == pytest.approx(ebur128(STEREO).true_peak, abs=0.2)
    # A + 2B + C is the step's energy: summed per sub-block it is the measured power.
    energy = expected[:, 1] + 2 * expected[:, 2] + expected[:, 3]
    per_sub, subs = 4410 // 45, len(powers)
    np.testing.assert_allclose(
        energy[: subs * per_sub].reshape(subs, per_sub).sum(axis=1) / 4410,
        powers.sum(axis=1),
        rtol=1e-4,
        atol=1e-12,
    )


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
