"""Convert a CTranslate2 Whisper model (`model.bin`) into an openai-whisper checkpoint, offline.

The only Whisper weights reachable offline are CTranslate2 ones (the `base` alias). Converting them
lets openai-whisper run on the same weights as faster-whisper, so one model directory serves both
engines and the two can be compared like for like.

`model.bin` layout (binary version 6, written by `ctranslate2/specs/model_spec.py` `_serialize`),
little-endian: uint32 version; spec name (uint16 length incl. NUL, bytes, NUL); uint32 spec revision;
uint32 variable count, then per variable: name, uint8 rank, rank x uint32 dims, uint8 dtype id,
uint32 byte count, raw bytes; uint32 alias count, then (alias, target) name pairs.

The file is memory-mapped: tensors are read from the map and turned into float32 one at a time, so
the float16 source is never held as a second in-memory copy. The result is checked by loading it into
openai-whisper's encoder and decoder with `strict=True` (on the meta device: no weight is copied).
The checkpoint holds `dims`, `model_state_dict` and the `alignment_heads` from `config.json`, which
`whisper.load_model` would otherwise replace by its default (all heads of the upper half of layers).

torch is imported inside the functions: the base install has no torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from outreach.errors import TranscriptionError
from outreach.fsutil import atomic_path

if TYPE_CHECKING:
    import torch

SUPPORTED_BINARY_VERSION = 6
SPEC_NAME = "WhisperSpec"
MAX_SPEC_REVISION = 3
# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # bfloat16: the raw bits, widened to float32 by hand
}
BFLOAT16 = 5
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


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype_id: int
    offset: int
    nbytes: int


class ModelBin:
    """A parsed `model.bin`: the header in memory, the tensor bytes in a read-only memory map."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise TranscriptionError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            size = path.stat().st_size
            if size == 0:
                raise self._corrupt("the file is empty")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except BaseException:
            self._file.close()
            raise
        self._pos = 0
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- parsing -------------------------------------------------------------------------------
    def _corrupt(self, why: str) -> TranscriptionError:
        return TranscriptionError(f"{self.path} is not a readable CTranslate2 model: {why}")

    def _take(self, count: int) -> int:
        start = self._pos
        if count < 0 or start + count > len(self._map):
            raise self._corrupt(f"truncated at byte {start} (the file has {len(self._map)} bytes)")
        self._pos += count
        return start

    def _uint(self, fmt: str) -> int:
        start = self._take(struct.calcsize(fmt))
        value: int = struct.unpack_from("<" + fmt, self._map, start)[0]
        return value

    def _string(self) -> str:
        length = self._uint("H")
        start = self._take(length)
        raw = self._map[start : start + length]
        if length == 0 or raw[-1] != 0:
            raise self._corrupt(f"bad string at byte {start}")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._corrupt(f"bad string at byte {start}") from exc

    def _parse(self) -> None:
        version = self._uint("I")
        if version != SUPPORTED_BINARY_VERSION:
            raise TranscriptionError(
                f"{self.path} has CTranslate2 model format version {version}; this converter reads "
                f"version {SUPPORTED_BINARY_VERSION} (CTranslate2 3.x and 4.x): re-convert the model "
                "with a current ctranslate2"
            )
        self.spec = self._string()
        self.revision = self._uint("I")
        if self.spec != SPEC_NAME:
            raise TranscriptionError(
                f"{self.path} holds a CTranslate2 {self.spec or 'unnamed'} model, not a Whisper model "
                f"({SPEC_NAME})"
            )
        if not 1 <= self.revision <= MAX_SPEC_REVISION:
            raise TranscriptionError(
                f"{self.path} is a {SPEC_NAME} of revision {self.revision}; this converter knows "
                f"revisions up to {MAX_SPEC_REVISION}"
            )
        self.variables: dict[str, Variable] = {}
        for _ in range(self._uint("I")):
            name = self._string()
            rank = self._uint("B")
            shape = tuple(self._uint("I") for _ in range(rank))
            dtype_id = self._uint("B")
            nbytes = self._uint("I")
            if dtype_id not in DTYPES:
                raise self._corrupt(f"unknown data type {dtype_id} for {name}")
            if nbytes != math.prod(shape) * DTYPES[dtype_id].itemsize:
                raise self._corrupt(f"{name} has {nbytes} bytes for shape {list(shape)}")
            offset = self._take(nbytes)
            self.variables[name] = Variable(name, shape, dtype_id, offset, nbytes)
        self.aliases: dict[str, str] = {}
        for _ in range(self._uint("I")):
            alias = self._string()
            self.aliases[alias] = self._string()
        if self._pos != len(self._map):
            raise self._corrupt(f"{len(self._map) - self._pos} unexpected bytes after the aliases")
        for alias, target in self.aliases.items():
            if target not in self.variables:
                raise self._corrupt(f"alias {alias} points to a missing variable {target}")

    # -- access ----------------------------------------------------------------------------------
    def variable(self, name: str) -> Variable:
        name = self.aliases.get(name, name)
        try:
            return self.variables[name]
        except KeyError:
            raise TranscriptionError(
                f"{self.path} is missing the variable {name}: not a complete Whisper model"
            ) from None

    def array(self, name: str) -> np.ndarray[Any, Any]:
        """A read-only view on the map (no copy)."""
        var = self.variable(name)
        return np.frombuffer(
            self._map, dtype=DTYPES[var.dtype_id], count=math.prod(var.shape), offset=var.offset
        ).reshape(var.shape)

    def scalar(self, name: str) -> int:
        var = self.variable(name)
        if var.shape:
            raise self._corrupt(f"{name} should be a scalar, has shape {list(var.shape)}")
        return int(self.array(name).item())

    def close(self) -> None:
        # An array view may still refer to the map (from an error's traceback): it closes with it.
        with contextlib.suppress(BufferError):
            self._map.close()
        self._file.close()


@contextlib.contextmanager
def open_model_bin(path: Path) -> Iterator[ModelBin]:
    model = ModelBin(path)
    try:
        yield model
    finally:
        model.close()


def model_bin_path(ct2_dir: Path) -> Path:
    """`model.bin` inside a CTranslate2 model directory (a one-line error if it is not one)."""
    if ct2_dir.is_file() and ct2_dir.name == "model.bin":
        return ct2_dir
    if not ct2_dir.is_dir():
        raise TranscriptionError(f"no CTranslate2 model directory at {ct2_dir}")
    path = ct2_dir / "model.bin"
    if not path.is_file():
        raise TranscriptionError(f"{ct2_dir} is not a CTranslate2 model directory (no model.bin)")
    return path


def read_alignment_heads(ct2_dir: Path) -> list[list[int]] | None:
    """`alignment_heads` from the model's config.json ([[layer, head], ...]), or None."""
    config = (ct2_dir if ct2_dir.is_dir() else ct2_dir.parent) / "config.json"
    if not config.is_file():
        return None
    try:
        heads = json.loads(config.read_text(encoding="utf-8")).get("alignment_heads")
    except (ValueError, OSError, AttributeError) as exc:
        raise TranscriptionError(f"{config} is not valid JSON: {exc}") from exc
    if heads is None:
        return None
    if not isinstance(heads, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair)
        for pair in heads
    ):
        raise TranscriptionError(f"{config}: alignment_heads should be a list of [layer, head]")
    return [list(pair) for pair in heads]


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
