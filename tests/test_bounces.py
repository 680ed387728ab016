"""Bounces and complaints: VERP return paths at send time, and the bounce mailbox read back over
real IMAP (dovecot) and from a Maildir/mbox, with DSN and ARF samples from tests/fixtures/mail."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from outreach.cli import cli
from outreach.db import session_scope
from outreach.mail import send
from outreach.mail.bounces import bounce_mailbox_configured, fetch_bounces
from outreach.mail.returnpath import delivery_from_text, return_path
from outreach.models import BounceEvent, ConsentEvent, Delivery, Edition, Subscriber, utcnow
from outreach.newsletter import compose, content
from outreach.subscribers.store import add_subscriber, is_suppressed
from outreach.timeutil import zone
from outreach.workspace import Workspace, init_workspace, open_workspace

from .conftest import FIXTURES, REPO, TEST_KEY
from .helpers.dovecot import PASSWORD, USER, Dovecot
from .helpers.smtp import SmtpSink

SLUG = "2023-04-26"
PEOPLE = {
    "anna.berg@kommun.example": "Anna Berg",
    "erik.lund@region.example": "Erik Lund",
    "sara.holm@civil.example": "Sara Holm",
    "lena.ek@kommun.example": "Lena Ek",
}
SAMPLES = FIXTURES / "mail"


def sent_workspace(root: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink) -> Workspace:
    """Four confirmed subscribers who got edition SLUG through a real SMTP server, with VERP."""
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", sink.url)
    monkeypatch.setenv("OUTREACH_MAIL_BOUNCE_ADDRESS", "bounces@kraftsamling.se")
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
        for address, name in PEOPLE.items():
            add_subscriber(session, address, name=name, confirmed=True)
        compose.compose_edition(session, workspace, SLUG)
    report = send.send_edition(workspace, SLUG)
    assert report.counts["sent"] == len(PEOPLE)
    return workspace


def deliveries(workspace: Workspace) -> dict[str, Delivery]:
    with session_scope(workspace) as session:
        rows = session.execute(
            select(Subscriber.email, Delivery).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
        return {str(email): delivery for email, delivery in rows}


def sample(name: str, workspace: Workspace, address: str | None = None) -> bytes:
    """A sample report about `address`'s delivery (its VERP return path and Message-ID)."""
    text = (SAMPLES / name).read_text(encoding="utf-8")
    if address is not None:
        delivery = deliveries(workspace)[address]
        verp = return_path(workspace, TEST_KEY, delivery.id)
        assert verp is not None and delivery.message_id
        text = text.replace("%%VERP%%", verp).replace("%%MESSAGE_ID%%", delivery.message_id)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def statuses(workspace: Workspace) -> dict[str, str]:
    with session_scope(workspace) as session:
        return {str(s.email): s.status for s in session.scalars(select(Subscriber))}


def invoke(workspace: Workspace, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-w", str(workspace.root), *args])


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def imap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dovecot]:
    with Dovecot() as server:
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_HOST", "127.0.0.1")
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_PORT", str(server.port))
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_SECURITY", "none")
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_USER", USER)
        monkeypatch.setenv("OUTREACH_IMAP_PASSWORD", PASSWORD)
        yield server


def test_each_delivery_has_its_own_signed_return_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink
) -> None:
    workspace = sent_workspace(tmp_path / "ws", monkeypatch, sink)
    by_address = deliveries(workspace)
    senders = {rcpts[0]: mail_from for mail_from, rcpts in sink.envelopes}
    assert len(set(senders.values())) == len(PEOPLE)
    for address, mail_from in senders.items():
        assert mail_from.startswith("bounces+") and mail_from.endswith("@kraftsamling.se")
        assert len(mail_from.split("@")[0]) <= 64
        # Quoted in a mangled report, lower-cased domain and all, it still names that delivery.
        quoted = f"... rejected <{mail_from.split('@')[0]}@KRAFTSAMLING.SE>; said 550"
        assert delivery_from_text(workspace, TEST_KEY, quoted) == by_address[address].id
    # The visible From stays the newsletter's own address.
    assert all("nyhetsbrev@example.org" in str(m["From"]) for m in sink.messages)
    forged = senders["anna.berg@kommun.example"].replace("bounces+", "bounces+x")
    assert delivery_from_text(workspace, TEST_KEY, forged) is None
    assert (
        delivery_from_text(workspace, "another-key-" + "k" * 40, senders["lena.ek@kommun.example"])
        is None
    )


