"""The subscriber pages through Flask's test client: subscribe (queued, constant), confirm by POST,
the preference page with one-click unsubscribe, rate limits, CSRF, escaping.

Mails go through the real queue (`send_due_confirmations`) into the workspace's outbox folder, or a
real SMTP port where nobody listens.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from outreach.db import session_scope
from outreach.errors import MailError
from outreach.mail.confirmation import QueueReport, send_due_confirmations
from outreach.models import ConsentEvent, Subscriber, SubscriberMail, utcnow
from outreach.subscribers import store as subscribers
from outreach.web import create_app
from outreach.workspace import Workspace

from .helpers.net import free_port
from .helpers.web import csrf_from

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
OTHER_KEY = "another-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def app(workspace: Workspace) -> Flask:
    return create_app(workspace)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def outbox(workspace: Workspace) -> list[email.message.EmailMessage]:
    folder = workspace.root / "newsletters" / "outbox"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def body(message: email.message.EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def deliver(workspace: Workspace, now: dt.datetime | None = None) -> QueueReport:
    with session_scope(workspace) as s:
        return send_due_confirmations(s, workspace, now=now)


def post_form(client: FlaskClient, segment: Any = (), **fields: str) -> Any:
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    data: dict[str, Any] = {"csrf_token": token, "language": "sv", **fields}
    data["segment"] = [segment] if isinstance(segment, str) else list(segment)
    return client.post("/prenumerera", data=data)


def subscriber(workspace: Workspace, address: str) -> Subscriber | None:
    with session_scope(workspace) as s:
        return s.scalar(select(Subscriber).where(Subscriber.email == address))


def status_of(workspace: Workspace, address: str) -> str | None:
    row = subscriber(workspace, address)
    return row.status if row else None


def make(workspace: Workspace, address: str, status: str = "confirmed", name: str = "Anna") -> int:
    with session_scope(workspace) as s:
        sub = subscribers.add_subscriber(s, address, name=name, confirmed=status == "confirmed")
        if status not in ("confirmed", "pending"):
            subscribers.set_status(s, sub, status, "test")
        return sub.id


def actions(workspace: Workspace) -> list[str]:
    with session_scope(workspace) as s:
        return list(s.scalars(select(ConsentEvent.action).order_by(ConsentEvent.id)))


def confirm_link(message: email.message.EmailMessage, path: str = "/bekrafta/") -> str:
    match = re.search(rf"http://127\.0\.0\.1:8000({re.escape(path)}\S+)", body(message))
    assert match, body(message)
    return match.group(1)


def _confirm_token(workspace: Workspace, sub_id: int, key: str) -> str:
    with session_scope(workspace) as s:
        return subscribers.confirm_token(key, s.get(Subscriber, sub_id))  # type: ignore[arg-type]


def _unsubscribe_token(workspace: Workspace, sub_id: int, key: str) -> str:
    with session_scope(workspace) as s:
        return subscribers.unsubscribe_token(key, s.get(Subscriber, sub_id))  # type: ignore[arg-type]


# --- subscribe -------------------------------------------------------------------------------


def test_subscribe_page_is_swedish_with_labels_csrf_segments_and_privacy(
    workspace: Workspace,
) -> None:
    workspace.settings.subscribers.segments = {"kommun": "Kommun eller region", "skola": "Skola"}
    workspace.settings.web.privacy_url = "https://example.org/integritet"
    workspace.settings.newsletter.contact_address = "redaktionen@example.org"
    client = create_app(workspace).test_client()
    for path in ("/", "/prenumerera"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert '<html lang="sv">' in html
        for field in ("email", "name", "organisation", "language"):
            assert f'<label for="{field}">' in html
        assert html.count('type="checkbox" name="segment"') == 2
        assert "Skola" in html and "Civilsamhälle" not in html
        assert 'href="https://example.org/integritet"' in html
        assert "mailto:redaktionen@example.org" in html
        assert csrf_from(html)
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    # Error pages carry the same footer.
    missing = client.get("/finns-inte").get_data(as_text=True)
    assert "https://example.org/integritet" in missing and "redaktionen@example.org" in missing


def test_subscribe_queues_then_confirm_by_post_then_welcome(
    client: FlaskClient, workspace: Workspace
) -> None:
    """Finding 1: only the POST confirms; GET and HEAD (link scanners, curl -I) never do."""
    workspace.settings.web.privacy_url = "https://example.org/integritet"
    workspace.settings.newsletter.contact_address = "redaktionen@example.org"
    response = post_form(
        client,
        email="Anna.Berg@Example.se",
        name="Anna Berg",
        organisation="Sala kommun",
        segment=["kommun", "civilsamhälle"],
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/prenumerera/tack")
    assert outbox(workspace) == [] and subscriber(workspace, "anna.berg@example.se") is None
    assert deliver(workspace).sent == 1
    row = subscriber(workspace, "anna.berg@example.se")
    assert row is not None and row.status == "pending"
    assert (row.name, row.organisation, row.segments, row.language) == (
        "Anna Berg",
        "Sala kommun",
        ["civilsamhälle", "kommun"],
        "sv",
    )
    [message] = outbox(workspace)
    assert message["To"].addresses[0].addr_spec == "anna.berg@example.se"
    assert "List-Unsubscribe" not in message
    text = body(message)
    assert "Hej Anna Berg!" in text and "Bekräfta prenumerationen" in text
    assert "redaktionen@example.org" in text and "https://example.org/integritet" in text
    link = confirm_link(message)

    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Bekräfta prenumerationen</button>" in html
    assert f'action="{link}"' in html and "csrf_token" not in html
    assert client.head(link).status_code == 200
    assert status_of(workspace, "anna.berg@example.se") == "pending"

    bare = create_app(workspace).test_client(use_cookies=False)  # no session, no CSRF token
    confirmed = bare.post(link)
    assert confirmed.status_code == 200 and "bekräftad" in confirmed.get_data(as_text=True)
    assert status_of(workspace, "anna.berg@example.se") == "confirmed"
    assert bare.post(link).status_code == 200  # again: harmless, nothing new recorded
    assert "redan bekräftad" in client.get(link).get_data(as_text=True)
    assert actions(workspace) == ["added", "confirmed"]

    assert deliver(workspace).sent == 1
    welcome = outbox(workspace)[-1]
    assert welcome["Subject"].startswith("Välkommen")
    assert re.search(r"http://127\.0\.0\.1:8000/u/\S+", body(welcome))
    assert "https://example.org/integritet" in body(welcome)
    assert welcome["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
    assert deliver(workspace).sent == 0  # exactly one welcome


def test_the_english_subscriber_gets_english_mails(
    client: FlaskClient, workspace: Workspace
) -> None:
    post_form(client, email="en@example.se", name="Jo", language="en")
    deliver(workspace)
    [confirmation] = outbox(workspace)
    assert confirmation["Subject"].startswith("Confirm your subscription")
    assert "Hello Jo," in body(confirmation)
    client.post(confirm_link(confirmation))
    deliver(workspace)
    assert outbox(workspace)[-1]["Subject"].startswith("Welcome to")


def test_the_old_confirm_path_still_works_by_post_only(
    client: FlaskClient, workspace: Workspace, app: Flask
) -> None:
    sub_id = make(workspace, "old@example.se", "pending")
    token = _confirm_token(workspace, sub_id, app.extensions["outreach"].key)
    assert "Bekräfta prenumerationen</button>" in client.get(f"/confirm/{token}").get_data(
        as_text=True
    )
    assert status_of(workspace, "old@example.se") == "pending"
    assert client.post(f"/confirm/{token}").status_code == 200
    assert status_of(workspace, "old@example.se") == "confirmed"


def test_every_address_gets_the_same_answer_and_the_request_never_touches_smtp(
    client: FlaskClient, workspace: Workspace
) -> None:
    """Finding 2: new, pending, confirmed and unsubscribed addresses look the same, SMTP down or
    not: the POST only records the request (one queue row each)."""
    workspace.settings.mail.transport = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    make(workspace, "known@example.se", "confirmed", name="Original")
    make(workspace, "waiting@example.se", "pending")
    make(workspace, "left@example.se", "unsubscribed")
    answers = []
    for address in ("new@example.se", "known@example.se", "waiting@example.se", "left@example.se"):
        response = post_form(client, email=address, name="Attacker")
        page = client.get(response.headers["Location"])
        answers.append((response.status_code, response.headers["Location"], page.get_data()))
    assert len(set(answers)) == 1 and answers[0][0] == 303
    with session_scope(workspace) as s:
        assert s.scalar(select(func.count()).select_from(SubscriberMail)) == 4
    assert status_of(workspace, "new@example.se") is None  # nothing decided inside the request

    workspace.settings.mail.transport = "outbox:newsletters/outbox"
    assert deliver(workspace).sent == 3
    sent_to = sorted(m["To"].addresses[0].addr_spec for m in outbox(workspace))
    assert sent_to == ["left@example.se", "new@example.se", "waiting@example.se"]
    row = subscriber(workspace, "known@example.se")
    assert row is not None and row.status == "confirmed" and row.name == "Original"
    assert status_of(workspace, "left@example.se") == "pending"


def test_a_failed_confirmation_is_retried_with_backoff_never_dropped(
    client: FlaskClient, workspace: Workspace
) -> None:
    """Finding 3: the mail server is down; the request stays queued and goes out later."""
    workspace.settings.mail.transport = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    post_form(client, email="later@example.se")
    report = deliver(workspace)
    assert (report.sent, report.failed) == (0, 1)
    with session_scope(workspace) as s:
        row = s.scalars(select(SubscriberMail)).one()
        assert (row.status, row.attempts) == ("queued", 1)
        first_retry = row.next_attempt_at
    assert first_retry > utcnow()
    # A retry of the form meanwhile queues nothing new to send (the first one is still owed).
    post_form(client, email="later@example.se")
    assert deliver(workspace).failed == 0  # not due yet
    report = deliver(workspace, now=first_retry + dt.timedelta(seconds=1))
    assert report.failed == 1
    with session_scope(workspace) as s:
        rows = s.scalars(select(SubscriberMail).order_by(SubscriberMail.id)).all()
        assert [(r.status, r.attempts) for r in rows] == [("queued", 2), ("skipped", 0)]
        assert rows[0].next_attempt_at - first_retry > dt.timedelta(minutes=1)  # backed off
        second_retry = rows[0].next_attempt_at
    workspace.settings.mail.transport = "outbox:newsletters/outbox"
    assert deliver(workspace, now=second_retry + dt.timedelta(seconds=1)).sent == 1
    assert [m["To"].addresses[0].addr_spec for m in outbox(workspace)] == ["later@example.se"]


def test_subscribe_again_while_pending_resends_at_most_every_ten_minutes(
    client: FlaskClient, workspace: Workspace
) -> None:
    post_form(client, email="twice@example.se", name="Först")
    deliver(workspace)
    post_form(client, email="twice@example.se", name="Sedan")
    deliver(workspace)
    assert len(outbox(workspace)) == 1
    with session_scope(workspace) as s:
        s.execute(
            update(SubscriberMail)
            .where(SubscriberMail.status == "sent")
            .values(finished_at=utcnow() - dt.timedelta(minutes=11))
        )
    post_form(client, email="twice@example.se", name="Sedan")
    assert deliver(workspace).sent == 1
    with session_scope(workspace) as s:
        rows = s.scalars(select(Subscriber).where(Subscriber.email == "twice@example.se")).all()
    assert len(rows) == 1 and rows[0].name == "Först" and rows[0].status == "pending"
    assert len(outbox(workspace)) == 2


def test_rate_limits_per_client_and_per_address_give_a_swedish_429(workspace: Workspace) -> None:
    """Finding 4: one client cannot make the site mail hundreds of addresses."""
    workspace.settings.subscribers.subscribe_limit_per_client = "3 per minute"
    workspace.settings.subscribers.subscribe_limit_per_address = "2 per hour"
    client = create_app(workspace).test_client()
    for i in range(3):
        assert post_form(client, email=f"n{i}@example.se").status_code == 303
    refused = post_form(client, email="n3@example.se")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "För många förfrågningar" in html
    assert int(refused.headers["Retry-After"]) > 0 and '<html lang="sv">' in html
    # Per address: other clients (other IPs) asking for the same address.
    for i, expected in enumerate((303, 303, 429)):
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        assert post_form(client, email="target@example.se").status_code == expected
    client.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert post_form(client, email="someone.else@example.se").status_code == 303


def test_a_forged_post_does_not_use_up_an_address_limit(workspace: Workspace) -> None:
    workspace.settings.subscribers.subscribe_limit_per_address = "1 per hour"
    client = create_app(workspace).test_client()
    for _ in range(3):
        assert client.post("/prenumerera", data={"email": "v@example.se"}).status_code == 400
    assert post_form(client, email="v@example.se").status_code == 303


def test_bad_rate_limit_setting_is_one_line_error(workspace: Workspace) -> None:
    from outreach.errors import ConfigError

    workspace.settings.subscribers.subscribe_limit_per_client = "många"
    with pytest.raises(ConfigError, match="subscribe_limit_per_client"):
        create_app(workspace)


def test_control_characters_are_stripped_from_the_form(
    client: FlaskClient, workspace: Workspace
) -> None:
    """Finding 5: escape sequences and NUL never reach the database."""
    post_form(
        client,
        email="ctl@example.se",
        name="Anna\x1b]0;pwned\x07\x1b[2J\x00 Berg\x9b",
        organisation="Org\u0085\r\nAB",
    )
    deliver(workspace)
    row = subscriber(workspace, "ctl@example.se")
    assert row is not None
    assert row.name == "Anna]0;pwned[2J Berg" and row.organisation == "Org AB"


def test_unsubscribed_address_can_sign_up_again_through_confirmation(
    client: FlaskClient, workspace: Workspace
) -> None:
    make(workspace, "back@example.se", "unsubscribed")
    assert post_form(client, email="back@example.se").status_code == 303
    deliver(workspace)
    assert status_of(workspace, "back@example.se") == "pending"
    assert len(outbox(workspace)) == 1


def test_subscribe_without_or_with_forged_csrf_is_rejected(
    client: FlaskClient, app: Flask, workspace: Workspace
) -> None:
    data = {"email": "csrf@example.se", "language": "sv"}
    assert client.post("/prenumerera", data=data).status_code == 400
    client.get("/prenumerera")  # has a session now, but no token in the form
    assert client.post("/prenumerera", data=data).status_code == 400
    forged = csrf_from(client.get("/prenumerera").get_data(as_text=True))[:-2] + "xx"
    response = client.post("/prenumerera", data={**data, "csrf_token": forged})
    assert response.status_code == 400
    assert "Ladda om sidan" in response.get_data(as_text=True)
    other = app.test_client()
    foreign = csrf_from(other.get("/prenumerera").get_data(as_text=True))
    fresh = app.test_client()
    assert fresh.post("/prenumerera", data={**data, "csrf_token": foreign}).status_code == 400
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    response = client.post(
        "/prenumerera",
        data={**data, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400
    deliver(workspace)
    assert subscriber(workspace, "csrf@example.se") is None
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    response = client.post(
        "/prenumerera",
        data={**data, "csrf_token": token},
        headers={"Origin": workspace.settings.newsletter.public_url},
    )
    assert response.status_code == 303
    deliver(workspace)
    assert len(outbox(workspace)) == 1


def test_honeypot_looks_like_success_and_does_nothing(
    client: FlaskClient, workspace: Workspace
) -> None:
    response = post_form(client, email="bot@example.se", webbplats="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/prenumerera/tack"
    )
    deliver(workspace)
    assert subscriber(workspace, "bot@example.se") is None
    assert outbox(workspace) == []


def test_invalid_input_rerenders_with_swedish_errors_and_escaped_values(
    client: FlaskClient, workspace: Workspace
) -> None:
    response = post_form(client, email="inte en adress", name=XSS, segment="hemligt")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Skriv en giltig e-postadress" in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="email-error"' in html
    assert "Välj bland alternativen" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    with session_scope(workspace) as s:
        assert s.scalar(select(func.count()).select_from(SubscriberMail)) == 0


# --- confirm ---------------------------------------------------------------------------------


def test_confirm_with_tampered_foreign_or_wrong_purpose_token_changes_nothing(
    client: FlaskClient, workspace: Workspace, app: Flask
) -> None:
    key = app.extensions["outreach"].key
    sub_id = make(workspace, "p@example.se", "pending")
    good = _confirm_token(workspace, sub_id, key)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for token in (
        tampered,
        _confirm_token(workspace, sub_id, OTHER_KEY),
        _unsubscribe_token(workspace, sub_id, key),
        "x",
    ):
        for response in (client.get(f"/bekrafta/{token}"), client.post(f"/bekrafta/{token}")):
            assert response.status_code == 400
            assert "Ogiltig länk" in response.get_data(as_text=True)
    assert status_of(workspace, "p@example.se") == "pending"


def test_expired_confirmation_link_is_refused(
    client: FlaskClient, workspace: Workspace, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = app.extensions["outreach"].key
    sub_id = make(workspace, "late@example.se", "pending")
    hours = workspace.settings.web.confirm_link_hours
    past = time.time() - (hours + 1) * 3600
    with monkeypatch.context() as m:
        m.setattr("itsdangerous.timed.time.time", lambda: past)
        token = _confirm_token(workspace, sub_id, key)
    response = client.post(f"/bekrafta/{token}")
    assert response.status_code == 400
    assert "Länken har gått ut" in response.get_data(as_text=True)
    assert status_of(workspace, "late@example.se") == "pending"


def test_confirm_pages_escape_the_name(
    client: FlaskClient, workspace: Workspace, app: Flask
) -> None:
    sub_id = make(workspace, "xss@example.se", "pending", name=XSS)
    link = f"/bekrafta/{_confirm_token(workspace, sub_id, app.extensions['outreach'].key)}"
    for html in (client.get(link).get_data(as_text=True), client.post(link).get_data(as_text=True)):
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


# --- preference page and unsubscribe (RFC 8058) ----------------------------------------------


def test_unsubscribe_get_changes_nothing_and_post_one_click_works(
    app: Flask, workspace: Workspace
) -> None:
    key = app.extensions["outreach"].key
    sub_id = make(workspace, "u@example.se", "confirmed", name=XSS)
    token = _unsubscribe_token(workspace, sub_id, key)
    client = app.test_client()
    page = client.get(f"/u/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "u…@example.se" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert client.head(f"/u/{token}").status_code == 200
    assert status_of(workspace, "u@example.se") == "confirmed"

    bare = app.test_client(use_cookies=False)
    response = bare.post(
        f"/u/{token}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert status_of(workspace, "u@example.se") == "unsubscribed"
    again = bare.post(
        f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert again.status_code == 200 and "Location" not in again.headers
    with session_scope(workspace) as s:
        events = s.scalars(select(ConsentEvent).where(ConsentEvent.action == "unsubscribed")).all()
    assert [e.source for e in events] == ["web:one-click"]
    after = client.get(f"/u/{token}").get_data(as_text=True)
    assert "Avsluta prenumerationen</button>" not in after
    assert "Prenumerera igen</button>" in after


def test_preference_page_changes_segments_and_language_and_resubscribes(
    workspace: Workspace,
) -> None:
    """Finding 12: several segments, language, and a way back; each change a consent event."""
    workspace.settings.web.privacy_url = "https://example.org/integritet"
    app = create_app(workspace)
    key = app.extensions["outreach"].key
    sub_id = make(workspace, "pref@example.se", "confirmed")
    token = _unsubscribe_token(workspace, sub_id, key)
    client = app.test_client(use_cookies=False)
    html = client.get(f"/u/{token}").get_data(as_text=True)
    assert html.count('type="checkbox" name="segment"') == 3
    assert "https://example.org/integritet" in html
    saved = client.post(
        f"/u/{token}",
        data={"action": "spara", "segment": ["kommun", "annat"], "language": "en"},
    )
    assert saved.status_code == 200 and "Dina ändringar är sparade" in saved.get_data(as_text=True)
    row = subscriber(workspace, "pref@example.se")
    assert row is not None
    assert (row.segments, row.language, row.status) == (["annat", "kommun"], "en", "confirmed")
    page = client.get(f"/u/{token}").get_data(as_text=True)
    assert 'value="kommun" checked' in page and 'value="civilsamhälle" checked' not in page
    # Saving the same again records nothing; a foreign segment changes nothing.
    client.post(
        f"/u/{token}", data={"action": "spara", "segment": ["kommun", "annat"], "language": "en"}
    )
    bad = client.post(
        f"/u/{token}", data={"action": "spara", "segment": ["hemligt"], "language": "sv"}
    )
    assert bad.status_code == 400
    client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click", "via": "sidan"})
    assert status_of(workspace, "pref@example.se") == "unsubscribed"
    back = client.post(f"/u/{token}", data={"action": "prenumerera-igen"})
    assert back.status_code == 200 and "Avsluta prenumerationen</button>" in back.get_data(
        as_text=True
    )
    assert status_of(workspace, "pref@example.se") == "confirmed"
    assert actions(workspace) == ["confirmed", "segments", "language", "unsubscribed", "confirmed"]
    with session_scope(workspace) as s:
        details = s.scalars(select(ConsentEvent.detail).order_by(ConsentEvent.id)).all()
    assert details[1:3] == ["annat, kommun", "en"]


def test_unsubscribe_with_tampered_or_foreign_token_is_4xx_and_changes_nothing(
    client: FlaskClient, workspace: Workspace, app: Flask
) -> None:
    key = app.extensions["outreach"].key
    victim = make(workspace, "victim@example.se", "confirmed")
    good = _unsubscribe_token(workspace, victim, key)
    for token in (
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        _unsubscribe_token(workspace, victim, OTHER_KEY),
        _confirm_token(workspace, victim, key),
    ):
        for data in ({"List-Unsubscribe": "One-Click"}, {"action": "spara", "segment": "annat"}):
            assert client.post(f"/u/{token}", data=data).status_code == 400
    assert status_of(workspace, "victim@example.se") == "confirmed"
    assert subscriber(workspace, "victim@example.se").segments == []  # type: ignore[union-attr]


def test_a_broken_mail_template_fails_the_round_and_keeps_the_mail(
    client: FlaskClient, workspace: Workspace
) -> None:
    (workspace.templates_dir / "confirmation.sv.txt").write_text(
        "Subject: Hej ${okänd}\n\n${link}\n", encoding="utf-8"
    )
    post_form(client, email="tpl@example.se")
    with pytest.raises(MailError, match="unknown placeholder"):
        deliver(workspace)
    with session_scope(workspace) as s:
        assert s.scalars(select(SubscriberMail.status)).one() == "queued"
