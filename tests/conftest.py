"""Shared fixtures: a fresh workspace under tmp_path and a CliRunner-based `run` helper."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from outreach.cli import cli
from outreach.workspace import Workspace, init_workspace

from .smtp_sink import ScriptedHandler, SinkController

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_KEY = "test-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OUTREACH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OUTREACH_SECRET_KEY", TEST_KEY)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


Runner = Callable[..., Result]


@pytest.fixture
def run(workspace: Workspace) -> Iterator[Runner]:
    """Invoke the real CLI on the test workspace; `expect` is the exit code to assert."""

    def invoke(*args: str, expect: int | None = 0, input: str | None = None) -> Result:
        result = CliRunner().invoke(
            cli, ["--workspace", str(workspace.root), *args], input=input, catch_exceptions=False
        )
        if expect is not None:
            assert result.exit_code == expect, (result.output, result.stderr)
        return result

    yield invoke


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ScriptedHandler, SinkController]]:
    """A real SMTP server (aiosmtpd) on a free port; the workspace's mail goes to it."""
    handler = ScriptedHandler()
    controller = SinkController(handler)
    controller.start()
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", controller.url)
    yield handler, controller
    controller.stop()
