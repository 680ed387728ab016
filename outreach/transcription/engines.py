"""The engine registry: names in settings and on the command line → engine classes, imported lazily."""

from __future__ import annotations

import importlib

from outreach.errors import TranscriptionError
from outreach.transcription import Engine, TranscribeOptions
from outreach.transcription.models import ResolvedModel

# name -> (module, class, what to install when the import fails)
ENGINES: dict[str, tuple[str, str, str]] = {
    "faster-whisper": (
        "outreach.transcription.faster_engine",
        "FasterWhisperEngine",
        "pip install faster-whisper",
    ),
    "openai-whisper": (
        "outreach.transcription.openai_engine",
        "OpenAIWhisperEngine",
        "pip install 'outreach[openai-whisper]' && pip install --no-deps openai-whisper",
    ),
}


def load_engine(name: str, model: ResolvedModel, options: TranscribeOptions) -> Engine:
    """An engine instance for `model`. Unknown names and missing installs are one-line errors."""
    if name not in ENGINES:
        raise TranscriptionError(
            f"unknown transcription engine {name!r}; choose one of: {', '.join(ENGINES)}"
        )
    module_name, class_name, install = ENGINES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TranscriptionError(
            f"the {name} engine is not installed ({exc.name or exc}); run: {install}"
        ) from exc
    engine: Engine = getattr(module, class_name)(model, options)
    return engine
