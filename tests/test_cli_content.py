from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outreach.db import session_scope
from outreach.models import Call, Event, Recording
from outreach.workspace import Workspace

from .conftest import REPO, Runner


def _count(workspace: Workspace, model: type) -> int:
    with session_scope(workspace) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_call_event_recording_add_list_remove(run: Runner, workspace: Workspace) -> None:
    run(
        "call",
        "add",
        "Starta er AI-resa",
        "--funder",
        "Vinnova",
        "--opens",
        "2023-04-27",
        "--closes",
        "2023-09-12",
        "--amount",
        "upp till 600 000 kr",
    )
    run(
        "event",
        "add",
        "Inspirationsevent",
        "--starts",
        "2023-05-04 10:00",
        "--ends",
        "2023-05-04 12:00",
        "--location",
        "Online",
    )
    run(
        "recording",
        "add",
        "Webbinarium",
        "--url",
        "https://example.org/v",
        "--recorded",
        "2023-01-18",
    )
    assert "2023-04-27 – 2023-09-12" in run("call", "list").output
    assert "2023-05-04 10:00" in run("event", "list").output
    with session_scope(workspace) as s:
        event = s.scalars(select(Event)).one()
        assert event.starts == dt.datetime(2023, 5, 4, 8, 0, tzinfo=dt.UTC)
    run("call", "remove", "1")
    assert _count(workspace, Call) == 0
    assert "no call with id 7" in run("call", "remove", "7", expect=1).stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call", "add", "X", "--closes", "12/9/2023"], "closes: '12/9/2023' is not a date"),
        (["call", "add", "X", "--opens", "2023-05-01", "--closes", "2023-04-01"], "before opens"),
        (["event", "add", "X", "--starts", "imorgon", "--location", "A"], "not a date and time"),
        (["event", "add", "X", "--starts", "2023-05-04 10:00"], "give a location"),
        (["recording", "add", "X", "--url", "ftp://x"], "not an http(s) URL"),
        (["recording", "add", "X"], "url: required"),
    ],
)
def test_bad_content_input(run: Runner, args: list[str], message: str) -> None:
    assert message in run(*args, expect=1).stderr


def test_import_sample_content_is_idempotent(run: Runner, workspace: Workspace) -> None:
    sample = REPO / "newsletters" / "sample-content.yaml"
    out = run("content", "import", str(sample)).output
    assert "2 call(s) added" in out and "2 event(s) added" in out and "2 recording(s) added" in out
    again = run("content", "import", str(sample)).output
    assert "0 call(s) added, 2 unchanged" in again
    assert (_count(workspace, Call), _count(workspace, Event), _count(workspace, Recording)) == (
        2,
        2,
        2,
    )
    with session_scope(workspace) as s:
        call = s.scalars(select(Call).where(Call.title == "Starta er AI-resa")).one()
        assert call.closes == dt.date(2023, 9, 12)


