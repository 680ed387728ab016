"""`outreach model convert`: CTranslate2 Whisper models to openai-whisper checkpoints.

Tiny random models are written with CTranslate2's own serializer (tests/helpers/whisper_models.py)
in several precisions and converted back; the offline base model is converted once and loaded
with openai-whisper's own `whisper.load_model`. Broken files get one-line errors.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from outreach.transcription.models import resolve_model

from .conftest import Runner
from .helpers.whisper_models import (
    TINY_ALIGNMENT_HEADS,
    TINY_DIMS,
    read_variables,
    save_ct2,
    tiny_whisper,
    write_model_bin,
)


@pytest.fixture(scope="module")
def original() -> torch.nn.Module:
    return tiny_whisper(seed=2)


@pytest.fixture(scope="module")
def tiny_ct2(tmp_path_factory: pytest.TempPathFactory, original: torch.nn.Module) -> Path:
    return save_ct2(
        original, tmp_path_factory.mktemp("ct2") / "tiny", "float16", TINY_ALIGNMENT_HEADS
    )


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def convert(run: Runner, source: Path | str, out: Path, expect: int = 0) -> str:
    result = run("model", "convert", str(source), str(out), expect=expect)
    return result.output if expect == 0 else result.stderr


@pytest.mark.parametrize("quantization", ["float32", "float16", "bfloat16", "int8", "int16"])
def test_converts_what_ctranslate2_writes(
    run: Runner, tmp_path: Path, original: torch.nn.Module, quantization: str
) -> None:
    ct2 = save_ct2(original, tmp_path / "ct2", quantization, TINY_ALIGNMENT_HEADS)
    output = convert(run, ct2, tmp_path / "tiny.pt")
    assert "Wrote" in output and "2+2 layers, width 64" in output
    checkpoint = load(tmp_path / "tiny.pt")
    assert checkpoint["dims"] == TINY_DIMS
    assert checkpoint["alignment_heads"] == TINY_ALIGNMENT_HEADS
    converted = checkpoint["model_state_dict"]
    expected = original.state_dict()
    assert set(converted) == set(expected)  # the key projections have no bias, nothing extra
    for key, value in expected.items():
        got = converted[key]
        assert got.dtype == torch.float32 and got.shape == value.shape, key
        if quantization == "float32":
            assert torch.equal(got, value), key
        elif quantization == "float16":
            assert torch.equal(got, value.half().float()), key
        elif quantization == "bfloat16":
            assert torch.equal(got, value.bfloat16().float()), key
        else:  # integer weights come back within half a quantisation step of each row
            step = value.abs().amax() / (127 if quantization == "int8" else 2**10)
            assert (got - value).abs().max() <= step / 2 + 1e-6, key


def test_checkpoint_is_what_openai_whisper_loads(run: Runner, tmp_path: Path) -> None:
    """The offline base model, through openai-whisper's own loader (strict state-dict load)."""
    import whisper

    out = tmp_path / "base.pt"
    output = convert(run, "base", out)
    assert "6+6 layers, width 512, 51865 tokens, 80 mel bands" in output
    model = whisper.load_model(str(out), device="cpu")
    assert model.dims.n_audio_layer == 6 and model.dims.n_text_head == 8
    assert model.is_multilingual and model.num_languages == 99
    config = json.loads((resolve_model("base").path / "config.json").read_text())
    assert load(out)["alignment_heads"] == config["alignment_heads"]
    # Spot-check the fused split against the CTranslate2 tensor it came from.
    from outreach.transcription.ct2_reader import open_model_bin

    with open_model_bin(resolve_model("base").path / "model.bin") as ct2:
        fused = np.array(ct2.array("decoder/layer_3/attention/linear_1/weight"), np.float32)
    key = model.decoder.blocks[3].cross_attn.key.weight.detach().numpy()
    value = model.decoder.blocks[3].cross_attn.value.weight.detach().numpy()
    assert np.array_equal(np.concatenate([key, value]), fused)
    assert (out.stat().st_mode & 0o777) != 0o600  # a checkpoint, not a secret: umask applies


