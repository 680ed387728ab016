"""The openai-whisper engine: a tiny random checkpoint through the whole path, then real weights.

The real-weights test converts the offline base model (CTranslate2) on demand and checks that
openai-whisper, with the settings faster-whisper uses, writes the same words as faster-whisper
float32 on the same audio.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jiwer
import pytest
import torch

from outreach.errors import TranscriptionError
from outreach.transcription import TranscribeOptions
from outreach.transcription.engines import load_engine
from outreach.transcription.models import ResolvedModel, resolve_model
from outreach.transcription.openai_engine import (
    OpenAIWhisperEngine,
    converted_checkpoint,
    decode_audio,
)

from .conftest import FIXTURES
from .helpers.whisper_models import (
    TINY_ALIGNMENT_HEADS,
    save_checkpoint,
    save_ct2,
    tiny_whisper,
)

SPEECH_EN = FIXTURES / "speech-en.wav"
DURATION = len(decode_audio(SPEECH_EN)) / 16_000
# A random model repeats itself: a high compression-ratio threshold spares the fallbacks.
TINY_OPTIONS = TranscribeOptions(
    language="en", beam_size=1, vad=False, compression_ratio_threshold=1000.0
)


def local(path: Path, cache_dir: Path | None = None) -> ResolvedModel:
    return ResolvedModel(path.name, path, True, cache_dir)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-whisper")
    model = tiny_whisper(seed=1)
    return {
        "pt": save_checkpoint(model, root / "tiny.pt", TINY_ALIGNMENT_HEADS),
        "ct2": save_ct2(model, root / "tiny-ct2", "float32", TINY_ALIGNMENT_HEADS),
        "cache": root / "cache",
    }


def assert_well_formed(segments: list, duration: float) -> None:
    assert isinstance(segments, list)
    previous_start = 0.0
    for index, segment in enumerate(segments):
        assert set(segment) == {"id", "start", "end", "speaker", "text", "words"}
        assert segment["id"] == index
        assert segment["speaker"] is None
        assert 0.0 <= segment["start"] <= segment["end"] <= duration + 0.01
        assert segment["start"] >= previous_start
        previous_start = segment["start"]
        assert segment["text"] and segment["text"] == segment["text"].strip()
        if segment["words"]:
            assert segment["text"] == " ".join(w["word"] for w in segment["words"])
            assert segment["start"] == segment["words"][0]["start"]
            assert segment["end"] == segment["words"][-1]["end"]
        for word in segment["words"]:
            assert set(word) == {"start", "end", "word", "probability"}
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"]
            assert word["word"] and word["word"] == word["word"].strip()
            assert 0.0 <= word["probability"] <= 1.0


def test_random_checkpoint_runs_the_whole_path(tiny: dict[str, Path]) -> None:
    engine = load_engine("openai-whisper", local(tiny["pt"]), TINY_OPTIONS)
    assert isinstance(engine, OpenAIWhisperEngine)
    assert engine.name == "openai-whisper" and engine.model == "tiny.pt"
    heads = engine._whisper.alignment_heads.to_dense().nonzero().tolist()
    assert heads == TINY_ALIGNMENT_HEADS  # from the checkpoint, not whisper's default
    # Assembled around the checkpoint's tensors: the same model Whisper(dims) + load would give.
    reference = tiny_whisper(seed=1)
    assert torch.equal(engine._whisper.decoder.mask, reference.decoder.mask)
    for key, value in reference.state_dict().items():
        assert torch.equal(engine._whisper.state_dict()[key], value), key
    seen: list[float] = []
    segments = engine.transcribe(SPEECH_EN, TINY_OPTIONS, seen.append)
    assert_well_formed(segments, DURATION)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(DURATION)
    # Seeded weights (positional embedding included) and greedy decoding: the same run twice.
    assert engine.transcribe(SPEECH_EN, TINY_OPTIONS) == segments


def test_ct2_directory_is_converted_once_and_cached(tiny: dict[str, Path]) -> None:
    from_pt = load_engine("openai-whisper", local(tiny["pt"]), TINY_OPTIONS)
    engine = load_engine("openai-whisper", local(tiny["ct2"], tiny["cache"]), TINY_OPTIONS)
    cached = engine.checkpoint
    assert cached.parent == tiny["cache"] / "openai-whisper"
    assert re.fullmatch(r"[0-9a-f]{64}\.pt", cached.name)  # keyed by the model.bin SHA-256
    stamp = cached.stat().st_mtime_ns
    assert converted_checkpoint(tiny["ct2"], tiny["cache"]) == cached
    assert cached.stat().st_mtime_ns == stamp  # reused, not converted again
    # float32 CTranslate2 weights convert exactly: the same transcript as the original checkpoint.
    assert engine.transcribe(SPEECH_EN, TINY_OPTIONS) == from_pt.transcribe(SPEECH_EN, TINY_OPTIONS)


def test_decode_options_follow_the_team_settings(tiny: dict[str, Path]) -> None:
    engine = OpenAIWhisperEngine(local(tiny["pt"]), TINY_OPTIONS)
    glossary = ("Vinnova", "AI Sweden")
    beam = engine.decode_options(TranscribeOptions(beam_size=5, glossary=glossary))
    assert beam["language"] == "sv" and beam["beam_size"] == 5 and beam["patience"] == 1.0
    assert beam["condition_on_previous_text"] is False and beam["word_timestamps"] is True
    assert beam["fp16"] is False
    assert beam["compression_ratio_threshold"] == 2.4
    assert beam["hallucination_silence_threshold"] == 2.0
    assert beam["initial_prompt"] == "Vinnova, AI Sweden" and beam["carry_initial_prompt"]
    greedy = engine.decode_options(TranscribeOptions(beam_size=1))
    assert greedy["beam_size"] is None and "patience" not in greedy
    assert "initial_prompt" not in greedy


def test_bad_models_and_audio_are_one_line_errors(tiny: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError, match="needs local weights, not the hub name"):
        load_engine(
            "openai-whisper", ResolvedModel("KBLab/kb-whisper-base", None, False), TINY_OPTIONS
        )
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(TranscriptionError, match="is not an openai-whisper checkpoint") as info:
        load_engine("openai-whisper", local(broken), TINY_OPTIONS)
    assert "\n" not in str(info.value)
    with pytest.raises(TranscriptionError, match="not a CTranslate2 model directory"):
        load_engine("openai-whisper", local(tmp_path), TINY_OPTIONS)
    engine = load_engine("openai-whisper", local(tiny["pt"]), TINY_OPTIONS)
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(TranscriptionError, match="cannot decode audio file noise.wav"):
        engine.transcribe(noise, TINY_OPTIONS)


# -- real weights -------------------------------------------------------------------------------
SAME_SETTINGS = TranscribeOptions(language="en", beam_size=5, vad=False, glossary=())


@pytest.fixture(scope="module")
def base_engine(tmp_path_factory: pytest.TempPathFactory) -> OpenAIWhisperEngine:
    """The offline base alias, converted on demand into this session's cache."""
    base = dataclasses.replace(resolve_model("base"), cache_dir=tmp_path_factory.mktemp("cache"))
    engine = load_engine("openai-whisper", base, SAME_SETTINGS)
    assert isinstance(engine, OpenAIWhisperEngine)
    return engine


