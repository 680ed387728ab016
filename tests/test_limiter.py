"""outreach.limiter: the control-rate true-peak limiter and the plan that solves for its gain."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from outreach.audio import decode as audio_decode
from outreach.audio import limiter, loudness
from outreach.audio import programme as first_pass

from .conftest import FIXTURES
from .helpers.loudness import decode, ebur128

STEREO = FIXTURES / "audio-stereo-peaks.flac"
SPEECH = FIXTURES / "audio-speech.flac"


def _programme(
    path: Path, channels: int, folder: Path
) -> tuple[loudness.Measurement, first_pass.Programme]:
    blocks = audio_decode.decode_blocks([path], channels, 44100)
    return first_pass.record_programme(
        blocks, folder, channels, 44100, dual_mono=False, progress=None, total_seconds=0.0
    )


def _encoded_samples(programme: first_pass.Programme, plan: limiter.Plan) -> np.ndarray:
    return np.concatenate(list(limiter.limited_blocks(programme, plan)))


@pytest.mark.parametrize("gain_db", [4.0, 9.0, 15.0, 20.0])
def test_plan_predicts_what_gets_encoded(tmp_path: Path, gain_db: float) -> None:
    """The plan's loudness, computed from the control records alone, is that of the samples the
    encode pass sends; those stay under the ceiling; where the limiter does not act they are
    the source times the gain."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan = limiter.limiter_pass(programme, gain_db, -2.0, tmp_path / "gains.f32")
    assert plan.stats.max_reduction_db > 0, "the gain must make the limiter act"
    planned = _encoded_samples(programme, plan)
    source = decode(STEREO, 2).astype(np.float32)
    assert planned.shape == source.shape
    meter = loudness.LoudnessMeter(2, 44100)
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
    whole = limiter.limiter_pass(programme, 12.0, -2.0, tmp_path / "whole.f32")
    monkeypatch.setattr(limiter, "PLAN_SEGMENT_STEPS", segment)
    cut = limiter.limiter_pass(programme, 12.0, -2.0, tmp_path / "cut.f32")
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
    plan = limiter.limiter_pass(programme, -6.0, -1.0)
    assert plan.stats.limited_frames == 0
    assert plan.lufs == pytest.approx(before.integrated_lufs - 6.0, abs=1e-4)


