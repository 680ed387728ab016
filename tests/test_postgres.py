"""The same schema and commands on PostgreSQL, selected by OUTREACH_DATABASE_URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import cli
from outreach.db import get_engine

from .conftest import REPO
from .postgres import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_subscribers_and_content_on_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", pg_url)
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(cli, ["init", ws]).exit_code == 0
    assert not (tmp_path / "ws" / "outreach.db").exists()
    csv_file = REPO / "newsletters" / "sample-subscribers.csv"
    result = runner.invoke(cli, ["-w", ws, "subscriber", "import", str(csv_file), "--confirmed"])
    assert "5 added" in result.output, result.output
    again = runner.invoke(cli, ["-w", ws, "subscriber", "import", str(csv_file), "--confirmed"])
    assert "5 unchanged" in again.output
    sample = REPO / "newsletters" / "sample-content.yaml"
    assert runner.invoke(cli, ["-w", ws, "content", "import", str(sample)]).exit_code == 0
    rows = json.loads(runner.invoke(cli, ["-w", ws, "subscriber", "list", "--json"]).output)
    assert len(rows) == 5
    assert {r["email"]: r["segments"] for r in rows}["erik.lind@example.org"] == ["civilsamhälle"]
    # The import's driver-level inserts and the confirmation queue on PostgreSQL too.
    pending = tmp_path / "pending.csv"
    pending.write_text("e-post;Förnamn;Efternamn\nny@example.se;Ny;Person\n", encoding="utf-8")
    queued = runner.invoke(
        cli, ["-w", ws, "subscriber", "import", str(pending), "--send-confirmation"]
    )
    assert "1 added" in queued.output and "1 confirmation(s) queued" in queued.output
    sent = runner.invoke(cli, ["-w", ws, "subscriber", "send-confirmations"])
    assert "Sent 1, 0 to retry" in sent.output, sent.output
    with get_engine(pg_url).connect() as conn:
        assert conn.dialect.name == "postgresql"
        version = conn.exec_driver_sql("select version_num from alembic_version").scalar()
        assert version is not None
        events = conn.exec_driver_sql("select starts from events order by starts").scalars().all()
        assert events[0].utcoffset() is not None
