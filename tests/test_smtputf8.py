"""Addresses with a non-ASCII local part (RFC 6531/6532): sent with SMTPUTF8 when the server offers
it, refused with the reason when it does not, and never an encoded-word inside an address."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from outreach.db import session_scope
from outreach.mail import send
from outreach.mail.confirmation import send_due_confirmations
from outreach.mail.message import build_message, message_bytes
from outreach.models import Delivery, Subscriber
from outreach.newsletter import compose, content
from outreach.subscribers import queue
from outreach.subscribers.store import add_subscriber, is_suppressed
from outreach.timeutil import zone
from outreach.workspace import Workspace, init_workspace, open_workspace

from .conftest import REPO, Runner
from .helpers.net import free_port

MARTA = "märta.nord@kiruna.se"
SLUG = "2023-04-26"


class Recorder:
    """Keeps each transaction's envelope, including whether the client asked for SMTPUTF8."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "smtp_utf8": envelope.smtp_utf8,
                    "data": bytes(envelope.original_content or envelope.content),
                }
            )
        return "250 OK"


def serve(smtputf8: bool) -> tuple[Recorder, Controller]:
    recorder = Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8
    )
    controller.start()
    return recorder, controller


@pytest.fixture
def utf8_server() -> Iterator[tuple[Recorder, Controller]]:
    recorder, controller = serve(True)
    yield recorder, controller
    controller.stop()


@pytest.fixture
def ascii_server() -> Iterator[tuple[Recorder, Controller]]:
    recorder, controller = serve(False)
    yield recorder, controller
    controller.stop()


def to_line(data: bytes) -> bytes:
    return next(line for line in data.split(b"\r\n") if line.startswith(b"To:"))


def newsletter_workspace(root: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", url)
    init_workspace(root)
    (root / "newsletters" / SLUG).mkdir(parents=True)
    (root / "newsletters" / SLUG / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    workspace = open_workspace(root)
    with session_scope(workspace) as session:
        content.import_content(
            session, REPO / "newsletters" / "sample-content.yaml", zone("Europe/Stockholm")
        )
        add_subscriber(session, MARTA, name="Märta Nord", confirmed=True)
        add_subscriber(session, "anna@exempel-ö.se", name="Anna Berg", confirmed=True)
        compose.compose_edition(session, workspace, SLUG)
    return workspace


def test_built_message_never_encodes_a_local_part() -> None:
    message = build_message(
        sender="Kraftsamling <nyhetsbrev@example.org>",
        to=f"Märta Nord <{MARTA}>",
        subject="Bekräfta din prenumeration",
        text="Hej!",
    )
    data = message_bytes(message)
    line = to_line(data)
    assert b"=?" not in line  # was: To: =?utf-8?q?m=C3=A4rta?=.nord@kiruna.se
    assert MARTA.encode("utf-8") in line
    parsed = email.message_from_string(data.decode("utf-8"), policy=policy.SMTPUTF8)
    assert parsed["To"].addresses[0].addr_spec == MARTA
    # An ASCII local part with an internationalised domain stays ASCII: the domain in IDNA.
    plain = message_bytes(
        build_message(sender="a@example.org", to="asa@exempel-ö.se", subject="x", text="y")
    )
    assert to_line(plain) == b"To: asa@xn--exempel--u4a.se"


def test_confirmation_mail_with_smtputf8(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, utf8_server: tuple[Recorder, Controller]
) -> None:
    recorder, controller = utf8_server
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", f"smtp://127.0.0.1:{controller.port}")
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "test-key-0123456789abcdefghijklmnopqrstuvwxyz")
    live = open_workspace(workspace.root)
    with session_scope(live) as session:
        subscriber = add_subscriber(session, MARTA, name="Märta")
        queue.enqueue(session, subscriber, "confirm")
    with session_scope(live) as session:
        report = send_due_confirmations(session, live)
    assert report.sent == 1, report
    [received] = recorder.received
    assert received["smtp_utf8"] is True
    assert received["rcpt_tos"] == [MARTA]
    line = to_line(received["data"])
    assert b"=?" not in line and MARTA.encode() in line


def test_newsletter_send_uses_smtputf8_when_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utf8_server: tuple[Recorder, Controller]
) -> None:
    recorder, controller = utf8_server
    workspace = newsletter_workspace(
        tmp_path / "ws", f"smtp://127.0.0.1:{controller.port}", monkeypatch
    )
    report = send.send_edition(workspace, SLUG)
    assert report.counts["sent"] == 2
    by_rcpt = {r["rcpt_tos"][0]: r for r in recorder.received}
    assert set(by_rcpt) == {MARTA, "anna@xn--exempel--u4a.se"}
    assert by_rcpt[MARTA]["smtp_utf8"] is True
    assert by_rcpt["anna@xn--exempel--u4a.se"]["smtp_utf8"] is False  # only when needed
    line = to_line(by_rcpt[MARTA]["data"])
    assert line == "To: Märta Nord <märta.nord@kiruna.se>".encode()
    parsed = email.message_from_string(
        by_rcpt[MARTA]["data"].decode("utf-8"), policy=policy.SMTPUTF8
    )
    assert parsed["To"].addresses[0].addr_spec == MARTA
    assert "Märta" in parsed.get_body(("plain",)).get_content()


def test_newsletter_send_without_smtputf8_fails_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ascii_server: tuple[Recorder, Controller]
) -> None:
    recorder, controller = ascii_server
    workspace = newsletter_workspace(
        tmp_path / "ws", f"smtp://127.0.0.1:{controller.port}", monkeypatch
    )
    report = send.send_edition(workspace, SLUG)
    assert report.counts["sent"] == 1 and report.counts["failed_permanent"] == 1
    assert [r["rcpt_tos"] for r in recorder.received] == [["anna@xn--exempel--u4a.se"]]
    with session_scope(workspace) as session:
        delivery, subscriber = session.execute(
            select(Delivery, Subscriber)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.email == MARTA)
        ).one()
        assert delivery.status == "failed_permanent"
        assert "needs a mail server that offers SMTPUTF8 (RFC 6531)" in (delivery.last_error or "")
        assert "127.0.0.1 does not offer it" in (delivery.last_error or "")
        # The server's limit, not a dead address: nobody is marked bounced or suppressed.
        assert subscriber.status == "confirmed"
        assert not is_suppressed(session, MARTA)


def test_import_and_add_accept_with_a_warning(run: Runner, tmp_path: Path) -> None:
    csv_file = tmp_path / "lista.csv"
    csv_file.write_text(
        f"e-post;namn\n{MARTA};Märta Nord\nanna@example.se;Anna\n", encoding="utf-8"
    )
    result = run("subscriber", "import", str(csv_file), "--confirmed")
    assert "2 added" in result.output
    assert f"line 2: {MARTA}: a non-ASCII local part needs a mail server that offers SMTPUTF8" in (
        result.stderr
    )
    assert "anna@example.se" not in result.stderr
    added = run("subscriber", "add", "örjan@kiruna.se")
    assert "Added subscriber" in added.output
    assert "örjan@kiruna.se: a non-ASCII local part needs" in added.stderr
    assert "Warning" not in run("subscriber", "add", "per@kiruna.se").stderr
