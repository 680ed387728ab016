"""outreach.loudness: the BS.1770 meter and true peak, against pyloudnorm and ffmpeg's ebur128."""

from __future__ import annotations

import math

import numpy as np
import pytest

from outreach.audio import decode as audio_decode
from outreach.audio import loudness

from .conftest import FIXTURES
from .helpers.loudness import decode, ebur128, pyloudnorm_lufs

STEREO = FIXTURES / "audio-stereo-peaks.flac"
SPEECH = FIXTURES / "audio-speech.flac"


def test_k_weighting_at_48k_is_the_recommendation() -> None:
    # ITU-R BS.1770-4, tables 1 and 2 (48 kHz).
    sos = loudness.k_weighting_sos(48000)
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
    measured = audio_decode.measure([STEREO], 2, 44100)
    assert measured.integrated_lufs == pytest.approx(pyloudnorm_lufs(STEREO, 2), abs=0.1)
    reference = ebur128(STEREO)
    assert measured.integrated_lufs == pytest.approx(reference.integrated, abs=0.1)
    assert measured.true_peak_dbtp == pytest.approx(reference.true_peak, abs=0.2)
    assert measured.loudness_range_lu == pytest.approx(reference.loudness_range, abs=0.5)


def test_mono_is_measured_as_dual_mono_when_asked() -> None:
    single = audio_decode.measure([SPEECH], 1, 44100)
    dual = audio_decode.measure([SPEECH], 1, 44100, dual_mono=True)
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
    whole = loudness.LoudnessMeter(2, 44100)
    whole.add(data)
    pieces = loudness.LoudnessMeter(2, 44100)
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
    meter = loudness.TruePeakMeter(1)
    meter.add(tone)
    assert 20 * math.log10(np.abs(tone).max()) == pytest.approx(
        20 * math.log10(0.9 * 0.7071), abs=0.01
    )
    assert 20 * math.log10(meter.finish()) == pytest.approx(20 * math.log10(0.9), abs=0.1)


def test_silence_gates_out() -> None:
    gated = audio_decode.measure([FIXTURES / "audio-long-silence.flac"], 1, 44100)
    speech_only = ebur128(FIXTURES / "audio-long-silence.flac")
    assert gated.integrated_lufs == pytest.approx(speech_only.integrated, abs=0.1)
