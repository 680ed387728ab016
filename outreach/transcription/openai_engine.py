"""The openai-whisper engine (PyTorch, fp32 on the CPU): the engine the design card names.

The only module besides `ct2_convert` that imports torch or whisper (the `openai-whisper` extra).
The model may be an openai-whisper checkpoint (`.pt`), a CTranslate2 Whisper directory (converted
once by `ct2_convert` and cached under the models cache, keyed by the SHA-256 of its `model.bin`)
or an alias such as `base`, which resolves to such a directory. So both engines can run on the
same weights, and with the same settings give the same words.

Settings follow the faster-whisper engine: the language is given, `condition_on_previous_text` is
off, word timestamps on, `hallucination_silence_threshold` and the compression-ratio threshold as
set, and the glossary is the prompt of every 30-second window (`initial_prompt` with
`carry_initial_prompt`: the same tokens faster-whisper's `hotwords` put there). openai-whisper has
no VAD filter; the engine-independent silence guard covers that part.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from outreach.errors import TranscriptionError
from outreach.transcription import (
    ProgressCallback,
    Segment,
    TranscribeOptions,
    build_segment,
    first_line,
)
from outreach.transcription.ct2_convert import convert_ct2_dir, require_openai_whisper
from outreach.transcription.ct2_reader import model_bin_path
from outreach.transcription.faster_engine import available_cores
from outreach.transcription.models import (
    ResolvedModel,
    default_cache_dir,
    model_hash,
    sha256_file,
)

if TYPE_CHECKING:
    import whisper.model

SAMPLE_RATE = 16_000
HOP_LENGTH = 160  # whisper.audio: one mel frame per 10 ms
CONVERTED_DIR = "openai-whisper"
MODEL_HINT = (
    "give an openai-whisper checkpoint (.pt), a CTranslate2 Whisper model directory, or 'base' "
    "(offline); convert a CTranslate2 model with: outreach model convert CT2_DIR OUT.pt"
)


def converted_checkpoint(ct2_dir: Path, cache_dir: Path | None = None) -> Path:
    """The openai-whisper checkpoint for a CTranslate2 directory, converted on first use."""
    model_bin = model_bin_path(ct2_dir)
    digest = model_hash(model_bin, cache_dir) or sha256_file(model_bin)
    target = (cache_dir or default_cache_dir()) / CONVERTED_DIR / f"{digest}.pt"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not target.is_file():
            convert_ct2_dir(model_bin.parent, target)
    return target


def checkpoint_path(model: ResolvedModel) -> Path:
    """Where the checkpoint for `model` lies (converting a CTranslate2 directory if need be)."""
    if model.path is None:
        raise TranscriptionError(
            f"the openai-whisper engine needs local weights, not the hub name {model.name}; "
            + MODEL_HINT
        )
    if model.path.is_dir():
        return converted_checkpoint(model.path, model.cache_dir)
    if model.path.name == "model.bin":
        return converted_checkpoint(model.path.parent, model.cache_dir)
    return model.path


def load_checkpoint(path: Path) -> whisper.model.Whisper:
    """Load an openai-whisper checkpoint on the CPU in fp32, with its alignment heads if it has them.

    The checkpoint is memory-mapped and its tensors become the model's parameters (`assign=True`),
    so the weights are in memory once, not twice (a built model plus the loaded state dict).
    """
    import torch
    from whisper.model import ModelDimensions

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        dims = ModelDimensions(**checkpoint["dims"])
        state_dict = checkpoint["model_state_dict"]
    except Exception as exc:  # torch.load raises pickle, zip, EOF and runtime errors alike
        raise TranscriptionError(
            f"{path} is not an openai-whisper checkpoint ({first_line(exc)}); {MODEL_HINT}"
        ) from None
    try:
        model = _whisper_from(dims, state_dict)
    except RuntimeError as exc:
        raise TranscriptionError(
            f"{path} does not match openai-whisper's Whisper: {first_line(exc)}"
        ) from None
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.float().eval()  # float(): official checkpoints are fp16; fp32 is a no-op


def _whisper_from(dims: Any, state_dict: dict[str, Any]) -> whisper.model.Whisper:
    """whisper.model.Whisper around `state_dict`'s tensors, loaded with strict=True.

    The encoder and decoder are built on the meta device (no memory) and take the tensors as they
    are; Whisper's own constructor cannot run there (it makes a sparse tensor), so this repeats its
    few lines and then rebuilds the two non-persistent buffers. If anything is left on the meta
    device (a later openai-whisper with more buffers), it falls back to building Whisper normally.
    """
    import numpy
    import torch
    from whisper.model import AudioEncoder, TextDecoder, Whisper

    model = Whisper.__new__(Whisper)
    torch.nn.Module.__init__(model)
    model.dims = dims
    with torch.device("meta"):
        model.encoder = AudioEncoder(
            dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head, dims.n_audio_layer
        )
        model.decoder = TextDecoder(
            dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head, dims.n_text_layer
        )
    model.load_state_dict(state_dict, strict=True, assign=True)
    mask = torch.empty(dims.n_text_ctx, dims.n_text_ctx).fill_(-numpy.inf).triu_(1)
    model.decoder.register_buffer("mask", mask, persistent=False)
    heads = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
    heads[dims.n_text_layer // 2 :] = True  # Whisper's default: the upper half of the layers
    model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        model = Whisper(dims)
        model.load_state_dict(state_dict, strict=True)
    return model


def decode_audio(audio: Path) -> np.ndarray[Any, np.dtype[np.float32]]:
    """16 kHz mono float32 samples, decoded by ffmpeg exactly as whisper.audio.load_audio does it.

    whisper.audio.load_audio looks for `ffmpeg` on PATH only; imageio-ffmpeg ships one otherwise.
    """
    if not audio.is_file():
        raise TranscriptionError(f"no audio file at {audio}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    command = [ffmpeg, "-nostdin", "-threads", "0", "-i", str(audio), "-f", "s16le", "-ac", "1"]
    command += ["-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TranscriptionError(
            f"cannot decode audio file {audio.name}: {lines[-1] if lines else 'no audio stream'}"
        )
    return np.frombuffer(result.stdout, np.int16).astype(np.float32) / 32768.0


@contextlib.contextmanager
def _progress_by_audio_time(progress: ProgressCallback | None, duration: float) -> Iterator[None]:
    """Report openai-whisper's own progress (mel frames done) as seconds of audio.

    whisper.transcribe drives a tqdm bar over the mel frames (drawn on stderr); it is swapped, for
    this call only, for a bar that calls `progress` (if any) instead of drawing.
    """
    # The module, not the function of the same name that `whisper` re-exports over it.
    transcribe_module = importlib.import_module("whisper.transcribe")

    class _Bar:
        def __init__(self, total: int = 0, **_: Any) -> None:
            self.frames = 0
            self.total = total

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def update(self, frames: int) -> None:
            self.frames = min(self.total, self.frames + frames)
            if progress is not None:
                progress(min(duration, self.frames * HOP_LENGTH / SAMPLE_RATE))

    class _Tqdm:
        tqdm = _Bar

    original = getattr(transcribe_module, "tqdm")  # noqa: B009 - a bare ModuleType to mypy
    setattr(transcribe_module, "tqdm", _Tqdm)  # noqa: B010
    try:
        yield
    finally:
        setattr(transcribe_module, "tqdm", original)  # noqa: B010


class OpenAIWhisperEngine:
    """One loaded openai-whisper model; `transcribe` may be called for several files."""

    name = "openai-whisper"

    def __init__(self, model: ResolvedModel, options: TranscribeOptions) -> None:
        require_openai_whisper()
        import torch

        self.model = model.name
        self.checkpoint = checkpoint_path(model)
        threads = options.cpu_threads or available_cores()
        torch.set_num_threads(threads)
        self._whisper = load_checkpoint(self.checkpoint)

    def decode_options(self, options: TranscribeOptions) -> dict[str, Any]:
        """openai-whisper's transcribe() arguments for `options` (faster-whisper's defaults)."""
        kwargs: dict[str, Any] = {
            "language": options.language or None,
            "task": "transcribe",
            # beam 1 is greedy decoding, as in faster-whisper (a 1-beam search is slower, not same).
            "beam_size": options.beam_size if options.beam_size > 1 else None,
            "best_of": 5,  # samples per temperature fallback, faster-whisper's default
            "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            "compression_ratio_threshold": options.compression_ratio_threshold,
            "logprob_threshold": -1.0,
            "no_speech_threshold": 0.6,
            "condition_on_previous_text": False,
            "word_timestamps": True,
            "hallucination_silence_threshold": options.hallucination_silence_threshold,
            "fp16": False,
            "verbose": False,  # False (not None) keeps the progress bar, which we redirect
        }
        if options.beam_size > 1:
            kwargs["patience"] = 1.0
        if options.glossary:
            kwargs["initial_prompt"] = ", ".join(options.glossary)
            kwargs["carry_initial_prompt"] = True
        return kwargs

    def transcribe(
        self,
        audio: Path,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        import torch

        samples = decode_audio(audio)
        duration = len(samples) / SAMPLE_RATE
        kwargs = self.decode_options(options)
        try:
            with (
                torch.inference_mode(),
                _progress_by_audio_time(progress, duration),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                result = self._whisper.transcribe(samples, **kwargs)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise TranscriptionError(
                f"openai-whisper failed on {audio.name}: {first_line(exc)}"
            ) from None
        segments: list[Segment] = []
        for piece in result["segments"]:
            segment = _segment(len(segments), piece)
            if segment is not None:
                segments.append(segment)
        if progress is not None:
            progress(duration)
        return segments


def _segment(index: int, piece: dict[str, Any]) -> Segment | None:
    words = ((w["start"], w["end"], w["word"], w["probability"]) for w in piece.get("words") or [])
    return build_segment(index, words, piece["text"], piece["start"], piece["end"])
