"""outreach.audio: the BS.1770 meter, true peak, the limiter and probing, against independent meters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from outreach import audio
from outreach.errors import ValidationError

from .conftest import FIXTURES
from .helpers.loudness import decode, ebur128, pyloudnorm_lufs

STEREO = FIXTURES / "audio-stereo-peaks.flac"
SPEECH = FIXTURES / "audio-speech.flac"


def test_k_weighting_at_48k_is_the_recommendation() -> None:
    # ITU-R BS.1770-4, tables 1 and 2 (48 kHz).
    sos = audio.k_weighting_sos(48000)
    np.testing.assert_allclose(
        sos[0],
        [
            1.53512485958697,
            -2.69169618940638,
            1.19839281085285,
            1,
            -1.69065929318241,
            0.73248077421585,
        ],
        atol=1e-9,
    )
    np.testing.assert_allclose(
        sos[1], [1.0, -2.0, 1.0, 1, -1.99004745483398, 0.99007225036621], atol=1e-9
    )


def test_integrated_loudness_matches_pyloudnorm_and_ffmpeg() -> None:
    measured = audio.measure([STEREO], 2, 44100)
    assert measured.integrated_lufs == pytest.approx(pyloudnorm_lufs(STEREO, 2), abs=0.1)
    reference = ebur128(STEREO)
    assert measured.integrated_lufs == pytest.approx(reference.integrated, abs=0.1)
    assert measured.true_peak_dbtp == pytest.approx(reference.true_peak, abs=0.2)
    assert measured.loudness_range_lu == pytest.approx(reference.loudness_range, abs=0.5)


def test_mono_is_measured_as_dual_mono_when_asked() -> None:
    single = audio.measure([SPEECH], 1, 44100)
    dual = audio.measure([SPEECH], 1, 44100, dual_mono=True)
    assert dual.integrated_lufs - single.integrated_lufs == pytest.approx(
        10 * math.log10(2), abs=0.01
    )
    assert single.integrated_lufs == pytest.approx(pyloudnorm_lufs(SPEECH, 1), abs=0.1)
    assert dual.integrated_lufs == pytest.approx(
        ebur128(SPEECH, dual_mono=True).integrated, abs=0.1
    )


def test_measurement_does_not_depend_on_block_size() -> None:
    """Filter state and partial 100 ms sub-blocks carry across blocks (streaming is exact)."""
    data = decode(STEREO, 2)
    whole = audio.LoudnessMeter(2, 44100)
    whole.add(data)
    pieces = audio.LoudnessMeter(2, 44100)
    for start in range(0, len(data), 997):
        pieces.add(data[start : start + 997])
    a, b = whole.result(), pieces.result()
    assert a.integrated_lufs == pytest.approx(b.integrated_lufs, abs=1e-9)
    assert a.true_peak_dbtp == pytest.approx(b.true_peak_dbtp, abs=1e-9)
    assert a.loudness_range_lu == pytest.approx(b.loudness_range_lu, abs=1e-9)


def test_true_peak_finds_inter_sample_peaks() -> None:
    # A tone at fs/4, 45 degrees off the sample grid: samples read 0.707 of the real peak.
    t = np.arange(44100)
    tone = (0.9 * np.sin(np.pi / 2 * t + np.pi / 4))[:, None]
    meter = audio.TruePeakMeter(1)
    meter.add(tone)
    assert 20 * math.log10(np.abs(tone).max()) == pytest.approx(
        20 * math.log10(0.9 * 0.7071), abs=0.01
    )
    assert 20 * math.log10(meter.finish()) == pytest.approx(20 * math.log10(0.9), abs=0.1)


def test_silence_gates_out() -> None:
    gated = audio.measure([FIXTURES / "audio-long-silence.flac"], 1, 44100)
    speech_only = ebur128(FIXTURES / "audio-long-silence.flac")
    assert gated.integrated_lufs == pytest.approx(speech_only.integrated, abs=0.1)


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
    _, programme = audio._record_programme(
        blocks, tmp_path, 2, rate, dual_mono=False, progress=None, total_seconds=0.0
    )
    plan = audio._limiter_pass(programme, 0.0, -1.0, tmp_path / "gains.f32")
    result = np.concatenate(list(audio._planned_blocks(programme, plan)))
    assert result.shape == signal_in.shape
    meter = audio.TruePeakMeter(2)
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
        shape = audio.LimiterShape.for_rate(rate)
        assert shape.step == step
        assert round(audio.SUB_BLOCK_SECONDS * rate) % shape.step == 0
        # The hold must reach past the smoothing, or a peak would leak through the ramp.
        assert shape.hold > shape.lookahead
        assert shape.lookahead * shape.step >= audio.LIMITER_LOOKAHEAD_SECONDS * rate
        assert shape.release_db == pytest.approx(audio.LIMITER_RELEASE_DB_PER_SECOND * step / rate)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-audio.mp3", "not an audio file"),
        ("corrupt.flac", "corrupt audio"),
    ],
)
def test_probe_refuses_bad_files(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        audio.probe(FIXTURES / name)


def test_probe_refuses_empty_and_silent_streams(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        audio.probe(empty)
    info = audio.probe(SPEECH)
    assert (info.channels, info.sample_rate) == (1, 22050)
    assert info.duration_seconds == pytest.approx(4.99, abs=0.05)
