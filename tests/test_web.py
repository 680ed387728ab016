"""The web app through Flask's test client: archive, media, errors.

The subscriber pages (subscribe, confirm, preferences) are tested in test_web_subscribers.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import session_scope
from outreach.models import Edition, Episode
from outreach.web import create_app
from outreach.workspace import Workspace


@pytest.fixture
def app(workspace: Workspace) -> Flask:
    return create_app(workspace)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


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
    method = client.post("/nyhetsbrev/")
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
