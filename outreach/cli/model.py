"""`outreach model ...`: Whisper model files (convert CTranslate2 models for openai-whisper)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from outreach.errors import WorkspaceError


def _cache_dir(ctx: click.Context) -> Path | None:
    """The workspace's [transcription] cache_dir when run inside a workspace; else the default."""
    from outreach.podcast.transcripts import model_cache_dir
    from outreach.workspace import open_workspace

    try:
        workspace = open_workspace(ctx.find_root().ensure_object(dict).get("workspace_path"))
    except WorkspaceError:
        return None
    return model_cache_dir(workspace)


@click.group("model")
def model_group() -> None:
    """Whisper model files: convert CTranslate2 models to openai-whisper checkpoints.

    \b
    Example:
        outreach model convert base whisper-base.pt
    """


@model_group.command("convert")
@click.argument("ct2_dir", metavar="CT2_DIR")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.pass_context
def model_convert(ctx: click.Context, ct2_dir: str, out: Path, force: bool) -> None:
    """Convert a CTranslate2 Whisper model to an openai-whisper checkpoint (offline).

    CT2_DIR is a CTranslate2 model directory (model.bin, config.json), such as a KBLab
    kb-whisper model, or the offline alias `base`. OUT gets the weights in float32, the model's
    dimensions and its alignment heads (for word timestamps). Needs the openai-whisper extra.
    The openai-whisper engine also converts on demand; this makes a file to keep or share.

    \b
    Example:
        outreach model convert base whisper-base.pt
        outreach model convert ~/models/kb-whisper-small kb-whisper-small.pt
        outreach episode transcribe ep-12 --engine openai-whisper --model whisper-base.pt
    """
    from outreach.transcription.ct2_convert import conversion_source, convert_ct2_dir

    source = conversion_source(ct2_dir, out, _cache_dir(ctx), overwrite=force)
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:  # started on the first tensor: header errors print no bar
                bars.append(
                    stack.enter_context(
                        click.progressbar(length=total, label="Converting", file=sys.stderr)
                    )
                )
            bars[0].update(done - bars[0].pos)

        dims = convert_ct2_dir(source, out, progress)
    click.echo(
        f"Wrote {out}: Whisper with {dims.n_audio_layer}+{dims.n_text_layer} layers, width "
        f"{dims.n_text_state}, {dims.n_vocab} tokens, {dims.n_mels} mel bands"
    )


COMMANDS = [model_group]
