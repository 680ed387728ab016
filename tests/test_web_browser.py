"""End to end in a real browser: `outreach serve` as a process, headless Chromium, a real SMTP server.

subscribe → the confirmation mail arrives (sent by the server's queue worker) → open the link → press
"Bekräfta prenumerationen" → confirmed → the welcome mail's link opens the preference page → change
segments and language → unsubscribe → "Prenumerera igen"; the 429 page; axe-core finds no violations
on the pages; one-click POST with a plain HTTP client.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from outreach.db import session_scope
from outreach.models import ConsentEvent, Edition, Subscriber
from outreach.subscribers import store as subscribers
from outreach.workspace import Workspace

from .conftest import TEST_KEY
from .helpers.browser import axe_violations
from .helpers.fixtures import browser, live_server, smtp_sink  # noqa: F401
from .helpers.server import REPO, running_server
from .helpers.smtp import SmtpSink

pytestmark = pytest.mark.slow
NAME = 'Åsa "<script>alert(1)</script>" Öberg'


def status_of(workspace: Workspace, address: str) -> str | None:
    with session_scope(workspace) as s:
        return s.scalar(select(Subscriber.status).where(Subscriber.email == address))


def assert_accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"


def add_sent_edition(workspace: Workspace) -> None:
    with session_scope(workspace) as s:
        s.add(
            Edition(
                slug="2023-04-26",
                edition_date=dt.date(2023, 4, 26),
                subject="Kraftsamling april 2023",
                status="sent",
            )
        )
    folder = workspace.newsletters_dir / "2023-04-26"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        '<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>Kraftsamling april 2023'
        "</title></head><body><main><h1>Kraftsamling april 2023</h1><p>Utlysningar och evenemang."
        "</p></main></body></html>",
        encoding="utf-8",
    )


def test_subscribe_confirm_unsubscribe_in_a_real_browser(
    workspace: Workspace,
    smtp_sink: SmtpSink,  # noqa: F811
    live_server: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    add_sent_edition(workspace)
    page = browser
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    base = live_server
    page.goto(f"{base}/prenumerera")
    assert page.locator("html").get_attribute("lang") == "sv"
    assert_accessible(page)

    page.get_by_label("E-postadress (obligatorisk)").fill("asa.oberg@example.se")
    page.get_by_label("Namn").fill(NAME)
    page.get_by_label("Civilsamhälle").check()
    page.get_by_label("Språk för nyhetsbrevet").select_option("sv")
    page.get_by_label("Organisation").fill("Föreningen Exempel")
    page.get_by_label("Organisation").press("Enter")  # the keyboard submits the form
    page.wait_for_url(f"{base}/prenumerera/tack")
    assert "Kolla din e-post" in page.locator("h1").inner_text()
    assert_accessible(page)

    # The form only records the request; the queue's worker applies it and sends the mail, so
    # the subscriber row exists once the mail has gone (not necessarily when the page answers).
    [message] = smtp_sink.wait_for(1)
    assert status_of(workspace, "asa.oberg@example.se") == "pending"
    assert message["To"].addresses[0].addr_spec == "asa.oberg@example.se"
    body = message.get_body(("plain",)).get_content()
    match = re.search(rf"{re.escape(base)}/bekrafta/\S+", body)
    assert match, body

    page.goto(match.group(0))
    assert page.locator("h1").inner_text() == "Bekräfta prenumerationen"
    assert_accessible(page)
    assert status_of(workspace, "asa.oberg@example.se") == "pending"  # opening changed nothing
    page.get_by_role("button", name="Bekräfta prenumerationen").click()
    page.wait_for_load_state()
    heading = page.locator("h1").inner_text()
    assert "prenumerationen är bekräftad" in heading
    assert "<script>alert(1)</script>" in heading  # shown as text, not run
    assert_accessible(page)
    assert status_of(workspace, "asa.oberg@example.se") == "confirmed"

    welcome = smtp_sink.wait_for(2)[1]
    assert welcome["Subject"].startswith("Välkommen")
    match = re.search(rf"{re.escape(base)}/u/\S+", welcome.get_body(("plain",)).get_content())
    assert match
    preferences_url = match.group(0)
    page.goto(preferences_url)
    assert page.get_by_label("Civilsamhälle").is_checked()
    assert_accessible(page)
    page.get_by_label("Kommun eller region").check()
    page.get_by_label("Språk för nyhetsbrevet").select_option("en")
    page.get_by_role("button", name="Spara inställningarna").click()
    page.get_by_text("Dina ändringar är sparade").wait_for()
    assert page.get_by_label("Kommun eller region").is_checked()
    assert_accessible(page)
    with session_scope(workspace) as s:
        row = s.scalar(select(Subscriber).where(Subscriber.email == "asa.oberg@example.se"))
        assert row is not None and (row.segments, row.language) == (
            ["civilsamhälle", "kommun"],
            "en",
        )
    assert status_of(workspace, "asa.oberg@example.se") == "confirmed"
    button = page.get_by_role("button", name="Avsluta prenumerationen")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.get_by_role("heading", name="Prenumerationen är avslutad").wait_for()
    assert page.url == preferences_url  # POST answered in place, no redirect
    assert_accessible(page)
    assert status_of(workspace, "asa.oberg@example.se") == "unsubscribed"
    page.get_by_role("button", name="Prenumerera igen").click()
    page.get_by_text("Dina ändringar är sparade").wait_for()
    assert_accessible(page)
    assert status_of(workspace, "asa.oberg@example.se") == "confirmed"

    page.goto(f"{base}/nyhetsbrev/")
    assert_accessible(page)
    page.get_by_role("link", name="Kraftsamling april 2023").click()
    page.wait_for_url(f"{base}/nyhetsbrev/2023-04-26/")
    assert page.locator("h1").inner_text() == "Kraftsamling april 2023"
    assert_accessible(page)

    page.goto(f"{base}/finns-inte")
    assert page.locator("h1").inner_text() == "Sidan finns inte"
    assert_accessible(page)
    assert dialogs == []
    with session_scope(workspace) as s:
        actions = s.scalars(select(ConsentEvent.action).order_by(ConsentEvent.id)).all()
    assert actions == ["added", "confirmed", "segments", "language", "unsubscribed", "confirmed"]


def test_the_rate_limit_page_is_swedish_and_accessible(
    workspace: Workspace,
    browser: Any,  # noqa: F811
) -> None:
    env = {"OUTREACH_SUBSCRIBERS_SUBSCRIBE_LIMIT_PER_CLIENT": "1 per minute"}
    with running_server(workspace.root, env=env) as base:
        page = browser
        for address in ("ett@example.se", "tva@example.se"):
            page.goto(f"{base}/prenumerera")
            page.get_by_label("E-postadress (obligatorisk)").fill(address)
            page.get_by_role("button", name="Prenumerera").click()
            page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "För många förfrågningar"
        assert page.locator("html").get_attribute("lang") == "sv"
        assert_accessible(page)


def test_one_click_unsubscribe_with_a_plain_http_client(workspace: Workspace) -> None:
    with session_scope(workspace) as s:
        first = subscribers.add_subscriber(s, "ett@example.se", confirmed=True)
        second = subscribers.add_subscriber(s, "tva@example.se", confirmed=True)
        tokens = [subscribers.unsubscribe_token(TEST_KEY, sub) for sub in (first, second)]
    with running_server(workspace.root, env={"OUTREACH_SECRET_KEY": TEST_KEY}) as base:
        session = requests.Session()
        tampered = tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")
        bad = session.post(
            f"{base}/u/{tampered}", data={"List-Unsubscribe": "One-Click"}, allow_redirects=False
        )
        assert bad.status_code == 400
        assert status_of(workspace, "ett@example.se") == "confirmed"
        # urlencoded, as RFC 8058 shows it
        response = session.post(
            f"{base}/u/{tokens[0]}", data={"List-Unsubscribe": "One-Click"}, allow_redirects=False
        )
        assert response.status_code == 200 and "Location" not in response.headers
        assert response.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert status_of(workspace, "ett@example.se") == "unsubscribed"
        again = session.post(f"{base}/u/{tokens[0]}", data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
        # multipart/form-data, as some providers send it
        response = requests.post(
            f"{base}/u/{tokens[1]}",
            files={"List-Unsubscribe": (None, "One-Click")},
            allow_redirects=False,
        )
        assert response.request.headers["Content-Type"].startswith("multipart/form-data")
        assert response.status_code == 200
        assert status_of(workspace, "tva@example.se") == "unsubscribed"


def _env_without_key() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_SECRET_KEY")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_serve_refuses_without_a_key_and_dev_uses_an_ephemeral_one(workspace: Workspace) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "outreach", "-w", str(workspace.root), "serve", "--port", "1"],
        env=_env_without_key(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "OUTREACH_SECRET_KEY" in refused.stderr and "Traceback" not in refused.stderr
    with running_server(
        workspace.root, env={"OUTREACH_SECRET_KEY": ""}, extra_args=("--dev",)
    ) as base:
        assert requests.get(f"{base}/prenumerera", timeout=10).status_code == 200


def test_wsgi_module_reads_the_workspace_from_the_environment(workspace: Workspace) -> None:
    code = (
        "from outreach.web.wsgi import app; c = app.test_client(); "
        "print(c.get('/nyhetsbrev/').status_code, app.extensions['outreach'].workspace.root)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OUTREACH_WORKSPACE": str(workspace.root)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path("/"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", str(workspace.root)]
