"""Convert a CTranslate2 Whisper model (`model.bin`) into an openai-whisper checkpoint, offline.

The only Whisper weights reachable offline are CTranslate2 ones (the `base` alias). Converting them
lets openai-whisper run on the same weights as faster-whisper, so one model directory serves both
engines and the two can be compared like for like.

Reading `model.bin` is `ct2_reader`'s; this module maps its tensors onto openai-whisper's names
and writes the checkpoint. The result is checked by loading it into
openai-whisper's encoder and decoder with `strict=True` (on the meta device: no weight is copied).
The checkpoint holds `dims`, `model_state_dict` and the `alignment_heads` from `config.json`, which
`whisper.load_model` would otherwise replace by its default (all heads of the upper half of layers).

torch is imported inside the functions: the base install has no torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from outreach.errors import TranscriptionError
from outreach.fsutil import atomic_path
from outreach.transcription.ct2_reader import (
    BFLOAT16,
    SPEC_NAME,
    ModelBin,
    model_bin_path,
    open_model_bin,
    read_alignment_heads,
)

if TYPE_CHECKING:
    import torch

GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU
# Scalars that describe the architecture: the value openai-whisper's Whisper implies.
EXPECTED_SCALARS = {
    "decoder/activation": GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
# Scalars with no counterpart in openai-whisper: CTranslate2's own alignment defaults, and ALiBi
# options that only apply when decoder/alibi (checked above) is on. Newer CTranslate2 writes them.
IGNORED_SCALARS = {
    "decoder/alignment_heads",
    "decoder/alignment_layer",
    "decoder/alibi_use_positive_positions",
    "decoder/scale_alibi",
}

ProgressHook = Callable[[int, int], None]  # (tensors done, tensors in all)


@dataclass(frozen=True)
class ModelDimensions:
    """Mirror of whisper.model.ModelDimensions (that module imports torch)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


class _Mapper:
    """Reads tensors by CTranslate2 name as float32 torch tensors, remembering what was used."""

    def __init__(self, model: ModelBin, progress: ProgressHook | None) -> None:
        self.model = model
        self.used: set[str] = set()
        self.progress = progress
        self.total = len(model.variables)

    def tensor(self, name: str) -> torch.Tensor:
        import torch

        model = self.model
        var = model.variable(name)
        self.used.add(var.name)
        array = model.array(var.name)
        if var.dtype_id == BFLOAT16:
            values = (array.astype(np.uint32) << 16).view(np.float32)
        else:
            values = array.astype(np.float32)  # always a copy: the map is read-only
        scale_name = f"{var.name}_scale"
        if scale_name in model.variables or scale_name in model.aliases:
            # int8/int16 quantised weights: CTranslate2 stored round(w * scale), per row or global.
            scale = model.array(scale_name).astype(np.float32)
            self.used.add(model.variable(scale_name).name)
            scale = scale.reshape(scale.shape + (1,) * (values.ndim - scale.ndim))
            values = np.divide(values, scale, dtype=np.float32)
        elif var.dtype_id in (1, 2, 3):
            raise TranscriptionError(f"{model.path}: {name} is an integer tensor without a scale")
        if self.progress is not None:
            self.progress(len(self.used), self.total)
        return torch.from_numpy(values)