def test_existing_output_needs_force(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    out = tmp_path / "tiny.pt"
    out.write_bytes(b"keep me")
    assert "already exists (use --force" in convert(run, tiny_ct2, out, expect=1)
    assert out.read_bytes() == b"keep me"
    run("model", "convert", str(tiny_ct2), str(out), "--force")
    assert load(out)["dims"] == TINY_DIMS


def broken_copy(tiny_ct2: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(tiny_ct2, target)
    return target


def assert_one_line_error(run: Runner, ct2: Path, out: Path, *needles: str) -> None:
    stderr = convert(run, ct2, out, expect=1)
    lines = stderr.strip().splitlines()  # a progress bar may come first, then one error line
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    for needle in needles:
        assert needle in errors[0], stderr
    assert "Traceback" not in stderr
    assert not out.exists() and not list(out.parent.glob(".*.pt"))  # nothing half-written


def test_unknown_format_version(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    ct2 = broken_copy(tiny_ct2, tmp_path)
    model_bin = ct2 / "model.bin"
    model_bin.write_bytes(struct.pack("<I", 7) + model_bin.read_bytes()[4:])
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "format version 7", "reads version 6")


def test_not_a_whisper_spec(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    variables, aliases = read_variables(tiny_ct2 / "model.bin")
    ct2 = broken_copy(tiny_ct2, tmp_path)
    write_model_bin(ct2 / "model.bin", variables, aliases, spec="TransformerSpec")
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "TransformerSpec", "not a Whisper model")


def test_missing_variable(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    variables, aliases = read_variables(tiny_ct2 / "model.bin")
    gone = "decoder/layer_1/attention/linear_1/weight"
    ct2 = broken_copy(tiny_ct2, tmp_path)
    write_model_bin(ct2 / "model.bin", [(n, v) for n, v in variables if n != gone], aliases)
    assert_one_line_error(run, ct2, tmp_path / "o.pt", f"missing the variable {gone}")


def test_unmapped_variable(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    variables, aliases = read_variables(tiny_ct2 / "model.bin")
    extra = ("decoder/layer_0/ffn/linear_2/weight", np.zeros((4, 4), np.float16))
    ct2 = broken_copy(tiny_ct2, tmp_path)
    write_model_bin(ct2 / "model.bin", [*variables, extra], aliases)
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "no openai-whisper counterpart", extra[0])


def test_nonzero_key_bias(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    variables, aliases = read_variables(tiny_ct2 / "model.bin")
    name = "encoder/layer_0/self_attention/linear_0/bias"
    width = TINY_DIMS["n_audio_state"]
    changed = []
    for n, v in variables:
        if n == name:
            v = v.copy()
            v[width] = 0.5  # first element of the key slice
        changed.append((n, v))
    ct2 = broken_copy(tiny_ct2, tmp_path)
    write_model_bin(ct2 / "model.bin", changed, aliases)
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "key bias", "not zero")


@pytest.mark.parametrize("keep", [0, 3, 9, 200, -5])
def test_truncated_or_empty_file(run: Runner, tmp_path: Path, tiny_ct2: Path, keep: int) -> None:
    ct2 = broken_copy(tiny_ct2, tmp_path)
    data = (ct2 / "model.bin").read_bytes()
    (ct2 / "model.bin").write_bytes(data[:keep])
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "not a readable CTranslate2 model")


def test_trailing_garbage_and_bad_config(run: Runner, tmp_path: Path, tiny_ct2: Path) -> None:
    ct2 = broken_copy(tiny_ct2, tmp_path)
    with (ct2 / "model.bin").open("ab") as handle:
        handle.write(b"\0" * 16)
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "unexpected bytes after the aliases")
    ct2 = broken_copy(tiny_ct2, tmp_path / "2")
    (ct2 / "config.json").write_text('{"alignment_heads": [[9, 9]]}')
    assert_one_line_error(run, ct2, tmp_path / "o.pt", "alignment head [9, 9] is outside")


def test_not_a_model_directory(run: Runner, tmp_path: Path) -> None:
    assert_one_line_error(run, tmp_path, tmp_path / "o.pt", "not a CTranslate2 model directory")
    assert_one_line_error(run, tmp_path / "nope", tmp_path / "o.pt", "model not found")
