"""The editor hears when a guest approves or suggests changes (a real SMTP server, the review form
through the Flask test client); a notice that cannot be sent never costs the guest their work."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from outreach.cli import cli
from outreach.mail.notify import notify_editor
from outreach.web import create_app
from outreach.workspace import Workspace, init_workspace, open_workspace

from .helpers.review import ANNA, BO, add_review_episode
from .helpers.web import csrf_from
from .smtp_sink import ScriptedHandler, SinkController

EDITOR = "redaktion@kraftsamling.se"
LINK = re.compile(r"http://\S+/granska/(\S+)")


@pytest.fixture
def reviewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> tuple[Workspace, FlaskClient, dict[str, str]]:
    handler, controller = sink
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", controller.url)
    monkeypatch.setenv("OUTREACH_NEWSLETTER_EDITOR_ADDRESS", EDITOR)
    workspace = open_workspace(init_workspace(tmp_path / "ws").root)
    add_review_episode(workspace)
    result = CliRunner().invoke(cli, ["-w", str(workspace.root), "review", "request", "samtal-1"])
    assert result.exit_code == 0, result.output
    links = {}
    for received in handler.log:
        body = received.message.get_body(("plain",)).get_content()
        links[received.rcpt_to[0]] = LINK.search(body).group(1)  # type: ignore[union-attr]
    handler.log.clear()
    return workspace, create_app(workspace).test_client(), links


def submit(client: FlaskClient, token: str, **fields: str) -> Any:
    html = client.get(f"/granska/{token}").get_data(as_text=True)
    base = re.search(r'name="base_version" value="(\d+)"', html)
    assert base
    data = {"csrf_token": csrf_from(html), "base_version": base.group(1), **fields}
    return client.post(f"/granska/{token}", data=data)


def notices(handler: ScriptedHandler) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(r.data, policy=policy.default)  # type: ignore[misc]
        for r in handler.log
        if r.rcpt_to == [EDITOR]
    ]


def test_editor_hears_of_changes_and_approval_not_of_nothing(
    reviewed: tuple[Workspace, FlaskClient, dict[str, str]],
    sink: tuple[ScriptedHandler, SinkController],
) -> None:
    handler, _ = sink
    _, client, links = reviewed
    response = submit(
        client,
        links[ANNA[1]],
        action="submit",
        comment="Det heter Digitalsamtal.\nTack!",
        **{"text-0": "Welcome to the Digitalsamtal podcast."},
    )
    assert response.status_code == 303
    [changes] = notices(handler)
    assert changes["Subject"] == "Anna Andersson föreslår ändringar: AI i kommunen"
    assert changes["Auto-Submitted"] == "auto-generated"
    text = changes.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "version 2 (1 segment)" in text
    assert "> Det heter Digitalsamtal.\n> Tack!" in text
    assert "outreach review diff samtal-1" in text

    assert submit(client, links[BO[1]], action="submit").status_code == 303  # nothing changed
    assert len(notices(handler)) == 1

    assert "klart=godkant" in submit(client, links[BO[1]], action="approve").headers["Location"]
    approved = notices(handler)[-1]
    assert approved["Subject"] == "Bo Berg har godkänt transkriptet: AI i kommunen"


def test_a_refused_notice_never_costs_the_guest_their_work(
    reviewed: tuple[Workspace, FlaskClient, dict[str, str]],
    sink: tuple[ScriptedHandler, SinkController],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, _ = sink
    handler.always[EDITOR] = "550"
    workspace, client, links = reviewed
    response = submit(client, links[ANNA[1]], action="approve")
    assert response.status_code == 303 and "klart=godkant" in response.headers["Location"]
    assert notices(handler) == []
    assert "the notice to the editor could not be sent" in caplog.text
    with pytest.raises(Exception, match="550"):
        notify_editor(workspace, "Test", "x")


def test_no_editor_address_no_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, controller = sink
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", controller.url)
    workspace = init_workspace(tmp_path / "ws")
    assert notify_editor(workspace, "Schemalagt utskick klart", "...") is False
    assert handler.log == []


def test_send_outcome_notice_reaches_the_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    from outreach.mail.notify import send_outcome_notice

    handler, controller = sink
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", controller.url)
    monkeypatch.setenv("OUTREACH_NEWSLETTER_EDITOR_ADDRESS", EDITOR)
    workspace = init_workspace(tmp_path / "ws")
    counts = {"sent": 1230, "skipped": 3, "failed_permanent": 1, "queued": 0}
    assert notify_editor(workspace, *send_outcome_notice("2026-12-10", "December", counts))
    paused = send_outcome_notice(
        "2026-12-10", "December", {**counts, "queued": 40}, "20 consecutive failures (451)"
    )
    assert notify_editor(workspace, *paused)
    done, stopped = notices(handler)
    assert done["Subject"] == "Utskicket av 2026-12-10 är klart"
    body = done.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Skickat: 1230, hoppade över: 3, misslyckade: 1, osäkra: 0." in body
    assert stopped["Subject"] == "Utskicket av 2026-12-10 har pausats"
    text = stopped.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "pausades: 20 consecutive failures (451)" in text
    assert "kvar att skicka: 40" in text and "outreach newsletter send 2026-12-10" in text
