"""Whisper weights for the openai-whisper tests: tiny random models, in both formats.

`tiny_whisper` builds a small random `whisper.model.Whisper` (the real tokenizer's vocabulary, so
the whole decoding path runs). `save_checkpoint` writes it the way openai-whisper's own checkpoints
are laid out. `save_ct2` writes it as a CTranslate2 model directory with CTranslate2's own
`WhisperSpec` serializer, filled the way CTranslate2's Transformers converter fills it (fused
q|k|v with a zero key bias, fused k|v in cross-attention, the output projection tied to the
embedding), so the converter is tested against the real writer, not against a copy of its reader.
`write_model_bin` writes raw (possibly broken) model.bin files for the error tests.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MULTILINGUAL_VOCAB = 51865
TINY_DIMS = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 64,
    "n_audio_head": 4,
    "n_audio_layer": 2,
    "n_vocab": MULTILINGUAL_VOCAB,
    "n_text_ctx": 32,  # at most 16 tokens a window: a random model babbles to the limit
    "n_text_state": 64,
    "n_text_head": 4,
    "n_text_layer": 2,
}
TINY_ALIGNMENT_HEADS = [[1, 0], [1, 3]]


def tiny_whisper(seed: int = 0) -> Any:
    """A random Whisper; every parameter seeded (decoder.positional_embedding is torch.empty)."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    model = Whisper(ModelDimensions(**TINY_DIMS))
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0.0, 0.02)
        # Sharp logits: confident enough that no temperature fallback re-decodes every window.
        model.decoder.ln.weight.mul_(50.0)
    return model.eval()


def save_checkpoint(model: Any, path: Path, alignment_heads: list[list[int]] | None = None) -> Path:
    import dataclasses

    import torch

    checkpoint: dict[str, Any] = {
        "dims": dataclasses.asdict(model.dims),
        "model_state_dict": model.state_dict(),
    }
    if alignment_heads is not None:
        checkpoint["alignment_heads"] = alignment_heads
    torch.save(checkpoint, path)
    return path


def save_ct2(
    model: Any,
    directory: Path,
    quantization: str = "float16",
    alignment_heads: list[list[int]] | None = None,
) -> Path:
    """Write `model` as a CTranslate2 Whisper model directory (model.bin, config.json)."""
    from ctranslate2.specs import whisper_spec

    d = model.dims
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    spec = whisper_spec.WhisperSpec(d.n_audio_layer, d.n_audio_head, d.n_text_layer, d.n_text_head)

    def linear(target: Any, prefix: str) -> None:
        target.weight = sd[f"{prefix}.weight"]
        target.bias = sd[f"{prefix}.bias"]

    def norm(target: Any, prefix: str) -> None:
        target.gamma = sd[f"{prefix}.weight"]
        target.beta = sd[f"{prefix}.bias"]

    def attention(target: Any, prefix: str, self_attention: bool) -> None:
        q, k, v = (sd[f"{prefix}.{n}.weight"] for n in ("query", "key", "value"))
        qb, vb = sd[f"{prefix}.query.bias"], sd[f"{prefix}.value.bias"]
        kb = np.zeros_like(qb)
        if self_attention:
            target.linear[0].weight = np.concatenate([q, k, v])
            target.linear[0].bias = np.concatenate([qb, kb, vb])
            linear(target.linear[1], f"{prefix}.out")
        else:
            target.linear[0].weight, target.linear[0].bias = q, qb
            target.linear[1].weight = np.concatenate([k, v])
            target.linear[1].bias = np.concatenate([kb, vb])
            linear(target.linear[2], f"{prefix}.out")

    def ffn(target: Any, prefix: str) -> None:
        linear(target.linear_0, f"{prefix}.mlp.0")
        linear(target.linear_1, f"{prefix}.mlp.2")
        norm(target.layer_norm, f"{prefix}.mlp_ln")

    enc = spec.encoder
    linear(enc.conv1, "encoder.conv1")
    linear(enc.conv2, "encoder.conv2")
    enc.position_encodings.encodings = sd["encoder.positional_embedding"]
    norm(enc.layer_norm, "encoder.ln_post")
    for i, layer in enumerate(enc.layer):
        prefix = f"encoder.blocks.{i}"
        attention(layer.self_attention, f"{prefix}.attn", True)
        norm(layer.self_attention.layer_norm, f"{prefix}.attn_ln")
        ffn(layer.ffn, prefix)
    dec = spec.decoder
    dec.embeddings.weight = sd["decoder.token_embedding.weight"]
    dec.position_encodings.encodings = sd["decoder.positional_embedding"]
    norm(dec.layer_norm, "decoder.ln")
    for i, layer in enumerate(dec.layer):
        prefix = f"decoder.blocks.{i}"
        attention(layer.self_attention, f"{prefix}.attn", True)
        norm(layer.self_attention.layer_norm, f"{prefix}.attn_ln")
        attention(layer.attention, f"{prefix}.cross_attn", False)
        norm(layer.attention.layer_norm, f"{prefix}.cross_attn_ln")
        ffn(layer.ffn, prefix)
    dec.projection.weight = sd["decoder.token_embedding.weight"]
    spec.register_vocabulary([f"token{i}" for i in range(d.n_vocab)])
    if alignment_heads is not None:
        spec.config.alignment_heads = alignment_heads
    spec.validate()
    spec.optimize(quantization=quantization)
    directory.mkdir(parents=True, exist_ok=True)
    spec.save(str(directory))
    return directory


# -- raw model.bin files, for the error cases -------------------------------------------------
DTYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def write_model_bin(
    path: Path,
    variables: Sequence[tuple[str, np.ndarray]],
    aliases: Sequence[tuple[str, str]] = (),
    version: int = 6,
    spec: str = "WhisperSpec",
    revision: int = 3,
) -> Path:
    """model.bin in CTranslate2's layout (model_spec._serialize), with whatever header is asked."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", revision)]
    out.append(struct.pack("<I", len(variables)))
    for name, value in variables:
        out += [_string(name), struct.pack("<B", value.ndim)]
        out += [struct.pack("<I", dim) for dim in value.shape]
        out += [struct.pack("<B", DTYPE_IDS[value.dtype.name]), struct.pack("<I", value.nbytes)]
        out.append(value.tobytes())
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases:
        out += [_string(alias), _string(target)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(out))
    return path


def read_variables(path: Path) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """All variables and aliases of a model.bin, in file order (to rewrite it altered)."""
    from outreach.transcription.ct2_reader import open_model_bin

    with open_model_bin(path) as model:
        variables = [(name, np.array(model.array(name))) for name in model.variables]
        return variables, list(model.aliases.items())
