"""HTTP semantics over a real waitress server: HEAD on every GET route, RFC 9110 Range, the
favicon, and oversized numbers in forms."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.models import Episode, Transcript
from outreach.subscribers import store as subscribers
from outreach.web import create_app
from outreach.workspace import Workspace

from .conftest import TEST_KEY, Runner
from .helpers.http import Reply, cookie_of, fetch, serving
from .helpers.review import add_review_episode
from .helpers.web import csrf_from

AUDIO_SIZE = 10240
MP3 = "/episodes/avsnitt-1/avsnitt-1.mp3"


@pytest.fixture
def site(workspace: Workspace) -> Iterator[str]:
    """A published episode and a feed, served by waitress."""
    folder = workspace.episodes_dir / "avsnitt-1"
    folder.mkdir(parents=True)
    (folder / "avsnitt-1.mp3").write_bytes(bytes(range(256)) * (AUDIO_SIZE // 256))
    (workspace.feeds_dir / "podcast.xml").write_text("<rss>" + "x" * 500 + "</rss>")
    with session_scope(workspace) as session:
        session.add(
            Episode(
                guid=str(uuid.uuid4()),
                slug="avsnitt-1",
                title="Avsnitt 1",
                status="published",
                audio="episodes/avsnitt-1/avsnitt-1.mp3",
            )
        )
    with serving(create_app(workspace)) as base:
        yield base


def _sample_url(rule: Any) -> str:
    """A URL for a route, with a made-up value for each part (a real link is tested below)."""
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "x", rule.rule)


def test_head_answers_like_get_on_every_get_route(site: str, workspace: Workspace) -> None:
    app = create_app(workspace)
    with session_scope(workspace) as session:
        sub = subscribers.add_subscriber(session, "anna@example.se", source="test")
        assert sub is not None
        unsubscribe = "/u/" + subscribers.unsubscribe_token(TEST_KEY, sub)
    urls = {_sample_url(rule) for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    urls |= {"/", "/prenumerera", "/feeds/podcast.xml", MP3, unsubscribe}
    for url in sorted(urls):
        get, head = fetch(site, "GET", url), fetch(site, "HEAD", url)
        assert head.status == get.status and head.status < 500, (url, head.status, get.status)
        assert head.body == b"", url
        assert head.headers["Content-Type"] == get.headers["Content-Type"], url
    for url in ("/", "/prenumerera", unsubscribe, "/feeds/podcast.xml", MP3):
        head = fetch(site, "HEAD", url)
        assert head.status == 200, url
    head = fetch(site, "HEAD", MP3)
    assert head.headers["Content-Length"] == str(AUDIO_SIZE) and head.headers["ETag"]


def _whole(reply: Reply) -> None:
    assert reply.status == 200 and len(reply.body) == AUDIO_SIZE
    assert "Content-Range" not in reply.headers


@pytest.mark.parametrize(
    "value",
    [
        "items=0-5",  # another unit
        "bytes=abc",  # bad syntax
        "",  # empty header
        "bytes=",
        "bytes=5-2",  # last before first: invalid, so ignored
        "bytes=0-1,2-3",  # several ranges: we send the whole file instead of multipart
        "bytes=²-5",  # not ASCII digits
        "bytes=0-" + "9" * 5000,  # beyond int()'s digit limit
    ],
)
def test_range_we_do_not_act_on_is_ignored(site: str, value: str) -> None:
    reply = fetch(site, "GET", MP3, {"Range": value})
    if value.startswith("bytes=0-9"):
        assert reply.status == 206 and len(reply.body) == AUDIO_SIZE  # to the end of the file
    else:
        _whole(reply)


def test_range_suffix_longer_than_the_file_is_the_whole_file_as_206(site: str) -> None:
    for value in ("bytes=-99999", f"bytes=-{AUDIO_SIZE}", "bytes=-" + "9" * 30):
        reply = fetch(site, "GET", MP3, {"Range": value})
        assert reply.status == 206, value
        assert reply.headers["Content-Range"] == f"bytes 0-{AUDIO_SIZE - 1}/{AUDIO_SIZE}"
        assert len(reply.body) == AUDIO_SIZE


def test_satisfiable_and_unsatisfiable_ranges(site: str) -> None:
    audio = bytes(range(256)) * (AUDIO_SIZE // 256)
    part = fetch(site, "GET", MP3, {"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == audio[100:200]
    tail = fetch(site, "GET", MP3, {"Range": "BYTES = -16"})
    assert tail.status == 206 and tail.body == audio[-16:]
    for value in (f"bytes={AUDIO_SIZE}-", "bytes=-0", "bytes=" + "9" * 40 + "-"):
        beyond = fetch(site, "GET", MP3, {"Range": value})
        assert beyond.status == 416, value
        assert beyond.headers["Content-Range"] == f"bytes */{AUDIO_SIZE}"
    feed = fetch(site, "GET", "/feeds/podcast.xml", {"Range": "items=0-5"})
    assert feed.status == 200 and feed.body.startswith(b"<rss>")


def test_favicon_is_served_and_linked(site: str) -> None:
    icon = fetch(site, "GET", "/favicon.ico")
    assert icon.status == 200 and icon.headers["Content-Type"] == "image/vnd.microsoft.icon"
    assert icon.body[:4] == b"\0\0\1\0" and len(icon.body) < 10_000  # an ICO header
    page = fetch(site, "GET", "/prenumerera").text
    assert re.search(r'<link rel="icon" href="/favicon.ico"', page)


def test_review_form_with_oversized_numbers_is_a_400(
    workspace: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_review_episode(workspace)
    with serving(create_app(workspace)) as base:
        monkeypatch.setenv("OUTREACH_NEWSLETTER_PUBLIC_URL", base)
        run("review", "request", "samtal-1")
        mail = next((workspace.root / "newsletters" / "outbox").glob("*.eml"))
        message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        token = re.search(r"/granska/(\S+)", text)
        assert token
        url = "/granska/" + token.group(1)
        page = fetch(base, "GET", url)
        fields = {"csrf_token": csrf_from(page.text), "action": "submit"}
        cookie = {"Cookie": cookie_of(page)}
        forged = [
            {"base_version": "9" * 40},
            {"base_version": str(2**63)},
            {"base_version": "²"},
            {"base_version": "1", "text-" + "9" * 40: "Hej"},
            {"base_version": "1", "text-²": "Hej"},
        ]
        for extra in forged:
            reply = fetch(base, "POST", url, cookie, {**fields, **extra})
            assert reply.status == 400, (extra, reply.status)
            assert "Formuläret innehöll något" in reply.text
    with session_scope(workspace) as session:
        assert len(session.scalars(select(Transcript)).all()) == 1  # nothing stored


def test_cli_with_an_oversized_version_is_one_line(workspace: Workspace, run: Runner) -> None:
    add_review_episode(workspace)
    result = run("transcript", "show", "samtal-1", "--version", "9" * 40, expect=1)
    assert result.stderr.strip().count("\n") == 0
    assert "has no transcript version" in result.stderr
    assert not Path(workspace.root / "x").exists()