def test_imap_bounces_and_complaints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink, imap: Dovecot
) -> None:
    workspace = sent_workspace(tmp_path / "ws", monkeypatch, sink)
    reports = [
        sample("dsn-postfix-hard.eml", workspace, "anna.berg@kommun.example"),
        sample("dsn-soft-message-id.eml", workspace, "erik.lund@region.example"),
        sample("dsn-delayed.eml", workspace, "erik.lund@region.example"),
        sample("qmail-hard.eml", workspace),
        sample("arf-abuse.eml", workspace, "lena.ek@kommun.example"),
        sample("auto-reply.eml", workspace, "lena.ek@kommun.example"),
    ]
    for data in reports:
        imap.append(data)

    result = invoke(workspace, "bounces", "fetch")
    assert result.exit_code == 0, result.output
    assert "Read 6 message(s)" in result.output
    assert "2 hard bounce(s), 1 soft bounce(s), 1 complaint(s)" in result.output
    assert "1 left in the inbox" in result.output
    assert statuses(workspace) == {
        "anna.berg@kommun.example": "bounced",
        "erik.lund@region.example": "confirmed",  # one soft bounce of three allowed in a row
        "sara.holm@civil.example": "bounced",
        "lena.ek@kommun.example": "unsubscribed",
    }
    by_address = deliveries(workspace)
    with session_scope(workspace) as session:
        assert is_suppressed(session, "anna.berg@kommun.example")
        assert is_suppressed(session, "sara.holm@civil.example")
        assert not is_suppressed(session, "lena.ek@kommun.example")
        events = {(e.kind, e.delivery_id) for e in session.scalars(select(BounceEvent))}
        consent = session.scalars(
            select(ConsentEvent).where(ConsentEvent.action == "unsubscribed")
        ).all()
    assert ("hard", by_address["anna.berg@kommun.example"].id) in events
    assert ("soft", by_address["erik.lund@region.example"].id) in events  # by Message-ID
    assert ("complaint", by_address["lena.ek@kommun.example"].id) in events  # by VERP
    assert [c.source for c in consent] == ["complaint (ARF report)"]
    status = invoke(workspace, "newsletter", "status", SLUG)
    assert "bounces: 2 hard, 1 soft; complaints: 1" in status.output, status.output
    # Processed messages moved, never deleted; the out-of-office reply left for a person.
    assert len(imap.folder("outreach-processed")) == 5
    inbox = imap.folder("INBOX")
    assert len(inbox) == 1 and b"Automatiskt_svar" in inbox[0]

    # Idempotent: again, and with every processed message put back (a crash before the move).
    assert "Read 1 message(s)" in invoke(workspace, "bounces", "fetch").output
    for data in reports[:5]:
        imap.append(data)
    again = invoke(workspace, "bounces", "fetch")
    assert "5 already recorded" in again.output, again.output
    assert "0 hard bounce(s), 0 soft bounce(s), 0 complaint(s)" in again.output
    with session_scope(workspace) as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 5
    assert len(imap.folder("outreach-processed")) == 10


def test_imap_wrong_password_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, imap: Dovecot
) -> None:
    workspace = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("OUTREACH_IMAP_PASSWORD", "wrong")
    result = invoke(workspace, "bounces", "fetch")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "IMAP login as bounces on 127.0.0.1 failed" in result.stderr
    monkeypatch.delenv("OUTREACH_IMAP_PASSWORD")
    result = invoke(workspace, "bounces", "fetch")
    assert result.exit_code == 1 and "OUTREACH_IMAP_PASSWORD" in result.stderr


def _maildir(path: Path, messages: list[bytes]) -> mailbox.Maildir:
    box = mailbox.Maildir(path, create=True)
    for data in messages:
        box.add(data)
    return box


def test_maildir_mangled_report_maps_by_verp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink
) -> None:
    workspace = sent_workspace(tmp_path / "ws", monkeypatch, sink)
    box_path = tmp_path / "Maildir"
    _maildir(box_path, [sample("mangled-hard.eml", workspace, "erik.lund@region.example")])
    result = invoke(workspace, "bounces", "fetch", str(box_path))
    assert result.exit_code == 0, result.output
    assert "1 hard bounce(s)" in result.output
    assert statuses(workspace)["erik.lund@region.example"] == "bounced"
    assert len(mailbox.Maildir(box_path, create=False)) == 0
    processed = mailbox.Maildir(box_path / ".outreach-processed", create=False)
    assert [m["Subject"] for m in processed] == ["Returned mail: see transcript for details"]


