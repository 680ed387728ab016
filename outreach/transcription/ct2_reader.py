"""Reading a CTranslate2 Whisper model (`model.bin`, binary version 6) without CTranslate2.

`model.bin` layout (written by `ctranslate2/specs/model_spec.py` `_serialize`), little-endian:
uint32 version; spec name (uint16 length incl. NUL, bytes, NUL); uint32 spec revision; uint32
variable count, then per variable: name, uint8 rank, rank x uint32 dims, uint8 dtype id, uint32
byte count, raw bytes; uint32 alias count, then (alias, target) name pairs.

The file is memory-mapped: tensors are read from the map and turned into float32 one at a time,
so the float16 source is never held as a second in-memory copy. `ct2_convert` maps the tensors
onto openai-whisper's names.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from outreach.errors import TranscriptionError

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
