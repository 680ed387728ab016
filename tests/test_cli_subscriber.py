from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.models import ConsentEvent, Subscriber, Suppression
from outreach.subscribers.store import email_hash
from outreach.workspace import Workspace

from .conftest import REPO, Runner


def _subscribers(workspace: Workspace) -> dict[str | None, Subscriber]:
    with session_scope(workspace) as s:
        return {sub.email: sub for sub in s.scalars(select(Subscriber))}


def test_add_normalises_and_refuses_duplicates(run: Runner, workspace: Workspace) -> None:
    out = run(
        "subscriber", "add", "  Anna.Berg@Example.SE ", "--name", "Anna Berg", "--segment", "Kommun"
    )
    assert "anna.berg@example.se (pending)" in out.output
    result = run("subscriber", "add", "ANNA.BERG@example.se", expect=1)
    assert "already a subscriber" in result.stderr
    bad = run("subscriber", "add", "inte-en-adress", expect=1)
    assert "invalid e-mail address" in bad.stderr
    assert list(_subscribers(workspace)) == ["anna.berg@example.se"]


def test_bad_segment_is_error(run: Runner) -> None:
    result = run("subscriber", "add", "a@example.se", "--segment", "företag", expect=1)
    assert "unknown segment" in result.stderr


def test_import_sample_csv_semicolon_bom_swedish_headers(run: Runner, workspace: Workspace) -> None:
    csv_file = REPO / "newsletters" / "sample-subscribers.csv"
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf")
    result = run("subscriber", "import", str(csv_file), "--confirmed")
    assert "5 added" in result.output
    subs = _subscribers(workspace)
    assert subs["erik.lind@example.org"].segments == ["civilsamhälle"]
    assert subs["erik.lind@example.org"].organisation == "Föreningen Digital Vardag"
    assert {s.status for s in subs.values()} == {"confirmed"}
    with session_scope(workspace) as s:
        events = s.scalars(select(ConsentEvent)).all()
        assert len(events) == 5
        assert {e.source for e in events} == {"import:sample-subscribers.csv"}
    again = run("subscriber", "import", str(csv_file), "--confirmed")
    assert "0 added, 0 updated, 5 unchanged" in again.output
    with session_scope(workspace) as s:
        assert len(s.scalars(select(ConsentEvent)).all()) == 5


def test_import_reports_invalid_rows_and_merges_duplicates(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    csv_file = tmp_path / "lista.csv"
    csv_file.write_text(
        "Email,Name,Organisation\n"
        "ok@example.se,Ok,Org\n"
        "trasig-adress,Fel,Org\n"
        "OK@Example.se,Dubblett,Org\n"
        "\n"
        "annan@example.org,Annan,\n",
        encoding="utf-8",
    )
    result = run("subscriber", "import", str(csv_file))
    assert "2 added" in result.output
    assert f"{csv_file}:3: invalid" in result.stderr
    assert f"{csv_file}:4: skipped: ok@example.se repeats line 2" in result.stderr
    subs = _subscribers(workspace)
    assert set(subs) == {"ok@example.se", "annan@example.org"}
    assert subs["ok@example.se"].status == "pending"


def test_import_never_resubscribes(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    csv_file = tmp_path / "l.csv"
    csv_file.write_text("e-post\nx@example.se\ny@example.se\n", encoding="utf-8")
    run("subscriber", "import", str(csv_file), "--confirmed")
    run("subscriber", "remove", "x@example.se")
    run("subscriber", "erase", "y@example.se", "--yes")
    result = run("subscriber", "import", str(csv_file), "--confirmed")
    assert "0 added" in result.output
    assert "unsubscribed and is not re-added" in result.stderr
    assert "suppressed" in result.stderr
    assert _subscribers(workspace)["x@example.se"].status == "unsubscribed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"namn;organisation\nA;B\n", "no e-mail column"),
    ],
)
def test_import_bad_files(run: Runner, tmp_path: Path, content: bytes, message: str) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_bytes(content)
    result = run("subscriber", "import", str(csv_file), expect=1)
    assert message in result.stderr
    assert run("subscriber", "import", str(tmp_path / "missing.csv"), expect=1).stderr


def test_import_windows_1252_is_read_with_warning(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes("e-post;namn\nb@example.se;Åsa Öberg\n".encode("cp1252"))
    result = run("subscriber", "import", str(csv_file))
    assert "Windows-1252" in result.stderr
    assert _subscribers(workspace)["b@example.se"].name == "Åsa Öberg"


def test_import_is_one_transaction(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    """A failure mid-import (here: the database refusing a write) leaves nothing behind."""
    import sqlite3

    csv_file = tmp_path / "l.csv"
    csv_file.write_text("email\na@example.se\nb@example.se\n", encoding="utf-8")
    conn = sqlite3.connect(workspace.root / "outreach.db")
    conn.execute(
        "create trigger refuse before insert on subscribers when new.email = 'b@example.se' "
        "begin select raise(abort, 'refused'); end"
    )
    conn.commit()
    conn.close()
    result = run("subscriber", "import", str(csv_file), expect=None)
    assert result.exit_code != 0
    assert _subscribers(workspace) == {}


def test_list_filters_and_json(run: Runner) -> None:
    run("subscriber", "add", "a@example.se", "--segment", "kommun", "--confirmed")
    run("subscriber", "add", "b@example.se", "--segment", "annat")
    table = run("subscriber", "list", "--status", "confirmed").output
    assert "a@example.se" in table and "b@example.se" not in table
    rows = json.loads(run("subscriber", "list", "--segment", "annat", "--json").output)
    assert [r["email"] for r in rows] == ["b@example.se"]
    assert run("subscriber", "list", "--status", "nope", expect=2).exit_code == 2


def test_show_export_remove(run: Runner, tmp_path: Path) -> None:
    run("subscriber", "add", "a@example.se", "--name", "A", "--confirmed", "--source", "mässa")
    assert "mässa" in run("subscriber", "show", "a@example.se").output
    run("subscriber", "remove", "1")
    out = tmp_path / "a.json"
    run("subscriber", "export", "a@example.se", "-o", str(out))
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["status"] == "unsubscribed"
    assert [e["action"] for e in record["consent_events"]] == ["confirmed", "unsubscribed"]
    assert "no subscriber" in run("subscriber", "show", "99", expect=1).stderr


def test_erase_removes_personal_data_and_suppresses(run: Runner, workspace: Workspace) -> None:
    run(
        "subscriber",
        "add",
        "a@example.se",
        "--name",
        "Anna",
        "--organisation",
        "Org",
        "--confirmed",
    )
    run("subscriber", "erase", "a@example.se", "--yes")
    with session_scope(workspace) as s:
        sub = s.scalars(select(Subscriber)).one()
        assert (sub.email, sub.name, sub.organisation, sub.status) == (None, None, None, "erased")
        assert s.scalars(select(Suppression)).one().email_hash == email_hash("a@example.se")
        actions = [e.action for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))]
        assert actions == ["confirmed", "erased"]
    import sqlite3

    with sqlite3.connect(workspace.root / "outreach.db") as conn:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    assert b"Anna" not in (workspace.root / "outreach.db").read_bytes()
    assert "suppressed" in run("subscriber", "add", "A@example.se", expect=1).stderr
