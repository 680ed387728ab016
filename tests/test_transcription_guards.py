"""Engine-independent guards, the ffmpeg probe and the model hash cache."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from outreach.errors import TranscriptionError
from outreach.transcription import Segment, TranscribeOptions
from outreach.transcription.guards import (
    GuardReport,
    apply_guards,
    compression_ratio,
    drop_silent_text,
)
from outreach.transcription.models import HASH_CACHE_FILE, model_hash
from outreach.transcription.probe import probe_audio

from .conftest import FIXTURES
from .helpers.episodes import make_audio


def seg(index: int, start: float, end: float, text: str, timed: bool = True) -> Segment:
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = [
        {"start": start + i * step, "end": start + (i + 1) * step, "word": t, "probability": 0.9}
        for i, t in enumerate(tokens)
    ]
    return {
        "id": index,
        "start": start,
        "end": end,
        "speaker": None,
        "text": text,
        "words": words if timed else [],
    }


def test_three_identical_segments_collapse_to_one_but_two_stay() -> None:
    loop = [seg(i, i, i + 1, "Tack för att ni lyssnade.") for i in range(5)]
    pair = [seg(5, 6, 7, "Ja."), seg(6, 7, 8, "ja!")]
    report = GuardReport()
    kept = apply_guards([seg(9, 0, 0.5, "Hej."), *loop, *pair], TranscribeOptions(), (), report)
    assert [s["text"] for s in kept] == ["Hej.", "Tack för att ni lyssnade.", "Ja.", "ja!"]
    assert report.repeated_segments == 4


def test_highly_compressible_segment_is_dropped() -> None:
    looping = "och så vidare " * 20
    assert compression_ratio(looping) > 2.4 > compression_ratio("Välkommen till Digitalsamtal.")
    report = GuardReport()
    kept = apply_guards(
        [seg(0, 0, 2, "Välkommen till Digitalsamtal."), seg(1, 2, 30, looping)],
        TranscribeOptions(),
        report=report,
    )
    assert [s["id"] for s in kept] == [0] and report.compressed_segments == 1


def test_words_wholly_inside_a_silence_are_dropped() -> None:
    silences = [(5.0, 12.0)]
    stretched = seg(0, 3.0, 6.0, "sista ordet")  # "ordet" runs 4.5–6.0: into the pause, kept
    invented = seg(1, 7.0, 9.0, "Textning av Svensk Medietext")  # all inside: dropped
    partly = seg(2, 11.0, 14.0, "tyst här sedan tal")  # 11.0–11.75 inside, rest after
    report = GuardReport()
    kept = drop_silent_text([stretched, invented, partly], silences, report)
    assert [s["text"] for s in kept] == ["sista ordet", "här sedan tal"]
    assert kept[1]["start"] == pytest.approx(11.75)
    assert (report.silent_segments, report.silent_words) == (1, 5)
    untimed = drop_silent_text([seg(3, 6.0, 8.0, "Tack.", timed=False)], silences, report)
    assert untimed == []


def test_the_sorted_search_agrees_with_checking_every_silence() -> None:
    """drop_silent_text searches sorted silences (it checked every word against every silence:
    0.66 s at 180 minutes); unsorted, overlapping and nested silences give the same answer."""
    rng = random.Random(15)
    for _ in range(200):
        silences = []
        for _ in range(rng.randint(1, 8)):
            start = rng.uniform(0, 60)
            silences.append((start, start + rng.uniform(0.5, 15)))
        segments = [
            seg(i, start, start + rng.uniform(0.3, 6), " ".join(["ord"] * rng.randint(1, 6)))
            for i, start in enumerate(sorted(rng.uniform(0, 70) for _ in range(12)))
        ]
        expected = [
            [
                w
                for w in s["words"]
                if not any(a <= w["start"] and w["end"] <= b for a, b in silences)
            ]
            for s in segments
        ]
        kept = drop_silent_text(segments, silences, GuardReport())
        assert [s["words"] for s in kept] == [words for words in expected if words]


@pytest.fixture(scope="module")
def padded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("audio") / "padded.wav"
    return make_audio(FIXTURES / "speech-sv.wav", target, lead=6.0, tail=8.0)


def test_probe_finds_duration_and_the_padding(padded: Path) -> None:
    probe = probe_audio(padded, 2.0)
    assert probe.duration == pytest.approx(6.0 + 13.64 + 8.0, abs=0.1)
    assert probe.silences[0][0] == pytest.approx(0.0, abs=0.05)
    assert probe.silences[0][1] == pytest.approx(6.0, abs=0.3)
    assert probe.silences[-1][1] == pytest.approx(probe.duration, abs=0.05)
    assert probe.silences[-1][0] == pytest.approx(6.0 + 13.64, abs=1.0)
    assert all(end - start >= 2.0 for start, end in probe.silences)


def test_probe_refuses_corrupt_and_missing_audio(tmp_path: Path) -> None:
    corrupt = tmp_path / "trasig.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000))
    with pytest.raises(TranscriptionError, match="cannot decode audio file trasig.wav"):
        probe_audio(corrupt)
    with pytest.raises(TranscriptionError, match="audio file not found"):
        probe_audio(tmp_path / "saknas.mp3")


def test_model_hash_is_sha256_of_weights_and_cached(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"weights" * 1000)
    cache = tmp_path / "cache"
    expected = hashlib.sha256(b"weights" * 1000).hexdigest()
    assert model_hash(model, cache) == expected
    stored = json.loads((cache / HASH_CACHE_FILE).read_text())
    assert list(stored.values()) == [expected]
    # A cached hash is reused as long as size and mtime match ...
    (cache / HASH_CACHE_FILE).write_text(json.dumps({k: "cached" for k in stored}))
    assert model_hash(model, cache) == "cached"
    # ... and recomputed when the file changes.
    (model / "model.bin").write_bytes(b"other")
    assert model_hash(model, cache) == hashlib.sha256(b"other").hexdigest()
    assert model_hash(tmp_path / "empty", cache) is None
