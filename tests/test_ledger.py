"""The send ledger against a real SMTP server (aiosmtpd): every reply code, drops, pauses, resume,
the lock, and a sender killed with SIGKILL mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.errors import MailError
from outreach.mail import send
from outreach.mail.lock import send_lock
from outreach.mail.send import CLAIM_BATCH
from outreach.mail.transport import open_transport
from outreach.models import Delivery, Edition, Subscriber
from outreach.subscribers.store import add_subscriber, is_suppressed, remove_subscriber
from outreach.timeutil import zone
from outreach.workspace import Workspace, open_workspace

from .conftest import REPO
from .smtp_sink import ScriptedHandler, SinkController

SLUG = "2023-04-26"


def make_workspace(
    root: Path, url: str, monkeypatch: pytest.MonkeyPatch, count: int = 6, **mail: str
) -> Workspace:
    """A workspace with the sample content, `count` confirmed subscribers and a composed edition."""
    from outreach.newsletter import compose, content
    from outreach.workspace import init_workspace

    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", url)
    monkeypatch.setenv("OUTREACH_MAIL_RETRY_BACKOFF_SECONDS", "0.01")
    for key, value in mail.items():
        monkeypatch.setenv(f"OUTREACH_MAIL_{key.upper()}", value)
    init_workspace(root)
    (root / "newsletters" / SLUG).mkdir(parents=True, exist_ok=True)
    (root / "newsletters" / SLUG / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    workspace = open_workspace(root)
    with session_scope(workspace) as session:
        content.import_content(
            session, REPO / "newsletters" / "sample-content.yaml", zone("Europe/Stockholm")
        )
        for i in range(count):
            add_subscriber(
                session,
                f"person{i}@example.se",
                name=f"Person {i}",
                segments="kommun" if i % 2 == 0 else "civilsamhälle",
                confirmed=True,
            )
        compose.compose_edition(session, workspace, SLUG)
    return workspace


def states(workspace: Workspace) -> dict[str, str]:
    with session_scope(workspace) as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
        return {str(email): status for email, status in rows}


def test_reply_codes_retries_and_suppression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=7)
    handler.script("person0@example.se", "451")  # RCPT 451 once, then accepted
    handler.script("person1@example.se", "454")  # DATA 454 once, then accepted
    handler.script("person2@example.se", "550")  # no such user: permanent, suppressed
    handler.script("person3@example.se", "drop-rcpt")  # connection dropped: reconnect, accepted
    handler.always["person4@example.se"] = "451"  # keeps failing: retried max_attempts times
    handler.script("person5@example.se", "drop-data")  # delivered, but the client can't know
    report = send.send_edition(workspace, SLUG)

    got = Counter(handler.recipients())
    result = states(workspace)
    assert result == {
        "person0@example.se": "sent",
        "person1@example.se": "sent",
        "person2@example.se": "failed_permanent",
        "person3@example.se": "sent",
        "person4@example.se": "failed_transient",
        "person5@example.se": "uncertain",
        "person6@example.se": "sent",
    }
    assert all(n == 1 for n in got.values()), got  # nobody twice, not even after a drop
    assert set(got) == {f"person{i}@example.se" for i in (0, 1, 3, 5, 6)}
    assert handler.attempts["person4@example.se"] == 3  # [mail] max_attempts
    counts = report.counts
    assert counts.recipients == 7 and counts.balanced
    assert (counts["sent"], counts.failed, counts["uncertain"]) == (4, 2, 1)
    with session_scope(workspace) as session:
        assert is_suppressed(session, "person2@example.se")
        bounced = session.scalar(
            select(Subscriber.status).where(Subscriber.email == "person2@example.se")
        )
        assert bounced == "bounced"
        edition = session.scalar(select(Edition).where(Edition.slug == SLUG))
        assert edition is not None and edition.status == "sent" and edition.sent_at is not None

    # A finished edition sends nothing; uncertain ones only on request (and keep their Message-ID).
    again = send.send_edition(workspace, SLUG)
    assert again.attempted == 0 and again.already_sent
    first_id = next(r.message["Message-ID"] for r in handler.log if "person5" in r.rcpt_to[0])
    resent = send.send_edition(workspace, SLUG, send.SendOptions(resend_uncertain=True))
    assert resent.sent_now == 1
    assert states(workspace)["person5@example.se"] == "sent"
    copies = [r.message["Message-ID"] for r in handler.log if "person5" in r.rcpt_to[0]]
    assert copies == [first_id, first_id]


def test_recheck_before_each_message_skips_unsubscribed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(
        tmp_path / "ws", controller.url, monkeypatch, count=4, concurrency="1"
    )

    def factory() -> object:
        transport = open_transport(workspace)
        original = transport.send_bytes

        def send_bytes(*args: object) -> object:
            result = original(*args)  # type: ignore[arg-type]
            # Someone unsubscribes while the send is running: after person0 got it.
            with session_scope(workspace) as session:
                if (
                    session.scalar(
                        select(Subscriber.status).where(Subscriber.email == "person3@example.se")
                    )
                    == "confirmed"
                ):
                    remove_subscriber(session, "person3@example.se", source="web")
            return result

        transport.send_bytes = send_bytes  # type: ignore[method-assign]
        return transport

    report = send.send_edition(workspace, SLUG, transport_factory=factory)  # type: ignore[arg-type]
    assert states(workspace)["person3@example.se"] == "skipped"
    assert "person3@example.se" not in handler.recipients()
    assert report.counts["skipped"] == 1 and report.counts["sent"] == 3 and report.counts.balanced


def test_segments_fixed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=6)
    report = send.send_edition(workspace, SLUG, send.SendOptions(segments=["kommuner"]))
    assert sorted(handler.recipients()) == [f"person{i}@example.se" for i in (0, 2, 4)]
    assert report.counts.recipients == 3
    # Someone confirming later does not join an edition already sent.
    with session_scope(workspace) as session:
        add_subscriber(session, "late@example.se", segments="kommun", confirmed=True)
    assert send.send_edition(workspace, SLUG).attempted == 0
    with pytest.raises(Exception, match="started for segments kommun"):
        send.send_edition(workspace, SLUG, send.SendOptions(segments=["annat"]))


def test_consecutive_failures_pause_then_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(
        tmp_path / "ws",
        controller.url,
        monkeypatch,
        count=10,
        concurrency="1",
        max_consecutive_failures="3",
        max_attempts="1",
    )
    for i in range(10):
        handler.always[f"person{i}@example.se"] = "451"  # the relay is down for everyone
    report = send.send_edition(workspace, SLUG)
    assert report.paused and "3 consecutive failures" in report.paused
    assert report.counts["failed_transient"] == 3 and report.counts["queued"] == 7
    assert report.counts.balanced
    with session_scope(workspace) as session:
        assert session.scalar(select(Edition.status).where(Edition.slug == SLUG)) == "paused"
    handler.always.clear()  # the relay is back
    resumed = send.send_edition(workspace, SLUG)
    assert resumed.paused is None and resumed.counts["sent"] == 10
    assert Counter(handler.recipients()) == Counter(f"person{i}@example.se" for i in range(10))


def test_second_send_is_refused_while_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    _, controller = sink
    workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=1)
    refused = pytest.raises(MailError, match="another 'newsletter send' is running.*other-edition")
    with send_lock(workspace, "other-edition"), refused:
        send.send_edition(workspace, SLUG)
    assert send.send_edition(workspace, SLUG).sent_now == 1


def _send_process(root: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["OUTREACH_MAIL_TRANSPORT"] = url
    env["OUTREACH_MAIL_CONCURRENCY"] = "3"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outreach",
            "-w",
            str(root),
            "newsletter",
            "send",
            SLUG,
            "--yes",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_mid_send_then_resume_nobody_twice_nobody_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow relay, so the kill lands mid-send even when starting the second process takes seconds
    # (a loaded machine: at 0.1 s the 300 mails were all out before the kill).
    handler = ScriptedHandler(delay=0.25)
    controller = SinkController(handler)
    controller.start()
    try:
        total = 300
        workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=total)
        process = _send_process(workspace.root, controller.url)
        deadline = time.monotonic() + 60
        while len(handler.recipients()) < 30 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        # A second send while the first one runs is refused (the lock).
        second = _send_process(workspace.root, controller.url)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and b"another 'newsletter send' is running" in err
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        before_kill = Counter(handler.recipients())
        assert 30 <= sum(before_kill.values()) < total

        # Resume: the lock died with the process; rows it left `sending` become uncertain.
        resumed = _send_process(workspace.root, controller.url)
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        got = Counter(handler.recipients())
        result = states(workspace)
        everyone = {f"person{i}@example.se" for i in range(total)}
        assert max(got.values()) == 1, "someone got the edition twice"
        uncertain = {a for a, s in result.items() if s == "uncertain"}
        # At most one claimed batch per connection (the ledger commits in batches).
        assert len(uncertain) <= 3 * CLAIM_BATCH
        assert {a for a, s in result.items() if s == "sent"} <= set(got)
        # Nobody skipped: everyone has the message, or is reported uncertain, never silently left.
        assert everyone - set(got) <= uncertain
        assert set(result) == everyone and set(result.values()) <= {"sent", "uncertain"}
        assert b"uncertain" in out or not uncertain

        # Resending the uncertain ones reaches exactly those the server did not have.
        final = _send_process(workspace.root, controller.url, "--resend-uncertain")
        final.communicate(timeout=60)
        got = Counter(handler.recipients())
        assert set(got) == everyone
        assert {a for a, n in got.items() if n > 1} <= uncertain
    finally:
        controller.stop()


def test_rate_limit_across_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(
        tmp_path / "ws", controller.url, monkeypatch, count=10, rate_per_second="40"
    )
    started = time.monotonic()
    report = send.send_edition(workspace, SLUG)
    assert report.counts["sent"] == 10
    assert time.monotonic() - started >= 9 / 40 * 0.95  # 10 messages, 40 per second at most


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = ScriptedHandler(delay=0.05)
    controller = SinkController(handler)
    controller.start()
    try:
        total = 120
        workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=total)
        process = _send_process(workspace.root, controller.url)
        deadline = time.monotonic() + 60
        while len(handler.recipients()) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130 and b"run the same command to resume" in err, err
        # In-flight messages finished and were recorded: nothing is left uncertain.
        assert set(states(workspace).values()) <= {"sent", "queued"}
        assert len(handler.recipients()) == list(states(workspace).values()).count("sent")
        resumed = _send_process(workspace.root, controller.url)
        resumed.communicate(timeout=120)
        assert resumed.returncode == 0
        assert Counter(handler.recipients()) == Counter(
            f"person{i}@example.se" for i in range(total)
        )
    finally:
        controller.stop()


def test_internationalised_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=1)
    with session_scope(workspace) as session:
        add_subscriber(session, "asa@exempel-ö.se", name="Åsa Öberg", confirmed=True)
        add_subscriber(session, "lång@exempel.se", confirmed=True)
    report = send.send_edition(workspace, SLUG)
    # aiosmtpd offers SMTPUTF8 (tests/test_smtputf8.py covers a server that does not).
    assert sorted(handler.recipients()) == [
        "asa@xn--exempel--u4a.se",
        "lång@exempel.se",
        "person0@example.se",
    ]
    result = states(workspace)
    assert result["lång@exempel.se"] == "sent"
    assert report.counts.balanced and report.counts["sent"] == 3
