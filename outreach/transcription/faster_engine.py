"""The faster-whisper engine (CTranslate2): the default, int8 on the CPU.

The only module that imports faster_whisper. It turns the library's segments into the shared
`Segment` shape and its exceptions into one-line `TranscriptionError`s that say what to set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from outreach.errors import TranscriptionError
from outreach.transcription import (
    ProgressCallback,
    Segment,
    TranscribeOptions,
    build_segment,
    first_line,
)
from outreach.transcription.models import ResolvedModel, offline_environment

MODEL_HINT = (
    "set [transcription] model to a CTranslate2 Whisper model directory, 'base' (offline), "
    "or a hub name such as KBLab/kb-whisper-base"
)


def available_cores() -> int:
    """CPU cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class FasterWhisperEngine:
    """One loaded CTranslate2 Whisper model; `transcribe` may be called for several files."""

    name = "faster-whisper"

    def __init__(self, model: ResolvedModel, options: TranscribeOptions) -> None:
        offline_environment(model)
        from faster_whisper import WhisperModel

        self.model = model.name
        self.model_path = self._local_directory(model)
        threads = options.cpu_threads or available_cores()
        try:
            self._whisper = WhisperModel(
                str(self.model_path),
                device="cpu",
                compute_type=options.compute_type,
                cpu_threads=threads,
                num_workers=1,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise TranscriptionError(
                f"cannot load the Whisper model {model.name}: {first_line(exc)}; {MODEL_HINT}"
            ) from None

    @staticmethod
    def _local_directory(model: ResolvedModel) -> Path:
        if model.path is not None:
            if model.path.is_file():
                raise TranscriptionError(
                    f"{model.path.name} is a single file; faster-whisper needs a CTranslate2 model "
                    "directory (model.bin, config.json, tokenizer.json); use --engine openai-whisper "
                    "for .pt checkpoints"
                )
            if not (model.path / "model.bin").is_file():
                raise TranscriptionError(
                    f"{model.path} has no model.bin, so it is not a CTranslate2 Whisper model; "
                    f"{MODEL_HINT}"
                )
            return model.path
        from faster_whisper.utils import download_model

        try:
            return Path(download_model(model.name))
        except Exception as exc:
            raise TranscriptionError(
                f"cannot fetch the model {model.name} from the Hugging Face Hub "
                f"({first_line(exc)}); without internet, download it elsewhere and set "
                "[transcription] model to its directory, or use model 'base' (offline)"
            ) from None

    def transcribe(
        self,
        audio: Path,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        kwargs: dict[str, Any] = {
            "language": options.language,
            "beam_size": options.beam_size,
            "vad_filter": options.vad,
            "condition_on_previous_text": False,
            "word_timestamps": True,
            "compression_ratio_threshold": options.compression_ratio_threshold,
            "hallucination_silence_threshold": options.hallucination_silence_threshold,
        }
        if options.glossary:
            # hotwords are prompted for every 30-second window (initial_prompt only for the first
            # one once condition_on_previous_text is off).
            kwargs["hotwords"] = ", ".join(options.glossary)
        kwargs.update(options.extra)
        try:
            pieces, info = self._whisper.transcribe(str(audio), **kwargs)
            segments: list[Segment] = []
            for piece in pieces:
                segment = _segment(len(segments), piece)
                if segment is not None:
                    segments.append(segment)
                if progress is not None:
                    progress(min(piece.end, info.duration))
        except (ValueError, RuntimeError, OSError) as exc:
            if "not a valid language code" in str(exc):
                raise TranscriptionError(
                    f"unknown language code {options.language!r}; give a Whisper language code "
                    "such as sv, en or fi (--language or the episode's language)"
                ) from None
            raise TranscriptionError(
                f"faster-whisper failed on {audio.name}: {first_line(exc)}"
            ) from None
        except Exception as exc:
            # PyAV's decoding errors do not share a base class with the builtins.
            if type(exc).__module__.startswith("av"):
                raise TranscriptionError(
                    f"cannot decode audio file {audio.name}: {first_line(exc)}"
                ) from None
            raise
        if progress is not None:
            progress(info.duration)
        return segments


def _segment(index: int, piece: Any) -> Segment | None:
    words = ((w.start, w.end, w.word, w.probability) for w in piece.words or [])
    return build_segment(index, words, piece.text, piece.start, piece.end)