def test_soft_bounces_in_a_row_suppress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink
) -> None:
    monkeypatch.setenv("OUTREACH_MAIL_SOFT_BOUNCE_LIMIT", "2")
    workspace = sent_workspace(tmp_path / "ws", monkeypatch, sink)
    erik = deliveries(workspace)["erik.lund@region.example"]
    first_report = sample("dsn-soft-message-id.eml", workspace, "erik.lund@region.example")
    with session_scope(workspace) as session:
        later = Edition(
            slug="2023-05-10", edition_date=utcnow().date(), subject="Maj", status="sent"
        )
        session.add(later)
        session.flush()
        second = Delivery(
            edition_id=later.id,
            subscriber_id=erik.subscriber_id,
            status="sent",
            message_id="<second-edition-erik@example.org>",
            sent_at=utcnow(),
        )
        session.add(second)
    second_report = first_report.replace(
        erik.message_id.encode(), b"<second-edition-erik@example.org>"
    ).replace(b"E1tJx3k-0004Qa-2b", b"E1tK00a-0009Zz-7c")
    mbox_path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(mbox_path)
    box.add(first_report)
    box.flush()
    with session_scope(workspace) as session:
        fetch_bounces(session, workspace, str(mbox_path))
    assert statuses(workspace)["erik.lund@region.example"] == "confirmed"
    box = mailbox.mbox(mbox_path)
    box.add(second_report)
    box.flush()
    with session_scope(workspace) as session:
        report = fetch_bounces(session, workspace, str(mbox_path))
        assert is_suppressed(session, "erik.lund@region.example")
    assert report.counts["soft"] == 1 and report.suppressed == 1
    assert statuses(workspace)["erik.lund@region.example"] == "bounced"
    assert len(mailbox.mbox(mbox_path)) == 0
    assert len(mailbox.mbox(tmp_path / "bounces.mbox.outreach-processed")) == 2


def test_no_mailbox_configured(run: object, workspace: Workspace) -> None:
    assert not bounce_mailbox_configured(workspace)
    result = invoke(workspace, "bounces", "fetch")
    assert result.exit_code == 1
    assert "no bounce mailbox" in result.stderr


def test_imap_over_tls_verifies_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Dovecot(tls=True) as server:
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_HOST", "127.0.0.1")
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_PORT", str(server.tls_port))
        monkeypatch.setenv("OUTREACH_MAIL_IMAP_USER", USER)
        monkeypatch.setenv("OUTREACH_IMAP_PASSWORD", PASSWORD)
        workspace = init_workspace(tmp_path / "ws")
        server.append(sample("qmail-hard.eml", workspace))
        # imaplib alone would accept any certificate; a self-signed one must be refused.
        refused = invoke(workspace, "bounces", "fetch")
        assert refused.exit_code == 1
        assert "TLS certificate of 127.0.0.1 not accepted" in refused.stderr
        assert refused.stderr.count("\n") == 1
        monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate))  # now trusted
        trusted = invoke(workspace, "bounces", "fetch")
        assert trusted.exit_code == 0, trusted.output + trusted.stderr
        assert "Read 1 message(s) from imap://bounces@127.0.0.1" in trusted.output
        assert len(server.folder("outreach-processed")) == 1


def test_a_confirmation_that_bounces_marks_the_pending_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink
) -> None:
    from outreach.mail.confirmation import send_due_confirmations
    from outreach.subscribers import queue

    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", sink.url)
    monkeypatch.setenv("OUTREACH_MAIL_BOUNCE_ADDRESS", "bounces@kraftsamling.se")
    workspace = open_workspace(init_workspace(tmp_path / "ws").root)
    with session_scope(workspace) as session:
        pending = add_subscriber(session, "sara.holm@civil.example")  # signed up on the web
        queue.enqueue(session, pending, "confirm")
    with session_scope(workspace) as session:
        assert send_due_confirmations(session, workspace, key=TEST_KEY).sent == 1
    assert sink.envelopes == [("bounces@kraftsamling.se", ["sara.holm@civil.example"])]
    box = tmp_path / "Maildir"
    _maildir(box, [sample("qmail-hard.eml", workspace)])
    assert "1 hard bounce(s)" in invoke(workspace, "bounces", "fetch", str(box)).output
    assert statuses(workspace)["sara.holm@civil.example"] == "bounced"
    with session_scope(workspace) as session:
        assert is_suppressed(session, "sara.holm@civil.example")


def test_bounce_address_must_be_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from outreach.errors import ConfigError

    workspace = init_workspace(tmp_path / "ws")
    assert return_path(workspace, TEST_KEY, 1) is None  # not configured: the From address is used
    for wrong in ("bounces+x@kraftsamling.se", "bounces", "bäcken@kraftsamling.se"):
        monkeypatch.setenv("OUTREACH_MAIL_BOUNCE_ADDRESS", wrong)
        with pytest.raises(ConfigError, match="bounce_address"):
            return_path(open_workspace(workspace.root), TEST_KEY, 1)
