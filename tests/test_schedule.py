"""Scheduled sends and `outreach run-due` against a real SMTP server (aiosmtpd), time injected."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.mail import schedule
from outreach.mail.lock import send_lock
from outreach.models import Edition
from outreach.newsletter import compose, content
from outreach.subscribers.store import add_subscriber
from outreach.timeutil import zone
from outreach.workspace import Workspace, init_workspace, open_workspace

from .conftest import REPO, Runner
from .smtp_sink import ScriptedHandler, SinkController

TZ = zone("Europe/Stockholm")
FIRST, SECOND = "2026-12-03", "2026-12-10"


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def two_editions(root: Path, count: int = 8) -> Workspace:
    init_workspace(root)
    workspace = open_workspace(root)
    with session_scope(workspace) as session:
        content.import_content(session, REPO / "newsletters" / "sample-content.yaml", TZ)
        for i in range(count):
            add_subscriber(session, f"person{i}@kommun.se", name=f"Person {i}", confirmed=True)
        for slug in (FIRST, SECOND):
            compose.compose_edition(session, workspace, slug)
    return workspace


def editions_by_recipient(handler: ScriptedHandler) -> Counter[tuple[str, str]]:
    """(recipient, edition date in the subject) for every message the server accepted."""
    got: Counter[tuple[str, str]] = Counter()
    for received in handler.log:
        subject = str(received.message["Subject"])
        edition = "3 december" if "3 december" in subject else "10 december"
        got[(received.rcpt_to[0], edition)] += 1
    return got


def test_two_editions_each_subscriber_gets_each_once(
    tmp_path: Path, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    workspace = two_editions(tmp_path / "ws")
    before = local("2026-12-01 12:00")
    with session_scope(workspace) as session:
        schedule.schedule_edition(session, workspace, FIRST, local("2026-12-03 08:00"), now=before)
        schedule.schedule_edition(session, workspace, SECOND, local("2026-12-10 08:00"), now=before)
        pending = schedule.scheduled_editions(session)
    assert [p.slug for p in pending] == [FIRST, SECOND]

    # Before the first slot: nothing is due.
    assert schedule.run_due(workspace, now=local("2026-12-03 07:59")).sends == []
    assert handler.log == []
    # Every minute across the first slot, twice each: the first edition once.
    for minute in ("08:00", "08:00", "08:01", "08:01"):
        schedule.run_due(workspace, now=local(f"2026-12-03 {minute}"))
    assert len(handler.log) == 8
    # The second slot is missed (the machine was off): sent late, with a note, once.
    late = schedule.run_due(workspace, now=local("2026-12-10 11:30"))
    assert [s.slug for s in late.sends] == [SECOND]
    assert late.sends[0].note is not None and "sent late" in late.sends[0].note
    assert "due 2026-12-10 08:00" in late.sends[0].note
    assert schedule.run_due(workspace, now=local("2026-12-10 11:31")).sends == []
    assert schedule.run_due(workspace, now=local("2026-12-24 08:00")).sends == []

    got = editions_by_recipient(handler)
    expected = {
        (f"person{i}@kommun.se", edition)
        for i in range(8)
        for edition in ("3 december", "10 december")
    }
    assert set(got) == expected and set(got.values()) == {1}
    with session_scope(workspace) as session:
        rows = session.scalars(select(Edition).order_by(Edition.slug)).all()
        assert [r.status for r in rows] == ["sent", "sent"]
        assert rows[0].schedule_note == "sending as scheduled"
        assert rows[1].schedule_note is not None and "sent late" in rows[1].schedule_note
        assert schedule.scheduled_editions(session) == []


def test_run_due_waits_for_a_running_send_and_resumes_a_stopped_one(
    tmp_path: Path, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    workspace = two_editions(tmp_path / "ws", count=4)
    with session_scope(workspace) as session:
        schedule.schedule_edition(
            session, workspace, FIRST, local("2026-12-03 08:00"), now=local("2026-12-01 08:00")
        )
    with send_lock(workspace, "edition other"):
        busy = schedule.run_due(workspace, now=local("2026-12-03 08:00"))
    assert busy.busy is not None and "edition other" in busy.busy and handler.log == []
    # The next minute it goes.
    sent = schedule.run_due(workspace, now=local("2026-12-03 08:01"))
    assert sent.sends[0].report is not None and sent.sends[0].report.sent_now == 4
    assert sent.sends[0].note is None  # one minute late is on time
    assert len(handler.log) == 4


def test_checks_failing_at_the_due_time_cancel_the_schedule(
    tmp_path: Path, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    workspace = two_editions(tmp_path / "ws", count=2)
    with session_scope(workspace) as session:
        schedule.schedule_edition(
            session, workspace, FIRST, local("2026-12-03 08:00"), now=local("2026-12-01 08:00")
        )
    page = workspace.newsletters_dir / FIRST / "email.html"
    edited = page.read_text(encoding="utf-8").replace(
        "</body>", '<a href="https:///x">x</a></body>'
    )
    page.write_text(edited, encoding="utf-8")
    result = schedule.run_due(workspace, now=local("2026-12-03 08:00"))
    assert result.sends[0].error is not None and "has no host name" in result.sends[0].error
    assert "schedule is cancelled" in result.sends[0].error and handler.log == []
    assert schedule.run_due(workspace, now=local("2026-12-03 08:01")).sends == []


def test_schedule_commands(workspace: Workspace, run: Runner) -> None:
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    run("subscriber", "add", "anna@kommun.se", "--name", "Anna", "--confirmed")
    run("newsletter", "compose", SECOND)
    past = run("newsletter", "schedule", SECOND, "--at", "2020-01-01 08:00", "--yes", expect=1)
    assert "2020-01-01 08:00 has passed" in past.stderr
    # Placeholder settings: the warnings need --yes, and without a terminal so does the question.
    refused = run("newsletter", "schedule", SECOND, "--at", "2099-12-10 08:00", expect=1)
    assert "warning(s) above" in refused.stderr
    done = run("newsletter", "schedule", SECOND, "--at", "2099-12-10 08:00", "--yes")
    assert "scheduled for 2099-12-10 08:00 (Europe/Stockholm)" in done.output
    assert "Recipients: 1" in done.output
    status = run("newsletter", "status", SECOND).output
    assert "scheduled: 2099-12-10 08:00 (Europe/Stockholm)" in status
    listing = run("newsletter", "status").output
    assert listing.startswith(f"2099-12-10 08:00 (Europe/Stockholm)  {SECOND}  [composed")
    assert run("run-due").output == ""  # not due: quiet
    run("newsletter", "unschedule", SECOND)
    assert run("newsletter", "status").output == "No scheduled sends.\n"
    assert "not scheduled" in run("newsletter", "unschedule", SECOND, expect=1).stderr


def test_run_due_command_sends_a_missed_slot_late(
    workspace: Workspace, run: Runner, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    run("subscriber", "add", "anna@kommun.se", "--name", "Anna", "--confirmed")
    run("newsletter", "compose", SECOND)
    with session_scope(workspace) as session:
        schedule.schedule_edition(
            session, workspace, SECOND, local("2026-12-01 08:00"), now=local("2026-11-30 08:00")
        )
    output = run("run-due").output
    assert f"Edition {SECOND}: due 2026-12-01 08:00, sent late from" in output
    assert f"Edition {SECOND} (due 2026-12-01 08:00): 1 sent now" in output
    assert len(handler.log) == 1
    assert run("run-due").output == ""
    assert "sent late" in run("newsletter", "status", SECOND).output


def test_run_due_sends_queued_confirmations_and_tells_the_editor(
    tmp_path: Path,
    sink: tuple[ScriptedHandler, SinkController],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One `run-due` does all that has come due: a scheduled edition (then a notice to the editor)
    and a sign-up's confirmation mail from the queue; the next run sends nothing again."""
    from click.testing import CliRunner

    from outreach.cli import cli
    from outreach.subscribers import queue

    handler, _ = sink
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "test-key-0123456789abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("OUTREACH_NEWSLETTER_EDITOR_ADDRESS", "redaktionen@kraftsamling.se")
    workspace = two_editions(tmp_path / "ws", count=2)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with session_scope(workspace) as session:
        pending = add_subscriber(session, "ny@kommun.se", name="Ny Läsare")
        assert queue.enqueue(session, pending, "confirm")
        schedule.schedule_edition(
            session, workspace, FIRST, past, now=past - dt.timedelta(minutes=1)
        )
    result = CliRunner().invoke(cli, ["-w", str(workspace.root), "run-due"])
    assert result.exit_code == 0, result.output
    assert "Confirmation mails: 1 sent" in result.output, result.output
    recipients = Counter(r.rcpt_to[0] for r in handler.log)
    assert recipients == {
        "ny@kommun.se": 1,
        "person0@kommun.se": 1,
        "person1@kommun.se": 1,
        "redaktionen@kraftsamling.se": 1,
    }
    notice = next(r for r in handler.log if r.rcpt_to[0] == "redaktionen@kraftsamling.se")
    assert f"Utskicket av {FIRST} är klart" in str(notice.message["Subject"])
    again = CliRunner().invoke(cli, ["-w", str(workspace.root), "run-due"])
    assert again.exit_code == 0 and again.output == "", again.output
    assert len(handler.log) == 4