@pytest.mark.parametrize(("target", "make_up"), [(-16.0, 0.0), (-12.0, 3.0)])
def test_plan_solves_for_the_make_up_gain(tmp_path: Path, target: float, make_up: float) -> None:
    """-12 LUFS from a file peaking at +2.7 dBTP pins nearly all its power: the hard case."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan, passes = limiter.solve_gain(programme, target, -2.0, None, tmp_path / "gains.f32")
    naive = target - before.integrated_lufs
    # The limiter took loudness off, the gain gives it back (none needed at -16 LUFS here).
    assert plan.gain_db >= naive + make_up
    assert plan.lufs == pytest.approx(target, abs=limiter.PLAN_TOLERANCE_LU)
    assert passes <= 15
    meter = loudness.LoudnessMeter(2, 44100)
    meter.add(_encoded_samples(programme, plan))
    assert meter.result().integrated_lufs == pytest.approx(target, abs=0.02)


def test_an_unreachable_target_gets_the_most_make_up_gain(tmp_path: Path) -> None:
    """-3 LUFS under a -2 dBTP ceiling would need the audio to be all peaks: the plan stops at
    the largest make-up gain instead of searching forever."""
    before, programme = _programme(STEREO, 2, tmp_path)
    plan, passes = limiter.solve_gain(programme, -3.0, -2.0, None, tmp_path / "gains.f32")
    naive = -3.0 - before.integrated_lufs
    assert plan.gain_db == pytest.approx(naive + limiter.MAX_MAKEUP_DB)
    assert plan.lufs < -3.0 - 1.0
    assert passes <= 8


def test_control_records_do_not_depend_on_block_size(tmp_path: Path) -> None:
    """The records (envelope and energy per step) and the true peak taken from them are the same
    however the stream is cut, and the true peak agrees with the meter and with ebur128."""
    data = decode(STEREO, 2)
    readings = []
    for size in [len(data), 3001, 45]:
        folder = tmp_path / str(size)
        folder.mkdir()
        blocks = (data[i : i + size] for i in range(0, len(data), size))
        measured, programme = first_pass.record_programme(
            blocks, folder, 2, 44100, dual_mono=False, progress=None, total_seconds=0.0
        )
        records = np.fromfile(programme.controls, dtype="<f4").reshape(-1, 4)
        assert programme.steps == len(records) == -(-len(data) // programme.shape.step)
        readings.append((measured, records, programme.sub_powers))
    (whole, expected, powers), *others = readings
    for measured, records, _ in others:
        np.testing.assert_allclose(records, expected, rtol=1e-5, atol=1e-9)
        assert measured.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-6)
    meter = loudness.TruePeakMeter(2)
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


def test_limiter_keeps_oversampled_peaks_under_the_ceiling_and_leaves_the_rest(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    rate = 44100
    quiet = 0.05 * rng.standard_normal((rate, 2))
    loud = np.zeros((rate // 5, 2))
    t = np.arange(len(loud))
    loud[:, 0] = 1.6 * np.sin(np.pi / 2 * t + np.pi / 4)
    loud[:, 1] = 1.2 * np.sin(2 * np.pi * 1000 / rate * t)
    signal_in = np.concatenate([quiet, loud, quiet]).astype(np.float32)
    blocks = (signal_in[start : start + 4096] for start in range(0, len(signal_in), 4096))
    _, programme = first_pass.record_programme(
        blocks, tmp_path, 2, rate, dual_mono=False, progress=None, total_seconds=0.0
    )
    plan = limiter.limiter_pass(programme, 0.0, -1.0, tmp_path / "gains.f32")
    result = np.concatenate(list(limiter.limited_blocks(programme, plan)))
    assert result.shape == signal_in.shape
    meter = loudness.TruePeakMeter(2)
    meter.add(result)
    assert 20 * math.log10(meter.finish()) <= -1.0 + 0.01
    # Far from the peaks nothing changes: the limiter is not a compressor.
    np.testing.assert_array_equal(result[: rate // 2], signal_in[: rate // 2])
    np.testing.assert_array_equal(result[-rate // 2 :], signal_in[-rate // 2 :])
    assert plan.stats.max_reduction_db > 4
    # The reduction starts within the hold before the loud part (plus a step for the
    # interpolator's reach and one for the gain's interpolation).
    touched = np.flatnonzero(np.any(result != signal_in, axis=1))
    lead = (programme.shape.hold + 2) * programme.shape.step
    assert rate - lead <= touched[0] < rate


def test_limiter_timing_in_control_steps() -> None:
    for rate, step in [(44100, 45), (48000, 48), (22050, 21), (32000, 32)]:
        shape = first_pass.LimiterShape.for_rate(rate)
        assert shape.step == step
        assert round(loudness.SUB_BLOCK_SECONDS * rate) % shape.step == 0
        # The hold must reach past the smoothing, or a peak would leak through the ramp.
        assert shape.hold > shape.lookahead
        assert shape.lookahead * shape.step >= first_pass.LIMITER_LOOKAHEAD_SECONDS * rate
        assert shape.release_db == pytest.approx(
            first_pass.LIMITER_RELEASE_DB_PER_SECOND * step / rate
        )


@pytest.mark.parametrize("offset_ms", [0.0, 0.5, 1.0, 2.5, 4.0])
@pytest.mark.parametrize("burst_ms", [0.5, 3.0, 10.0])
def test_a_burst_at_the_very_start_is_limited_too(
    tmp_path: Path, offset_ms: float, burst_ms: float
) -> None:
    """The look-ahead has no steps before the first one to ramp down over: a hot 2.5 kHz burst
    in the first milliseconds passed with only a quarter of its reduction (+17 dBTP in the
    MP3 at 20 dB of make-up gain). The limiter now starts already down as far as they need."""
    rate = 44100
    rng = np.random.default_rng(3)
    signal_in = 0.003 * rng.standard_normal((rate, 1))
    t = np.arange(max(1, round(burst_ms / 1000 * rate)))
    start = round(offset_ms / 1000 * rate)
    signal_in[start : start + len(t), 0] += 0.56 * np.sin(2 * np.pi * 2500 / rate * t)
    blocks = iter([signal_in.astype(np.float32)])
    _, programme = first_pass.record_programme(
        blocks, tmp_path, 1, rate, dual_mono=False, progress=None, total_seconds=0.0
    )
    plan = limiter.limiter_pass(programme, 22.0, -2.0, tmp_path / "gains.f32")
    meter = loudness.TruePeakMeter(1)
    meter.add(_encoded_samples(programme, plan))
    assert 20 * math.log10(meter.finish()) <= -2.0 + 0.01