def test_import_all_or_nothing_names_file_item_field(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    bad = tmp_path / "innehall.yaml"
    bad.write_text(
        "calls:\n  - title: Bra\n    closes: 2023-09-12\n"
        "events:\n  - title: Trasig\n    starts: 2023-13-45 10:00\n    location: A\n",
        encoding="utf-8",
    )
    err = run("content", "import", str(bad), expect=1).stderr
    assert f"{bad}:6: events[1] ('Trasig'): starts:" in err
    assert _count(workspace, Call) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calls: [\n", "invalid YAML"),
        ("- just a list\n", "expected a mapping"),
        ("podcasts: []\n", "unknown section"),
        ("calls:\n  - title: X\n    colour: red\n", "unknown field(s) colour"),
        ("calls:\n  - just text\n", "expected a mapping of fields"),
    ],
)
def test_import_bad_yaml(run: Runner, tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(text, encoding="utf-8")
    assert message in run("content", "import", str(bad), expect=1).stderr


def _errors(result_stderr: str) -> list[str]:
    lines = result_stderr.strip().splitlines()
    assert all(line.startswith("Error: ") for line in lines), lines
    assert "Traceback" not in result_stderr
    return lines


def test_import_reports_every_mistake_of_a_file_in_one_run(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    """A new user's file with three mistakes: three lines, each with file and line, nothing stored."""
    bad = tmp_path / "innehall.yaml"
    bad.write_text(
        "calls:\n"
        "  - title: Starta er AI-resa\n"
        "    opens: 2027-02-30\n"  # unquoted: PyYAML's own date constructor used to raise
        "    closes: 2027-09-12\n"
        "events:\n"
        "  - title: Inspirationsevent\n"
        "    starts: 2027-05-04 10:00\n"
        "    location: Online\n"
        "    location: Umeå\n"  # duplicate key: PyYAML silently kept the last
        "recordings:\n"
        "  - title: Webbinarium\n"
        "    url: www.youtube.com/watch?v=1\n",
        encoding="utf-8",
    )
    lines = _errors(run("content", "import", str(bad), expect=1).stderr)
    assert lines == [
        f"Error: {bad}:9: duplicate key 'location'",
        f"Error: {bad}:3: calls[1] ('Starta er AI-resa'): opens: '2027-02-30' is not a date"
        " (use YYYY-MM-DD)",
        f"Error: {bad}:12: recordings[1] ('Webbinarium'): url: 'www.youtube.com/watch?v=1' is"
        " not an http(s) URL",
    ]
    assert (_count(workspace, Call), _count(workspace, Event), _count(workspace, Recording)) == (
        0,
        0,
        0,
    )


def test_import_reports_every_mistake_of_one_item(run: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(
        "events:\n  - title: ''\n    starts: imorgon\n    online_url: ftp://x\n", encoding="utf-8"
    )
    lines = _errors(run("content", "import", str(bad), expect=1).stderr)
    assert [line.split(": ", 3)[-1].split(":")[0] for line in lines] == [
        "title",
        "starts",
        "online_url",
    ]
    assert lines[1].startswith(f"Error: {bad}:3: events[1]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calls: " + "[" * 100_000 + "\n", ":1: invalid YAML: nested deeper than 32 levels"),
        (
            "calls:\n  - title: X\n    amount: !!float abc\n",
            ":3: invalid YAML: cannot read the value",
        ),
        (
            "calls:\n  - title: X\n    amount: !!int " + "9" * 5000 + "\n",
            ":3: invalid YAML: cannot",
        ),
        ("calls:\n  - title: X\n  bad indent: [\n", ":3: invalid YAML"),
        ("a: 1\n---\nb: 2\n", ":2: invalid YAML: expected a single document"),
        ("calls:\n  - title: !!python/object:os.system x\n", ":2: invalid YAML"),
    ],
)
def test_every_loader_error_is_one_line_with_file_and_line(
    run: Runner, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(text, encoding="utf-8")
    lines = _errors(run("content", "import", str(bad), expect=1).stderr)
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad}{message}"), lines


def test_not_utf8_names_the_line(run: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_bytes("calls:\n  - title: Möte\n".encode("latin-1"))
    assert _errors(run("content", "import", str(bad), expect=1).stderr) == [
        f"Error: {bad}:2: not UTF-8 text"
    ]


def test_quoted_and_unquoted_dates_and_times_import_alike(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    good = tmp_path / "x.yaml"
    good.write_text(
        "calls:\n  - title: A\n    opens: 2027-02-01\n    closes: '2027-03-01'\n"
        "events:\n  - title: B\n    starts: 2027-05-04 10:00:00\n    ends: 2027-05-04T12:00:00+02:00\n"
        "    location: Online\n",
        encoding="utf-8",
    )
    run("content", "import", str(good))
    with session_scope(workspace) as s:
        call = s.scalars(select(Call)).one()
        assert (call.opens, call.closes) == (dt.date(2027, 2, 1), dt.date(2027, 3, 1))
        event = s.scalars(select(Event)).one()
        assert event.starts == dt.datetime(2027, 5, 4, 8, 0, tzinfo=dt.UTC)
        assert event.ends == dt.datetime(2027, 5, 4, 10, 0, tzinfo=dt.UTC)


def test_readme_content_example_imports(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Content files (YAML)", 1)[1]
    example = tmp_path / "innehall.yaml"
    example.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    out = run("content", "import", str(example)).output
    assert "1 call(s) added" in out and "1 event(s) added" in out and "1 recording(s) added" in out
