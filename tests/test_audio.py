"""outreach.audio: probing, and normalize_loudness end to end (one encode, checked by ebur128)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from outreach.audio import decode, normalize
from outreach.audio.normalize import normalize_loudness
from outreach.errors import AudioError, ValidationError

from .conftest import FIXTURES
from .helpers.loudness import ebur128, loudnorm_linear

STEREO = FIXTURES / "audio-stereo-peaks.flac"
SPEECH = FIXTURES / "audio-speech.flac"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-audio.mp3", "not an audio file"),
        ("corrupt.flac", "corrupt audio"),
    ],
)
def test_probe_refuses_bad_files(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        decode.probe(FIXTURES / name)


def test_probe_refuses_empty_and_silent_streams(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        decode.probe(empty)
    info = decode.probe(SPEECH)
    assert (info.channels, info.sample_rate) == (1, 22050)
    assert info.duration_seconds == pytest.approx(4.99, abs=0.05)


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
    report = normalize_loudness(
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
        normalize_loudness(
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


def test_audio_too_short_for_bs1770_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "kort.wav"
    subprocess.run(
        [decode.ffmpeg_exe(), "-v", "error", "-i", str(SPEECH), "-t", "0.25", str(short)],
        check=True,
    )
    output = tmp_path / "out" / "episode.mp3"
    with pytest.raises(
        AudioError, match=r"lasts 0.25 s: loudness \(BS.1770\) needs at least 0.4 s"
    ):
        normalize_loudness(
            [short],
            output,
            target_lufs=-16.0,
            ceiling_dbtp=-1.0,
            channels=1,
            sample_rate=44100,
            bitrate_kbps=96,
            dual_mono=True,
        )
    assert not output.exists()


def test_an_unreachable_target_is_refused_not_written(tmp_path: Path) -> None:
    """-3 LUFS under a -1 dBTP ceiling: once a quieter file was written with a note and exit 0;
    the promise is the target or nothing."""
    output = tmp_path / "out" / "episode.mp3"
    with pytest.raises(AudioError, match=r"-3 LUFS is out of reach under the -1 dBTP ceiling"):
        normalize_loudness(
            [STEREO],
            output,
            target_lufs=-3.0,
            ceiling_dbtp=-1.0,
            channels=2,
            sample_rate=44100,
            bitrate_kbps=128,
            dual_mono=False,
        )
    assert list(output.parent.iterdir()) == []


def test_an_mp3_over_the_ceiling_after_every_attempt_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoded file is judged by ffmpeg's meter: made to aim 3 dB over the ceiling with no
    second attempt, normalisation fails with the measured figures and writes nothing."""
    monkeypatch.setattr(normalize, "ENCODER_HEADROOM_DB", -3.0)
    monkeypatch.setattr(normalize, "MAX_ATTEMPTS", 1)
    output = tmp_path / "out" / "episode.mp3"
    with pytest.raises(AudioError, match=r"true peak \+\d\.\d dBTP is over the -1 dBTP ceiling"):
        normalize_loudness(
            [SPEECH],
            output,
            target_lufs=-12.0,
            ceiling_dbtp=-1.0,
            channels=1,
            sample_rate=44100,
            bitrate_kbps=96,
            dual_mono=True,
        )
    assert list(output.parent.iterdir()) == []


@pytest.mark.parametrize("fixture", ["audio-speech.flac", "audio-stereo-peaks.flac"])
def test_loudnorm_linear_falls_back_on_speech_so_it_is_not_used(
    tmp_path: Path, fixture: str
) -> None:
    """Why normalize_loudness has its own gain and limiter: asked for `linear=true` (as
    ffmpeg-normalize does), loudnorm reports that it did dynamic normalisation instead, and its
    output is resampled to 192 kHz. Ours on the same file stays linear at 44.1 kHz."""
    source = FIXTURES / fixture
    theirs = tmp_path / "loudnorm.wav"
    report = loudnorm_linear(source, theirs, -16.0, -1.0)
    assert report["normalization_type"] == "dynamic"
    assert decode.probe(theirs).sample_rate == 192000
    ours = tmp_path / "ours" / "episode.mp3"
    channels = decode.probe(source).channels
    normalize_loudness(
        [source],
        ours,
        target_lufs=-16.0,
        ceiling_dbtp=-1.0,
        channels=channels,
        sample_rate=44100,
        bitrate_kbps=128 if channels == 2 else 96,
        dual_mono=channels == 1,
    )
    assert decode.probe(ours).sample_rate == 44100
    reading = ebur128(ours, dual_mono=channels == 1)
    assert reading.integrated == pytest.approx(-16.0, abs=0.5)
    assert reading.true_peak <= -1.0
    before = ebur128(source, dual_mono=channels == 1)
    assert abs(reading.loudness_range - before.loudness_range) <= 1.0
