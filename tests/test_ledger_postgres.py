"""The send ledger on PostgreSQL (its hot path writes through the DB-API connection directly)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import cli

from .conftest import REPO
from .postgres import postgres_server
from .smtp_sink import ScriptedHandler, SinkController


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.mark.slow
def test_compose_and_send_on_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = ScriptedHandler()
    controller = SinkController(handler)
    controller.start()
    try:
        monkeypatch.setenv("OUTREACH_DATABASE_URL", pg_url)
        monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", controller.url)
        monkeypatch.setenv("OUTREACH_MAIL_RETRY_BACKOFF_SECONDS", "0.01")
        runner = CliRunner()
        ws = str(tmp_path / "ws")

        def run(*args: str, code: int = 0) -> str:
            result = runner.invoke(cli, ["-w", ws, *args])
            assert result.exit_code == code, (result.output, result.stderr)
            return result.output

        assert runner.invoke(cli, ["init", ws]).exit_code == 0
        run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
        run(
            "subscriber",
            "import",
            str(REPO / "newsletters" / "sample-subscribers.csv"),
            "--confirmed",
        )
        run("newsletter", "compose", "2023-04-26")
        handler.script("anna.berg@example.se", "451")
        handler.script("erik.lind@example.org", "550")
        output = run("newsletter", "send", "2023-04-26", "--yes")
        assert "recipients 5 = sent 4 + skipped 0 + failed 1 + uncertain 0" in output
        assert Counter(handler.recipients())["anna.berg@example.se"] == 1
        assert "erik.lind@example.org" not in handler.recipients()
        assert "already sent" in run("newsletter", "send", "2023-04-26", "--yes")
        status = run("newsletter", "status", "2023-04-26")
        assert "failed_permanent        1" in status and "550" in status
        assert "bounced" in run("subscriber", "show", "erik.lind@example.org")
    finally:
        controller.stop()