def _layer_count(model: ModelBin, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if not indices or indices != set(range(len(indices))):
        raise TranscriptionError(f"{model.path}: the {prefix} layers are missing or not numbered")
    return len(indices)


def _check_scalars(model: ModelBin, mapper: _Mapper) -> None:
    for name, expected in EXPECTED_SCALARS.items():
        if name in model.variables:
            mapper.used.add(name)
            value = model.scalar(name)
            if value != expected:
                raise TranscriptionError(
                    f"{model.path}: {name} is {value}, openai-whisper's Whisper needs {expected}"
                )
    mapper.used.update(name for name in IGNORED_SCALARS if name in model.variables)


def _dimensions(model: ModelBin, mapper: _Mapper) -> ModelDimensions:
    conv1 = model.variable("encoder/conv1/weight").shape
    audio_pos = model.variable("encoder/position_encodings/encodings").shape
    embeddings = model.variable("decoder/embeddings/weight").shape
    text_pos = model.variable("decoder/position_encodings/encodings").shape
    if len(conv1) != 3 or len(audio_pos) != 2 or len(embeddings) != 2 or len(text_pos) != 2:
        raise TranscriptionError(f"{model.path}: unexpected tensor ranks for a Whisper model")
    mapper.used.update({"encoder/num_heads", "decoder/num_heads"})
    dims = ModelDimensions(
        n_mels=conv1[1],
        n_audio_ctx=audio_pos[0],
        n_audio_state=conv1[0],
        n_audio_head=model.scalar("encoder/num_heads"),
        n_audio_layer=_layer_count(model, "encoder"),
        n_vocab=embeddings[0],
        n_text_ctx=text_pos[0],
        n_text_state=embeddings[1],
        n_text_head=model.scalar("decoder/num_heads"),
        n_text_layer=_layer_count(model, "decoder"),
    )
    for state, heads in (
        (dims.n_audio_state, dims.n_audio_head),
        (dims.n_text_state, dims.n_text_head),
    ):
        if heads <= 0 or state % heads:
            raise TranscriptionError(f"{model.path}: {heads} heads do not divide width {state}")
    return dims


def _split(
    tensor: torch.Tensor, parts: int, width: int, name: str, path: Path
) -> list[torch.Tensor]:
    if tensor.shape[0] != parts * width:
        raise TranscriptionError(
            f"{path}: {name} has {tensor.shape[0]} rows, expected {parts} x {width} (fused projection)"
        )
    return [part.clone() for part in tensor.split(width, dim=0)]


def _attention(
    m: _Mapper, sd: dict[str, torch.Tensor], src: str, dst: str, width: int, fused_qkv: bool
) -> None:
    """Self-attention: linear_0 = q|k|v, linear_1 = out. Cross-attention: linear_0 = q,
    linear_1 = k|v, linear_2 = out. openai-whisper's key projection has no bias: the key slice of
    the fused bias must be zeros, and is dropped."""
    path = m.model.path
    if fused_qkv:
        q_w, k_w, v_w = _split(m.tensor(f"{src}/linear_0/weight"), 3, width, src, path)
        q_b, k_b, v_b = _split(m.tensor(f"{src}/linear_0/bias"), 3, width, src, path)
        out = f"{src}/linear_1"
    else:
        q_w, q_b = m.tensor(f"{src}/linear_0/weight"), m.tensor(f"{src}/linear_0/bias")
        k_w, v_w = _split(m.tensor(f"{src}/linear_1/weight"), 2, width, src, path)
        k_b, v_b = _split(m.tensor(f"{src}/linear_1/bias"), 2, width, src, path)
        out = f"{src}/linear_2"
    if bool(k_b.any()):
        raise TranscriptionError(
            f"{path}: the key bias of {src} is not zero; openai-whisper's key projection has none"
        )
    sd.update(
        {
            f"{dst}.query.weight": q_w,
            f"{dst}.query.bias": q_b,
            f"{dst}.key.weight": k_w,
            f"{dst}.value.weight": v_w,
            f"{dst}.value.bias": v_b,
            f"{dst}.out.weight": m.tensor(f"{out}/weight"),
            f"{dst}.out.bias": m.tensor(f"{out}/bias"),
        }
    )


def _layer_norm(m: _Mapper, sd: dict[str, torch.Tensor], src: str, dst: str) -> None:
    sd[f"{dst}.weight"] = m.tensor(f"{src}/gamma")
    sd[f"{dst}.bias"] = m.tensor(f"{src}/beta")


def _linear(m: _Mapper, sd: dict[str, torch.Tensor], src: str, dst: str) -> None:
    sd[f"{dst}.weight"] = m.tensor(f"{src}/weight")
    sd[f"{dst}.bias"] = m.tensor(f"{src}/bias")


def _output_projection(m: _Mapper) -> None:
    """openai-whisper ties the output projection to the token embedding: so must the file."""
    model, name = m.model, "decoder/projection/weight"
    target = model.aliases.get(name)
    if target is None and name in model.variables:
        m.used.add(name)
        if not np.array_equal(model.array(name), model.array("decoder/embeddings/weight")):
            raise TranscriptionError(
                f"{model.path}: the output projection is not tied to the token embedding"
            )
    elif target is not None and target != "decoder/embeddings/weight":
        raise TranscriptionError(f"{model.path}: {name} is an alias of {target}, not the embedding")
    bias = "decoder/projection/bias"
    if bias in model.variables:
        m.used.add(bias)
        if model.array(bias).any():
            raise TranscriptionError(f"{model.path}: the output projection has a bias")


def convert_model_bin(
    model: ModelBin, progress: ProgressHook | None = None
) -> tuple[ModelDimensions, dict[str, torch.Tensor]]:
    """Map a Whisper model.bin onto whisper.model.Whisper's state-dict keys (float32)."""
    m = _Mapper(model, progress)
    _check_scalars(model, m)
    dims = _dimensions(model, m)
    sd: dict[str, torch.Tensor] = {}
    for i in (1, 2):
        _linear(m, sd, f"encoder/conv{i}", f"encoder.conv{i}")
    sd["encoder.positional_embedding"] = m.tensor("encoder/position_encodings/encodings")
    for i in range(dims.n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _attention(m, sd, f"{src}/self_attention", f"{dst}.attn", dims.n_audio_state, True)
        _layer_norm(m, sd, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _linear(m, sd, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        _linear(m, sd, f"{src}/ffn/linear_1", f"{dst}.mlp.2")
        _layer_norm(m, sd, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
    _layer_norm(m, sd, "encoder/layer_norm", "encoder.ln_post")
    sd["decoder.token_embedding.weight"] = m.tensor("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = m.tensor("decoder/position_encodings/encodings")
    for i in range(dims.n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _attention(m, sd, f"{src}/self_attention", f"{dst}.attn", dims.n_text_state, True)
        _layer_norm(m, sd, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _attention(m, sd, f"{src}/attention", f"{dst}.cross_attn", dims.n_text_state, False)
        _layer_norm(m, sd, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        _linear(m, sd, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        _linear(m, sd, f"{src}/ffn/linear_1", f"{dst}.mlp.2")
        _layer_norm(m, sd, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
    _layer_norm(m, sd, "decoder/layer_norm", "decoder.ln")
    _output_projection(m)
    unmapped = sorted(set(model.variables) - m.used)
    if unmapped:
        more = f" and {len(unmapped) - 3} more" if len(unmapped) > 3 else ""
        raise TranscriptionError(
            f"{model.path}: no openai-whisper counterpart for {', '.join(unmapped[:3])}{more}"
        )
    if progress is not None:
        progress(m.total, m.total)
    return dims, sd


def check_state_dict(dims: ModelDimensions, state_dict: dict[str, torch.Tensor]) -> None:
    """Load into openai-whisper's encoder and decoder with strict=True, on the meta device.

    That checks every key and shape without copying a weight. Whisper's state dict is exactly
    `encoder.*` and `decoder.*` (its `alignment_heads` buffer is not persistent); Whisper itself is
    not built on the meta device because its constructor makes a sparse tensor, which meta lacks.
    """
    import torch
    from whisper.model import AudioEncoder, TextDecoder

    with torch.device("meta"):
        shell = torch.nn.Module()
        shell.encoder = AudioEncoder(
            dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head, dims.n_audio_layer
        )
        shell.decoder = TextDecoder(
            dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head, dims.n_text_layer
        )
    try:
        shell.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise TranscriptionError(
            f"the converted model does not fit openai-whisper: {detail[:300]}"
        ) from exc


def check_alignment_heads(heads: list[list[int]] | None, dims: ModelDimensions) -> None:
    for layer, head in heads or []:
        if not (0 <= layer < dims.n_text_layer and 0 <= head < dims.n_text_head):
            raise TranscriptionError(
                f"alignment head [{layer}, {head}] is outside the decoder "
                f"({dims.n_text_layer} layers x {dims.n_text_head} heads)"
            )


def convert_ct2_dir(
    ct2_dir: Path, out: Path, progress: ProgressHook | None = None
) -> ModelDimensions:
    """Convert a CTranslate2 Whisper directory into an openai-whisper checkpoint at `out` (atomic)."""
    import torch

    path = model_bin_path(ct2_dir)
    heads = read_alignment_heads(path.parent)
    with open_model_bin(path) as model:
        dims, state_dict = convert_model_bin(model, progress)
    check_state_dict(dims, state_dict)
    check_alignment_heads(heads, dims)
    checkpoint = {
        "dims": asdict(dims),
        "model_state_dict": state_dict,
        "alignment_heads": heads,
        "source": {"format": "ctranslate2", "spec": SPEC_NAME, "path": str(path)},
    }
    try:
        with atomic_path(out, suffix=".pt") as tmp:
            torch.save(checkpoint, tmp)
    except OSError as exc:
        raise TranscriptionError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return dims


def conversion_source(
    source: str, out: Path, cache_dir: Path | None = None, overwrite: bool = False
) -> Path:
    """Check a conversion before it starts: the CTranslate2 directory for `source` (a directory or
    an offline alias such as `base`), with `out` free to write and openai-whisper installed."""
    from outreach.transcription.models import resolve_model

    if out.is_dir():
        raise TranscriptionError(f"{out} is a directory; give the checkpoint's file name")
    if out.exists() and not overwrite:
        raise TranscriptionError(f"{out} already exists (use --force to replace it)")
    resolved = resolve_model(source, cache_dir)
    if resolved.path is None:
        raise TranscriptionError(
            f"no CTranslate2 model directory at {source} (hub names are not fetched here; "
            "download the model and give its directory)"
        )
    model_bin_path(resolved.path)
    require_openai_whisper()
    return resolved.path


INSTALL_HINT = "pip install 'outreach[openai-whisper]' && pip install --no-deps openai-whisper"


def require_openai_whisper() -> None:
    """A one-line error naming the install when torch or openai-whisper is missing."""
    try:
        import torch  # noqa: F401
        import whisper.model  # noqa: F401
    except ImportError as exc:
        raise TranscriptionError(
            f"openai-whisper is not installed ({exc.name or exc}); run: {INSTALL_HINT}"
        ) from exc
