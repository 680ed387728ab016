"""Messages and transports against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from outreach.errors import ConfigError
from outreach.mail.message import build_message, message_bytes
from outreach.mail.transport import transport_from_url
from outreach.mail.transport_url import parse_transport_url

from .smtp_sink import ScriptedHandler, SinkController


def _message(to: str = "Åsa Öberg <asa@example.se>") -> email.message.EmailMessage:
    return build_message(
        sender="Kraftsamling <nyhetsbrev@example.org>",
        to=to,
        subject="Kraftsamling: nya utlysningar och träffar i maj",
        text="Hej Åsa!\n\nAvregistrera: https://example.org/u/TOKEN\n",
        html="<p>Hej Åsa!</p><p><a href='https://example.org/u/TOKEN'>Avregistrera</a></p>",
        list_id="Kraftsamling för AI <kraftsamling.example.org>",
        list_unsubscribe=[
            "https://example.org/newsletter/u/WzEsIjNmYTJhYjQ1NmM3ODlkMGUiXQ.aBcDeFgHiJkLmNoPqRsTuVwXyZ01234",
            "mailto:avregistrera@example.org?subject=unsubscribe",
        ],
        one_click=True,
    )


def test_message_is_standard_and_round_trips() -> None:
    data = message_bytes(_message())
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["Subject"] == "Kraftsamling: nya utlysningar och träffar i maj"
    assert b"=?utf-8?" in data.split(b"\r\n\r\n")[0]  # RFC 2047 in the header block
    assert parsed["To"].addresses[0].display_name == "Åsa Öberg"
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = parsed["List-Unsubscribe"]
    assert "=?" not in unsubscribe and unsubscribe.startswith("<https://example.org/newsletter/u/")
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in parsed.iter_parts())
    assert parsed.get_body(("plain",)).get_content().startswith("Hej Åsa!")
    assert parsed["Message-ID"] != email.message_from_bytes(message_bytes(_message()))["Message-ID"]


def test_smtp_send_and_reply_classification(sink: tuple[ScriptedHandler, SinkController]) -> None:
    handler, controller = sink
    handler.script("temp@example.se", "451")
    handler.script("gone@example.se", "550")
    handler.script("data@example.se", "454")
    handler.script("drop@example.se", "drop-rcpt")
    with transport_from_url(controller.url, Path(".")) as transport:
        ok = transport.send(_message("ok@example.se"))
        temp = transport.send(_message("temp@example.se"))
        gone = transport.send(_message("gone@example.se"))
        data = transport.send(_message("data@example.se"))
        dropped = transport.send(_message("drop@example.se"))  # reconnects, second try accepted
        after = transport.send(_message("after@example.se"))
    assert (ok.outcome, ok.code) == ("sent", 250)
    assert (temp.outcome, temp.code, temp.recipient_refused) == ("transient", 451, False)
    assert (gone.outcome, gone.code, gone.recipient_refused) == ("permanent", 550, True)
    assert (data.outcome, data.code) == ("transient", 454)
    assert dropped.outcome == "sent", dropped
    assert after.outcome == "sent"
    assert handler.recipients() == [
        "ok@example.se",
        "drop@example.se",
        "after@example.se",
    ]
    assert handler.attempts["drop@example.se"] == 2


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    from .smtp_sink import free_port

    with transport_from_url(f"smtp://127.0.0.1:{free_port()}", tmp_path) as transport:
        result = transport.send(_message())
    assert result.outcome == "transient" and "cannot connect" in result.detail


def test_outbox_writes_unique_eml_files(tmp_path: Path) -> None:
    with transport_from_url("outbox:out", tmp_path) as transport:
        results = [transport.send(_message()) for _ in range(3)]
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 3 and all(r.ok for r in results)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Subject"].startswith("Kraftsamling")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("smtp://anna:secret@mail.example.org:587", "password"),
        ("smtp://anna@mail.example.org:587", "OUTREACH_SMTP_PASSWORD"),
        ("smtp://anna@mail.example.org:587?starttls=false", "clear text"),
        ("ftp://mail.example.org", "unknown mail transport"),
    ],
)
def test_bad_transport_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_transport_url(url, password=None, timeout=5)


def test_transport_url_defaults() -> None:
    kind, config = parse_transport_url(
        "smtp://anna%40org.se@mail.example.org", password="pw", timeout=5
    )
    assert kind == "smtp"
    assert (config.port, config.starttls, config.user) == (587, "required", "anna@org.se")  # type: ignore[union-attr]
    _, local = parse_transport_url("smtp://localhost:2525", password=None, timeout=5)
    assert local.starttls == "optional"  # type: ignore[union-attr]
    _, tls = parse_transport_url("smtps://anna@mail.example.org", password="pw", timeout=5)
    assert (tls.port, tls.implicit_tls) == (465, True)  # type: ignore[union-attr]
