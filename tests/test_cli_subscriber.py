from __future__ import annotations

import json
import sqlite3
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


# --- issue 18: strict CSV, clean input, several segments, confirmation requests ----------------


def _write(tmp_path: Path, text: str, name: str = "l.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_refuses_an_unterminated_quote_naming_the_row(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    """Finding 10: the open quote used to swallow the following rows silently (exit 0)."""
    csv_file = _write(
        tmp_path,
        "e-post;namn;organisation\n"
        "a@example.se;A;Org\n"
        'b@example.se;"Bo;Org\n'
        "c@example.se;C;Org\n"
        "d@example.se;D;Org\n",
    )
    result = run("subscriber", "import", str(csv_file), expect=1)
    assert "row 3" in result.stderr and "quote" in result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")] == [
        line for line in result.stderr.splitlines() if line != "Importing"
    ]
    assert _subscribers(workspace) == {}
    at_end = _write(tmp_path, 'e-post;namn\na@example.se;A\nb@example.se;"Bo\n', "end.csv")
    assert "row 3" in run("subscriber", "import", str(at_end), expect=1).stderr


def test_import_refuses_a_wrong_field_count_naming_the_row(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    """Finding 10: an unquoted ';' in a name gave "unknown segment ' Co'"."""
    csv_file = _write(
        tmp_path,
        "e-post;namn;organisation;segment\n"
        "a@example.se;A;Org;kommun\n"
        "b@example.se;B;Bygg; Co;annat\n",
    )
    result = run("subscriber", "import", str(csv_file), expect=1)
    assert "row 3 has 5 fields, the header 4" in result.stderr
    assert _subscribers(workspace) == {}
    short = _write(tmp_path, "email,name\na@example.se\n", "short.csv")
    assert (
        "row 2 has 1 fields, the header 2"
        in run("subscriber", "import", str(short), expect=1).stderr
    )


def test_import_joins_fornamn_and_efternamn_and_reads_several_segments(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    csv_file = _write(
        tmp_path,
        "E-post;Förnamn;Efternamn;Segment\n"
        'asa@example.se;Åsa;Öberg;"kommun, civilsamhälle"\n'
        "bo@example.se;Bo;;Annat\n",
    )
    result = run("subscriber", "import", str(csv_file))
    assert "2 added" in result.output and "ignoring column" not in result.stderr
    subs = _subscribers(workspace)
    assert subs["asa@example.se"].name == "Åsa Öberg"
    assert subs["asa@example.se"].segments == ["civilsamhälle", "kommun"]
    assert (subs["bo@example.se"].name, subs["bo@example.se"].segments) == ("Bo", ["annat"])


def test_control_characters_are_stripped_on_add_and_import(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    """Finding 5: NUL and escape sequences never stored, from any face."""
    run("subscriber", "add", "a@example.se", "--name", "Anna\x1b[2J\x00 Berg", "--source", "m\x07")
    csv_file = tmp_path / "c.csv"
    csv_file.write_bytes(
        "email,name,organisation\nb@example.se,Bo\x1b]0;x\x07 Ek,Org\x00\x9b AB\n".encode()
    )
    run("subscriber", "import", str(csv_file))
    subs = _subscribers(workspace)
    assert subs["a@example.se"].name == "Anna[2J Berg"
    assert (subs["b@example.se"].name, subs["b@example.se"].organisation) == ("Bo]0;x Ek", "Org AB")
    with session_scope(workspace) as s:
        assert {e.source for e in s.scalars(select(ConsentEvent))} == {"m", "import:c.csv"}
    with sqlite3.connect(workspace.root / "outreach.db") as conn:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    data = (workspace.root / "outreach.db").read_bytes()
    assert b"\x1b[" not in data and b"Anna\x00" not in data


def test_list_and_show_escape_anything_unprintable(run: Runner, workspace: Workspace) -> None:
    """Finding 5: data stored before the cleaning (or written by other tools) cannot drive the
    terminal."""
    run("subscriber", "add", "a@example.se", "--confirmed")
    with sqlite3.connect(workspace.root / "outreach.db") as conn:
        conn.execute(
            "update subscribers set name = ?, organisation = ?",
            ("Evil\x1b[2J\x1b]0;pwned\x07", "Org\u202etxt.exe\x00"),
        )
    for output in (
        run("subscriber", "list").output,
        run("subscriber", "show", "a@example.se").output,
    ):
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
        assert "\x00" not in output
        assert "Evil\\x1b[2J\\x1b]0;pwned\\x07" in output and "Org\\u202etxt.exe\\x00" in output


def test_several_segments_from_settings_on_add_list_and_send_targeting(
    run: Runner, workspace: Workspace
) -> None:
    """Finding 12: `kommun,region` was refused; now several segments, configured in the TOML."""
    settings = workspace.settings_path
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            'segments = { kommun = "Kommun eller region", "civilsamhälle" = "Civilsamhälle", '
            'annat = "Annat" }',
            'segments = { kommun = "Kommun eller region", skola = "Skola och förskola", '
            'annat = "Annat" }',
        ),
        encoding="utf-8",
    )
    run("subscriber", "add", "a@example.se", "--segment", "kommun,region", "--confirmed")
    run(
        "subscriber", "add", "b@example.se", "--segment", "Skola och förskola", "--segment", "annat"
    )
    assert (
        "unknown segment 'civilsamhälle'"
        in run("subscriber", "add", "c@example.se", "--segment", "civilsamhälle", expect=1).stderr
    )
    rows = json.loads(run("subscriber", "list", "--json").output)
    assert [r["segments"] for r in rows] == [["kommun"], ["annat", "skola"]]
    assert [
        r["email"]
        for r in json.loads(run("subscriber", "list", "--segment", "skola", "--json").output)
    ] == ["b@example.se"]
    assert "annat, skola" in run("subscriber", "list").output


def test_confirm_request_queues_links_for_pending_and_the_queue_sends_them(
    run: Runner, workspace: Workspace
) -> None:
    """Finding 12: pending subscribers (added without --confirmed) can be asked to confirm."""
    run("subscriber", "add", "p1@example.se")
    run("subscriber", "add", "p2@example.se", "--language", "en")
    run("subscriber", "add", "c@example.se", "--confirmed")
    assert run("subscriber", "confirm-request", expect=2).exit_code == 2
    out = run("subscriber", "confirm-request", "p1@example.se", "c@example.se").output
    assert "Queued 1 confirmation link(s); 1 not pending" in out
    assert "Queued 1 " in run("subscriber", "confirm-request", "--all-pending").output
    assert "Queued 0 " in run("subscriber", "confirm-request", "--all-pending").output
    sent = run("subscriber", "send-confirmations").output
    assert "Sent 2, 0 to retry, 0 rejected; 0 waiting" in sent
    mails = sorted((workspace.root / "newsletters" / "outbox").glob("*.eml"))
    texts = [m.read_text(encoding="utf-8") for m in mails]
    assert len(texts) == 2 and all("/bekrafta/" in t for t in texts)
    # A second request minutes later is not mailed again (ten-minute resend limit).
    run("subscriber", "confirm-request", "--all-pending")
    assert "Sent 0" in run("subscriber", "send-confirmations").output


def test_import_send_confirmation_queues_and_the_rate_limit_spreads_them(
    run: Runner, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_SUBSCRIBERS_CONFIRMATIONS_PER_MINUTE", "2")
    csv_file = _write(tmp_path, "email\na@example.se\nb@example.se\nc@example.se\n")
    assert (
        "--confirmed"
        in run(
            "subscriber", "import", str(csv_file), "--confirmed", "--send-confirmation", expect=1
        ).stderr
    )
    result = run("subscriber", "import", str(csv_file), "--send-confirmation")
    assert "3 added" in result.output and "3 confirmation(s) queued" in result.output
    assert (
        "Sent 2, 0 to retry, 0 rejected; 1 waiting"
        in run("subscriber", "send-confirmations").output
    )
    assert "Sent 0" in run("subscriber", "send-confirmations").output  # the minute is used up
    again = run("subscriber", "import", str(csv_file), "--send-confirmation")
    # c@ still has one waiting; a@ and b@ get theirs queued, and the queue applies the
    # ten-minute resend limit when it comes to them.
    assert "2 confirmation(s) queued" in again.output


def test_zero_confirmations_per_minute_means_no_limit(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_SUBSCRIBERS_CONFIRMATIONS_PER_MINUTE", "0")
    csv_file = _write(tmp_path, "email\na@example.se\nb@example.se\nc@example.se\n")
    run("subscriber", "import", str(csv_file), "--send-confirmation")
    assert "Sent 3, 0 to retry" in run("subscriber", "send-confirmations").output