def faster_whisper_words(audio: Path, options: TranscribeOptions) -> str:
    """faster-whisper float32 on the same weights, with the settings the engine gives openai-whisper."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(resolve_model("base").path), compute_type="float32", cpu_threads=2)
    pieces, _ = model.transcribe(
        decode_audio(audio),
        language=options.language,
        beam_size=options.beam_size,
        vad_filter=False,
        condition_on_previous_text=False,
        word_timestamps=True,
        compression_ratio_threshold=options.compression_ratio_threshold,
        hallucination_silence_threshold=options.hallucination_silence_threshold,
    )
    return " ".join(w.word.strip() for piece in pieces for w in piece.words if w.word.strip())


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@pytest.mark.slow
def test_converted_base_model_transcribes_english_like_faster_whisper(
    base_engine: OpenAIWhisperEngine,
) -> None:
    segments = base_engine.transcribe(SPEECH_EN, SAME_SETTINGS)
    assert_well_formed(segments, DURATION)
    text = " ".join(segment["text"] for segment in segments)
    reference = (FIXTURES / "speech-en.txt").read_text(encoding="utf-8")
    assert jiwer.wer(normalised(reference), normalised(text)) <= 0.20
    assert text == faster_whisper_words(SPEECH_EN, SAME_SETTINGS)
    assert all(word["probability"] > 0.0 for s in segments for word in s["words"])
