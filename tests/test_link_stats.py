"""Link statistics without tracking people: /l/<edition>/<n> counts clicks per edition and link,
redirects only to links the edition published, and nothing in the URL or the database names a
subscriber."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from outreach.cli import cli
from outreach.db import session_scope
from outreach.mail import send
from outreach.models import EditionLink
from outreach.newsletter import compose, content
from outreach.newsletter.links import rewrite_links
from outreach.subscribers.store import add_subscriber
from outreach.timeutil import zone
from outreach.web import create_app
from outreach.workspace import Workspace, init_workspace, open_workspace

from .conftest import REPO

SLUG = "2023-04-26"
BASE = "https://kraftsamling.se/l/2023-04-26/"
HREF = re.compile(r'<a\b[^>]*?\shref="([^"]*)"')


def test_rewrite_links_is_pure_and_keeps_personal_and_non_link_urls() -> None:
    html_in = (
        '<link href="https://fonts.example/css?family=Inter" rel="stylesheet">'
        '<a class="b" href="https://vinnova.example/utlysning?id=7&amp;lang=sv">Utlysning</a>'
        '<a href="mailto:info@kraftsamling.se">Mejla</a>'
        '<a href="https://ai.example/">AI</a>'
        '<a href="@@unsubscribe_url@@">Avregistrera</a>'
        '<img src="https://ai.example/logo.png" alt="">'
    )
    text_in = (
        "Läs mer (https://vinnova.example/utlysning?id=7&lang=sv).\n"
        "Ny länk: https://region.example/evenemang, anmäl dig!\n"
        "Avregistrera: @@unsubscribe_url@@\n"
    )
    html_out, text_out, links = rewrite_links(html_in, text_in, BASE)
    assert links == (
        "https://vinnova.example/utlysning?id=7&lang=sv",
        "https://ai.example/",
        "https://region.example/evenemang",
    )
    assert HREF.findall(html_out) == [
        BASE + "1",
        "mailto:info@kraftsamling.se",
        BASE + "2",
        "@@unsubscribe_url@@",
    ]
    assert 'href="https://fonts.example/css?family=Inter"' in html_out  # a stylesheet, not a link
    assert 'src="https://ai.example/logo.png"' in html_out  # no open pixel, images untouched
    assert text_out == (
        f"Läs mer ({BASE}1).\nNy länk: {BASE}3, anmäl dig!\nAvregistrera: @@unsubscribe_url@@\n"
    )
    # A second language continues the numbering; a link it shares keeps its number.
    _, en_text, more = rewrite_links(
        "", "https://ai.example/ and https://new.example/x", BASE, links
    )
    assert en_text == f"{BASE}2 and {BASE}4"
    assert more == (*links, "https://new.example/x")


@pytest.fixture
def stats_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("OUTREACH_NEWSLETTER_CLICK_STATS", "true")
    monkeypatch.setenv("OUTREACH_NEWSLETTER_PUBLIC_URL", "https://kraftsamling.se")
    root = tmp_path / "ws"
    init_workspace(root)
    (root / "newsletters" / SLUG).mkdir(parents=True)
    (root / "newsletters" / SLUG / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    # An English intro, so the edition has an English version whose links are rewritten too.
    (root / "newsletters" / SLUG / "intro.en.md").write_text(
        "The last issue of the year, with [our calendar](https://kraftsamling.se/kalender).\n",
        encoding="utf-8",
    )
    workspace = open_workspace(root)
    with session_scope(workspace) as session:
        content.import_content(
            session, REPO / "newsletters" / "sample-content.yaml", zone("Europe/Stockholm")
        )
        add_subscriber(session, "anna@kommun.example", name="Anna Berg", confirmed=True)
        add_subscriber(
            session, "erik@region.example", name="Erik Lund", language="en", confirmed=True
        )
        compose.compose_edition(session, workspace, SLUG)
    return workspace


def stored_links(workspace: Workspace) -> list[str]:
    with session_scope(workspace) as session:
        rows = session.scalars(
            select(EditionLink)
            .where(EditionLink.edition_slug == SLUG)
            .order_by(EditionLink.position)
        )
        return [row.url for row in rows]


def test_compose_counts_mail_links_and_the_route_redirects_only_to_them(
    stats_workspace: Workspace,
) -> None:
    workspace = stats_workspace
    folder = workspace.newsletters_dir / SLUG
    links = stored_links(workspace)
    assert len(links) >= 3 and all(url.startswith("http") for url in links)
    mail_html = (folder / "email.html").read_text(encoding="utf-8")
    hrefs = HREF.findall(mail_html)
    assert any(h.startswith(BASE) for h in hrefs)
    assert all(
        h.startswith(BASE) or h.startswith("mailto:") or h == "@@unsubscribe_url@@" for h in hrefs
    ), hrefs
    assert BASE in (folder / "email.txt").read_text(encoding="utf-8")
    assert BASE in (folder / "email.en.html").read_text(encoding="utf-8")
    # The archive page is a web page, not a mail: its links are the originals.
    assert "/l/" not in (folder / "index.html").read_text(encoding="utf-8")

    client = create_app(workspace).test_client()
    first = client.get(f"/l/{SLUG}/1")
    assert first.status_code == 302 and first.headers["Location"] == links[0]
    assert first.headers["Cache-Control"] == "no-store"
    assert client.get(f"/l/{SLUG}/1").status_code == 302
    assert client.head(f"/l/{SLUG}/2").status_code == 302  # a link checker: not a click
    for bad in (f"/l/{SLUG}/0", f"/l/{SLUG}/{len(links) + 1}", "/l/2099-01-01/1", f"/l/{SLUG}/x"):
        response = client.get(bad)
        assert response.status_code == 404 and "Location" not in response.headers, bad
    with session_scope(workspace) as session:
        clicks = dict(session.execute(select(EditionLink.position, EditionLink.clicks)).all())
    assert clicks[1] == 2 and clicks[2] == 0

    status = CliRunner().invoke(cli, ["-w", str(workspace.root), "newsletter", "status", SLUG])
    assert status.exit_code == 0, status.output
    assert "clicks per link (2 in all):" in status.output
    assert f"        2   1. {links[0]}" in status.output


def test_sent_messages_carry_the_same_links_for_everyone(stats_workspace: Workspace) -> None:
    workspace = stats_workspace
    send.send_edition(workspace, SLUG)
    outbox = sorted((workspace.root / "newsletters" / "outbox").glob("*.eml"))
    counted = []
    for path in outbox:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        counted.append({h for h in HREF.findall(body) if h.startswith(BASE)})
    assert len(counted) == 2 and counted[0] and counted[1]
    # No subscriber in any counted URL: Anna's Swedish and Erik's English mail share the numbers.
    assert all(re.fullmatch(re.escape(BASE) + r"\d+", url) for urls in counted for url in urls)
    assert counted[0] & counted[1]


def test_off_by_default_and_recompose_clears_links(
    stats_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stored_links(stats_workspace)
    monkeypatch.setenv("OUTREACH_NEWSLETTER_CLICK_STATS", "false")
    workspace = open_workspace(stats_workspace.root)
    with session_scope(workspace) as session:
        compose.compose_edition(session, workspace, SLUG)
    assert stored_links(workspace) == []
    assert "/l/" not in (workspace.newsletters_dir / SLUG / "email.html").read_text(
        encoding="utf-8"
    )
