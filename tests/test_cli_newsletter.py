"""`outreach newsletter ...` through the real CLI, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import re
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outreach.db import session_scope
from outreach.models import Delivery
from outreach.subscribers.store import subscriber_for_unsubscribe_token
from outreach.workspace import Workspace

from .conftest import REPO, TEST_KEY, Runner
from .smtp_sink import ScriptedHandler, SinkController

SLUG = "2023-04-26"


@pytest.fixture
def composed(workspace: Workspace, run: Runner) -> Workspace:
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    run(
        "subscriber",
        "import",
        str(REPO / "newsletters" / "sample-subscribers.csv"),
        "--confirmed",
    )
    run(
        "subscriber",
        "add",
        "jane@example.org",
        "--name",
        "Jane Doe",
        "--language",
        "en",
        "--confirmed",
    )
    folder = workspace.newsletters_dir / SLUG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folder / "intro.en.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.en.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    run("newsletter", "compose", SLUG)
    return workspace


def _deliveries(workspace: Workspace) -> int:
    with session_scope(workspace) as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


def test_send_over_smtp_headers_links_and_status(
    composed: Workspace, run: Runner, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    result = run("newsletter", "send", SLUG, "--yes")
    assert "recipients 6 = sent 6 + skipped 0 + failed 0 + uncertain 0" in result.output
    assert sorted(handler.recipients())[0] == "anna.berg@example.se"
    by_address = {r.rcpt_to[0]: r for r in handler.log}
    anna = by_address["anna.berg@example.se"].message
    assert anna["Subject"] == "Kraftsamlingen: två utlysningar från Vinnova och event i maj"
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        anna["List-Id"]
        == "Kraftsamling för AI i kommuner och civilsamhälle <kraftsamling.example.org>"
    )
    links = re.findall(r"<([^>]+)>", anna["List-Unsubscribe"])
    assert links[0].startswith("http://127.0.0.1:8000/u/") and links[1].startswith("mailto:")
    assert re.search(r"[+-]\d{4}$", anna["Date"])  # a real time zone (Stockholm)
    text = anna.get_body(("plain",)).get_content()
    page = anna.get_body(("html",)).get_content()
    assert text.startswith("Kraftsamling för AI") and "Hej Anna!" in text
    assert f'href="{links[0]}"' in page and "anna.berg@example.se" in page and "@@" not in page
    # The link unsubscribes exactly this subscriber (signed token bound to the address).
    token = links[0].rsplit("/", 1)[1]
    with session_scope(composed) as session:
        assert (
            subscriber_for_unsubscribe_token(session, TEST_KEY, token).email
            == "anna.berg@example.se"
        )
    jane = by_address["jane@example.org"].message
    assert "Hello Jane," in jane.get_body(("plain",)).get_content()
    assert "Unsubscribe" in jane.get_body(("html",)).get_content()

    status = run("newsletter", "status", SLUG).output
    assert "Edition 2023-04-26: sent, sent " in status and "sent                    6" in status
    again = run("newsletter", "send", SLUG, "--yes")
    assert "already sent; nothing to do" in again.output and len(handler.log) == 6


def test_test_send_uses_sample_data_and_no_ledger(
    composed: Workspace, run: Runner, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    run("newsletter", "test", SLUG, "--to", "redaktion@example.org", "--to", "b@example.org")
    assert sorted(handler.recipients()) == ["b@example.org", "redaktion@example.org"]
    message = handler.log[0].message
    assert message["Subject"].startswith("[TEST] Kraftsamlingen")
    assert "Hej Anna!" in message.get_body(("plain",)).get_content()  # the sample subscriber
    assert _deliveries(composed) == 0
    too_many = [arg for i in range(6) for arg in ("--to", f"r{i}@example.org")]
    assert "at most 5" in run("newsletter", "test", SLUG, *too_many, expect=1).stderr
    english = run("newsletter", "test", SLUG, "--to", "c@example.org", "--language", "en")
    assert "c@example.org: sent" in english.output
    assert "Hello Anna," in handler.log[-1].message.get_body(("plain",)).get_content()


def test_dkim_signature_covers_list_unsubscribe(
    composed: Workspace,
    run: Runner,
    sink: tuple[ScriptedHandler, SinkController],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dkim

    handler, _ = sink
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    monkeypatch.setenv("OUTREACH_DKIM_KEY", key.read_text())
    monkeypatch.setenv("OUTREACH_MAIL_DKIM_SELECTOR", "nyhetsbrev")
    monkeypatch.setenv("OUTREACH_MAIL_DKIM_DOMAIN", "example.org")
    run("newsletter", "send", SLUG, "--yes")
    data = handler.log[0].data
    signature = message_from_bytes(data, policy=policy.default)["DKIM-Signature"]
    signed = re.search(r"h=([^;]+)", signature.replace("\r\n", "").replace(" ", ""))
    assert signed is not None
    headers = signed.group(1).lower().split(":")
    assert "list-unsubscribe" in headers and "list-unsubscribe-post" in headers

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nyhetsbrev._domainkey.example.org."
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    assert dkim.verify(data, dnsfunc=dns)


def test_preview_writes_sample_files(composed: Workspace, run: Runner) -> None:
    output = run("newsletter", "preview", SLUG).output
    assert "newsletters/2023-04-26/preview.html" in output
    preview = (composed.newsletters_dir / SLUG / "preview.html").read_text(encoding="utf-8")
    assert "Hej Anna!" in preview and "@@" not in preview


def test_errors_are_one_line(
    workspace: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        "run 'outreach newsletter compose"
        in run("newsletter", "send", "2030-01-01", "--yes", expect=1).stderr
    )
    assert "not a date" in run("newsletter", "compose", "maj-extra", expect=1).stderr
    assert "must be letters" in run("newsletter", "compose", "../x", expect=1).stderr
    monkeypatch.delenv("OUTREACH_SECRET_KEY")
    run("newsletter", "compose", SLUG)
    result = run("newsletter", "send", SLUG, "--yes", expect=1)
    assert "OUTREACH_SECRET_KEY" in result.stderr and "Traceback" not in result.output
    assert _deliveries(workspace) == 0  # refused before anything was queued


def test_one_click_from_a_sent_message_and_the_archive_page(
    composed: Workspace, run: Runner
) -> None:
    from outreach.web import create_app

    run("newsletter", "send", SLUG, "--yes")
    outbox = composed.root / "newsletters" / "outbox"
    messages = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(outbox.glob("*.eml"))
    ]
    anna = next(m for m in messages if "anna.berg@example.se" in str(m["To"]))
    link = re.findall(r"<([^>]+)>", anna["List-Unsubscribe"])[0]
    path = "/" + link.split("/", 3)[3]
    client = create_app(composed).test_client(use_cookies=False)
    # What Gmail's one-click does (RFC 8058): a bare POST, no cookie, no CSRF token.
    response = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    # The archive shows the sent edition's web page, without anyone's links.
    listing = client.get("/nyhetsbrev/").get_data(as_text=True)
    assert "/nyhetsbrev/2023-04-26/" in listing
    page = client.get("/nyhetsbrev/2023-04-26/").get_data(as_text=True)
    assert "Kraftsamlingen: två utlysningar" in page and "/u/" not in page
    # The next edition does not go to Anna.
    run("newsletter", "compose", "2023-05-10")
    before = len(list(outbox.glob("*.eml")))
    result = run("newsletter", "send", "2023-05-10", "--yes")
    assert "recipients 5 = sent 5" in result.output
    assert len(list(outbox.glob("*.eml"))) == before + 5
