"""The web app through Flask's test client: forms, tokens, CSRF, archive, media, errors."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from outreach import tokens
from outreach.db import session_scope
from outreach.models import ConsentEvent, Edition, Episode, Subscriber
from outreach.subscribers import store as subscribers
from outreach.web import create_app
from outreach.workspace import Workspace

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
        for p in sorted(folder.glob("*.eml"))
    ]


def post_form(client: FlaskClient, **fields: str) -> Any:
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    data = {"csrf_token": token, "language": "sv", **fields}
    return client.post("/prenumerera", data=data)


def subscriber(workspace: Workspace, address: str) -> Subscriber | None:
    with session_scope(workspace) as s:
        return s.scalar(select(Subscriber).where(Subscriber.email == address))


def make(workspace: Workspace, address: str, status: str = "confirmed", name: str = "Anna") -> int:
    with session_scope(workspace) as s:
        sub = subscribers.add_subscriber(s, address, name=name, confirmed=status == "confirmed")
        if status not in ("confirmed", "pending"):
            subscribers.set_status(s, sub, status, "test")
        return sub.id


# --- subscribe -------------------------------------------------------------------------------


def test_subscribe_page_is_swedish_with_labels_and_csrf(client: FlaskClient) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="sv">' in html
    for field in ("email", "name", "organisation", "language"):
        assert f'<label for="{field}">' in html
    assert "civilsamhälle" in html and "kommun" in html
    assert csrf_from(html)
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_subscribe_creates_pending_and_mails_a_confirmation_link(
    client: FlaskClient, workspace: Workspace
) -> None:
    response = post_form(
        client,
        email="Anna.Berg@Example.se",
        name="Anna Berg",
        organisation="Sala kommun",
        segment="kommun",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/prenumerera/tack")
    row = subscriber(workspace, "anna.berg@example.se")
    assert row is not None and row.status == "pending"
    assert (row.name, row.organisation, row.segment, row.language) == (
        "Anna Berg",
        "Sala kommun",
        "kommun",
        "sv",
    )
    [message] = outbox(workspace)
    assert message["To"].addresses[0].addr_spec == "anna.berg@example.se"
    body = message.get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8000(/confirm/\S+)", body)
    assert link, body
    assert "List-Unsubscribe" not in message
    confirmed = client.get(link.group(1))
    assert confirmed.status_code == 200
    assert "bekräftad" in confirmed.get_data(as_text=True)
    assert subscriber(workspace, "anna.berg@example.se").status == "confirmed"  # type: ignore[union-attr]
    # Opening the link again is harmless and records nothing new.
    assert client.get(link.group(1)).status_code == 200
    with session_scope(workspace) as s:
        actions = s.scalars(select(ConsentEvent.action).order_by(ConsentEvent.id)).all()
    assert actions == ["added", "confirmed"]


def test_subscribe_never_reveals_whether_an_address_is_known(
    client: FlaskClient, workspace: Workspace
) -> None:
    make(workspace, "known@example.se", "confirmed", name="Original")
    new = post_form(client, email="new@example.se")
    known = post_form(client, email="known@example.se", name="Attacker")
    assert (new.status_code, new.headers["Location"]) == (
        known.status_code,
        known.headers["Location"],
    )
    assert (
        client.get(new.headers["Location"]).get_data()
        == client.get(known.headers["Location"]).get_data()
    )
    row = subscriber(workspace, "known@example.se")
    assert row is not None and row.status == "confirmed" and row.name == "Original"
    # Only the new address got a confirmation mail.
    assert [m["To"].addresses[0].addr_spec for m in outbox(workspace)] == ["new@example.se"]


def test_subscribe_again_while_pending_resends_at_most_every_ten_minutes(
    client: FlaskClient, workspace: Workspace
) -> None:
    post_form(client, email="twice@example.se", name="Först")
    post_form(client, email="twice@example.se", name="Sedan")
    assert len(outbox(workspace)) == 1
    with session_scope(workspace) as s:
        row = s.scalar(select(Subscriber).where(Subscriber.email == "twice@example.se"))
        assert row is not None
        row.updated_at = row.updated_at - dt.timedelta(minutes=11)
    post_form(client, email="twice@example.se", name="Sedan")
    with session_scope(workspace) as s:
        rows = s.scalars(select(Subscriber).where(Subscriber.email == "twice@example.se")).all()
    assert len(rows) == 1 and rows[0].name == "Först" and rows[0].status == "pending"
    assert len(outbox(workspace)) == 2


def test_unsubscribed_address_can_sign_up_again_through_confirmation(
    client: FlaskClient, workspace: Workspace
) -> None:
    make(workspace, "back@example.se", "unsubscribed")
    assert post_form(client, email="back@example.se").status_code == 303
    assert subscriber(workspace, "back@example.se").status == "pending"  # type: ignore[union-attr]
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
    # A valid token from another browser (another session) does not work here.
    other = app.test_client()
    foreign = csrf_from(other.get("/prenumerera").get_data(as_text=True))
    fresh = app.test_client()
    assert fresh.post("/prenumerera", data={**data, "csrf_token": foreign}).status_code == 400
    # A cross-site Origin is refused even with a valid token.
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    response = client.post(
        "/prenumerera",
        data={**data, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400
    assert subscriber(workspace, "csrf@example.se") is None
    # The public address (behind a proxy that forwards another Host) is our own origin.
    token = csrf_from(client.get("/prenumerera").get_data(as_text=True))
    response = client.post(
        "/prenumerera",
        data={**data, "csrf_token": token},
        headers={"Origin": workspace.settings.newsletter.public_url},
    )
    assert response.status_code == 303
    assert len(outbox(workspace)) == 1


def test_honeypot_looks_like_success_and_does_nothing(
    client: FlaskClient, workspace: Workspace
) -> None:
    response = post_form(client, email="bot@example.se", webbplats="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/prenumerera/tack"
    )
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
    assert "Välj ett av alternativen" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    with session_scope(workspace) as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0


# --- confirm ---------------------------------------------------------------------------------


def _confirm_token(workspace: Workspace, sub_id: int, key: str) -> str:
    with session_scope(workspace) as s:
        return subscribers.confirm_token(key, s.get(Subscriber, sub_id))  # type: ignore[arg-type]


def _unsubscribe_token(workspace: Workspace, sub_id: int, key: str) -> str:
    with session_scope(workspace) as s:
        return subscribers.unsubscribe_token(key, s.get(Subscriber, sub_id))  # type: ignore[arg-type]


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
        response = client.get(f"/confirm/{token}")
        assert response.status_code == 400
        assert "Ogiltig länk" in response.get_data(as_text=True)
    assert subscriber(workspace, "p@example.se").status == "pending"  # type: ignore[union-attr]


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
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 400
    assert "Länken har gått ut" in response.get_data(as_text=True)
    assert subscriber(workspace, "late@example.se").status == "pending"  # type: ignore[union-attr]


def test_confirmed_page_escapes_the_name(
    client: FlaskClient, workspace: Workspace, app: Flask
) -> None:
    sub_id = make(workspace, "xss@example.se", "pending", name=XSS)
    html = client.get(
        f"/confirm/{_confirm_token(workspace, sub_id, app.extensions['outreach'].key)}"
    ).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


# --- unsubscribe (RFC 8058) -----------------------------------------------------------------


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
    assert subscriber(workspace, "u@example.se").status == "confirmed"  # type: ignore[union-attr]

    # A mail provider's one-click POST: no cookie, no CSRF token, urlencoded.
    bare = app.test_client(use_cookies=False)
    response = bare.post(
        f"/u/{token}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert subscriber(workspace, "u@example.se").status == "unsubscribed"  # type: ignore[union-attr]
    # Idempotent, and multipart works too.
    again = bare.post(
        f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert again.status_code == 200 and "Location" not in again.headers
    with session_scope(workspace) as s:
        events = s.scalars(select(ConsentEvent).where(ConsentEvent.action == "unsubscribed")).all()
    assert [e.source for e in events] == ["web:one-click"]
    # After unsubscribing the page says so and offers no button.
    assert "Avsluta prenumerationen</button>" not in client.get(f"/u/{token}").get_data(
        as_text=True
    )


def test_unsubscribe_with_tampered_or_foreign_token_is_4xx_and_changes_nothing(
    app: Flask, workspace: Workspace
) -> None:
    key = app.extensions["outreach"].key
    victim = make(workspace, "victim@example.se")
    good = _unsubscribe_token(workspace, victim, key)
    bad_tokens = [
        good[:-2] + ("zz" if not good.endswith("zz") else "yy"),
        _unsubscribe_token(workspace, victim, OTHER_KEY),
        _confirm_token(workspace, victim, key),
        tokens.make_permanent_token(key, tokens.UNSUBSCRIBE, [victim, "0" * 16]),
        tokens.make_permanent_token(key, tokens.UNSUBSCRIBE, [victim + 99, "0" * 16]),
    ]
    client = app.test_client(use_cookies=False)
    for token in bad_tokens:
        for method in ("get", "post"):
            response = getattr(client, method)(
                f"/u/{token}", data={"List-Unsubscribe": "One-Click"}
            )
            assert 400 <= response.status_code < 500, (token, method)
    assert subscriber(workspace, "victim@example.se").status == "confirmed"  # type: ignore[union-attr]


# --- archive ---------------------------------------------------------------------------------


def _edition(workspace: Workspace, slug: str, status: str, subject: str) -> None:
    with session_scope(workspace) as s:
        s.add(
            Edition(
                slug=slug,
                edition_date=dt.date.fromisoformat(slug[:10]),
                subject=subject,
                status=status,
            )
        )
    folder = workspace.newsletters_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        f'<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>{subject}</title></head>'
        f"<body><main><h1>{subject}</h1></main></body></html>",
        encoding="utf-8",
    )


def test_archive_lists_only_sent_editions_and_serves_their_page(
    client: FlaskClient, workspace: Workspace
) -> None:
    _edition(workspace, "2023-04-26", "sent", "Aprilnumret")
    _edition(workspace, "2023-05-24", "composed", "Majnumret")
    _edition(workspace, "2023-03-29", "sent", "Mars <b>fet</b>")
    html = client.get("/nyhetsbrev/").get_data(as_text=True)
    assert "Aprilnumret" in html and "26 april 2023" in html
    assert "Majnumret" not in html
    assert html.index("Aprilnumret") < html.index("Mars")
    assert "Mars &lt;b&gt;fet&lt;/b&gt;" in html
    page = client.get("/nyhetsbrev/2023-04-26/")
    assert page.status_code == 200 and b"<h1>Aprilnumret</h1>" in page.data
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/nyhetsbrev/2023-05-24/").status_code == 404
    for bad in (
        "/nyhetsbrev/..%2F..%2Foutreach.toml/",
        "/nyhetsbrev/nope/",
        "/nyhetsbrev/.hidden/",
    ):
        assert client.get(bad).status_code == 404


# --- feeds and media -------------------------------------------------------------------------


@pytest.fixture
def media(workspace: Workspace) -> dict[str, Path]:
    """A published and a draft episode with audio, transcripts, chapters and a source file."""
    files: dict[str, Path] = {}
    for slug, status in (("avsnitt-1", "published"), ("utkast", "draft")):
        folder = workspace.episodes_dir / slug
        folder.mkdir(parents=True)
        audio = folder / f"{slug}.mp3"
        audio.write_bytes(bytes(range(256)) * 40)  # 10240 bytes
        (folder / f"{slug}.vtt").write_text(
            "WEBVTT\n\n00:00.000 --> 00:01.000\nHej\n", encoding="utf-8"
        )
        (folder / f"{slug}.srt").write_text(
            "1\n00:00:00,000 --> 00:00:01,000\nHej\n", encoding="utf-8"
        )
        (folder / "chapters.json").write_text(
            '{"version": "1.2.0", "chapters": []}', encoding="utf-8"
        )
        (folder / "source.wav").write_bytes(b"RIFF....WAVE")
        with session_scope(workspace) as s:
            s.add(
                Episode(
                    guid=str(uuid.uuid4()),
                    slug=slug,
                    title=slug,
                    status=status,
                    audio=f"episodes/{slug}/{slug}.mp3",
                    chapters=f"episodes/{slug}/chapters.json",
                )
            )
        files[slug] = audio
    (workspace.feeds_dir / "podcast.xml").write_text("<rss/>", encoding="utf-8")
    (workspace.feeds_dir / "nyhetsbrev.xml").write_text(
        '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"/>', encoding="utf-8"
    )
    (workspace.feeds_dir / "events.ics").write_text(
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", encoding="utf-8"
    )
    (workspace.feeds_dir / ".secret.xml").write_text("<x/>", encoding="utf-8")
    return files


def test_media_types_cors_and_published_only(client: FlaskClient, media: dict[str, Path]) -> None:
    audio = client.get("/episodes/avsnitt-1/avsnitt-1.mp3")
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
    assert audio.data == media["avsnitt-1"].read_bytes()
    assert audio.headers["Accept-Ranges"] == "bytes"
    vtt = client.get("/episodes/avsnitt-1/avsnitt-1.vtt")
    assert vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert vtt.headers["Access-Control-Allow-Origin"] == "*"
    srt = client.get("/episodes/avsnitt-1/avsnitt-1.srt")
    assert (
        srt.mimetype == "application/x-subrip" and srt.headers["Access-Control-Allow-Origin"] == "*"
    )
    chapters = client.get("/episodes/avsnitt-1/chapters.json")
    assert chapters.mimetype == "application/json"
    assert chapters.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in audio.headers
    feed = client.get("/feeds/podcast.xml")
    assert feed.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    atom = client.get("/feeds/nyhetsbrev.xml")
    assert atom.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert client.get("/feeds/events.ics").headers["Content-Type"] == "text/calendar; charset=utf-8"
    for url in (
        "/episodes/utkast/utkast.mp3",
        "/episodes/utkast/utkast.vtt",
        "/episodes/avsnitt-1/source.wav",
        "/episodes/avsnitt-1/..%2F..%2Foutreach.toml",
        "/episodes/avsnitt-1/%2E%2E",
        "/episodes/..%2Foutreach.toml",
        "/feeds/../outreach.toml",
        "/feeds/..%2Foutreach.toml",
        "/feeds/.secret.xml",
        "/feeds/%2Fetc%2Fpasswd",
        "/episodes/nope/nope.mp3",
    ):
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 404, url
        assert "Sidan finns inte" in response.get_data(as_text=True)


def test_head_range_and_conditional_requests(client: FlaskClient, media: dict[str, Path]) -> None:
    url = "/episodes/avsnitt-1/avsnitt-1.mp3"
    size = media["avsnitt-1"].stat().st_size
    head = client.head(url)
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == size
    etag, modified = head.headers["ETag"], head.headers["Last-Modified"]

    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert part.data == media["avsnitt-1"].read_bytes()[100:200]
    tail = client.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.data == media["avsnitt-1"].read_bytes()[-16:]
    head_range = client.head(url, headers={"Range": "bytes=0-9"})
    assert head_range.status_code == 206 and head_range.headers["Content-Length"] == "10"

    bad = client.get(url, headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert bad.status_code == 416
    assert bad.headers["Content-Range"] == f"bytes */{size}"
    assert "Traceback" not in bad.get_data(as_text=True)

    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    # If-Range with a stale validator gives the whole file, not a fragment of a changed one.
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status_code == 200 and len(stale.data) == size
    feed_head = client.head("/feeds/podcast.xml")
    assert feed_head.status_code == 200 and feed_head.headers["ETag"]


# --- errors ----------------------------------------------------------------------------------


def test_error_pages_are_swedish_without_tracebacks(workspace: Workspace) -> None:
    app = create_app(workspace)

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    client = app.test_client()
    response = client.get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Något gick fel" in html and '<html lang="sv">' in html
    assert "secret internals" not in html and "Traceback" not in html
    not_found = client.get("/finns-inte")
    assert not_found.status_code == 404 and "Sidan finns inte" in not_found.get_data(as_text=True)
    method = client.post("/confirm/abc")
    assert method.status_code == 405 and "Allow" in method.headers
    assert "Metoden är inte tillåten" in method.get_data(as_text=True)


def test_app_refuses_to_start_without_a_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.errors import ConfigError

    monkeypatch.delenv("OUTREACH_SECRET_KEY")
    with pytest.raises(ConfigError, match="OUTREACH_SECRET_KEY"):
        create_app(workspace)
    assert create_app(workspace, dev_key=True).extensions["outreach"].dev_key


def test_mail_failure_gives_a_swedish_503_page(client: FlaskClient, workspace: Workspace) -> None:
    from .helpers.net import free_port

    workspace.settings.mail.transport = (
        f"smtp://127.0.0.1:{free_port()}?timeout=2"  # nobody listens
    )
    response = post_form(client, email="nomail@example.se")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "Vi kunde inte skicka bekräftelsemejlet" in html and "Traceback" not in html


def test_only_the_archive_page_of_an_edition_is_served(
    client: FlaskClient, workspace: Workspace
) -> None:
    _edition(workspace, "2023-04-26", "sent", "April")
    (workspace.newsletters_dir / "2023-04-26" / "email.html").write_text(
        "personal", encoding="utf-8"
    )
    assert client.get("/nyhetsbrev/2023-04-26/").status_code == 200
    assert client.get("/nyhetsbrev/2023-04-26/email.html").status_code == 404
    assert client.get("/nyhetsbrev/2023-04-26/intro.md").status_code == 404
