"""The public podcast pages through the real app (Flask test client) and `export-site`: what they
show, what they must never show (drafts, unaccepted versions, unnamed guests), their metadata, the
sitemap, the feed and newsletter links to them, and their size for a one-hour episode."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach.db import session_scope
from outreach.errors import ConfigError
from outreach.models import Edition, Episode, Person
from outreach.newsletter.compose import select_content
from outreach.podcast import privacy, transcripts
from outreach.web import create_app
from outreach.workspace import Workspace, open_workspace

from .conftest import Runner
from .helpers.review import make_segments
from .helpers.site import hour_segments, publish, speech_mp3

SHOW = "/digitalsamtal/"
CHAPTERS = '{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}, {"startTime": 6.3, "title": "Kommunerna"}]}'
LD_JSON = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
RESOURCE = re.compile(
    r'<(?:script|img|audio|track|source)\b[^>]*\bsrc="([^"]+)"|<link rel="stylesheet" href="([^"]+)"'
)


@pytest.fixture
def app(workspace: Workspace) -> Flask:
    return create_app(workspace, dev_key=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def text_of(response: object) -> str:
    assert response.status_code == 200, response.status_code  # type: ignore[attr-defined]
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


def test_episode_page_shows_the_public_episode(
    workspace: Workspace, client: FlaskClient, tmp_path: Path
) -> None:
    publish(
        workspace,
        "ai-i-kommunen",
        "AI i kommunen",
        audio=speech_mp3(tmp_path),
        number=3,
        chapters=CHAPTERS,
    )
    html = text_of(client.get(f"{SHOW}ai-i-kommunen/"))
    assert "<h1>AI i kommunen</h1>" in html and "Avsnitt 3" in html
    assert '<time datetime="2024-05-14">14 maj 2024</time>' in html
    assert "Gäst: Anna Andersson" in html and "Värd: Karin Värd" in html
    assert (
        '<audio id="player-audio" controls preload="metadata" src="/episodes/ai-i-kommunen/ai-i-kommunen.mp3">'
        in html
    )
    assert (
        '<track kind="captions" src="/episodes/ai-i-kommunen/ai-i-kommunen.vtt" srclang="sv"'
        in html
    )
    # Chapters and turn times are links into the episode that work as #t= addresses.
    assert '<a class="seek" href="#t=0:06.3"><span class="time">0:06</span> Kommunerna</a>' in html
    assert 'href="#t=0:02.2"' in html
    # The transcript is text (no markup per word) with the timings in one JSON block.
    assert "Today we talk about artificial intelligence in local government." in html
    assert 'class="word' not in html
    times = json.loads(re.search(r'id="word-times">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert [len(t) // 2 for t in times] == [len(s["words"]) for s in make_segments()]
    for suffix in ("mp3", "vtt", "srt", "txt", "html", "json"):
        assert f'href="/episodes/ai-i-kommunen/ai-i-kommunen.{suffix}" download' in html
    # Every file the page links to is served.
    for path in re.findall(r'(?:href|src)="(/episodes/[^"]+)"', html):
        assert client.get(path).status_code == 200, path
    # No resource from another host: scripts, styles, images and media are our own paths.
    for script, style in RESOURCE.findall(html):
        assert (script or style).startswith("/"), script or style


def test_metadata_canonical_open_graph_and_json_ld(
    workspace: Workspace, client: FlaskClient, tmp_path: Path
) -> None:
    publish(workspace, "ai-i-kommunen", "AI i kommunen", audio=speech_mp3(tmp_path), number=3)
    html = text_of(client.get(f"{SHOW}ai-i-kommunen/"))
    page = "https://example.org/digitalsamtal/ai-i-kommunen/"
    mp3 = "https://example.org/episodes/ai-i-kommunen/ai-i-kommunen.mp3"
    assert "<title>AI i kommunen – Digitalsamtal</title>" in html
    assert f'<link rel="canonical" href="{page}">' in html
    assert f'<meta property="og:url" content="{page}">' in html
    assert f'<meta property="og:audio" content="{mp3}">' in html
    assert '<meta property="og:image" content="https://example.org/episodes/cover.png">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert '<meta name="description" content="Ett samtal om AI i kommunen.">' in html
    assert (
        '<link rel="alternate" type="application/rss+xml" title="Digitalsamtal (RSS)" '
        'href="https://example.org/feeds/podcast.xml">'
    ) in html
    data = json.loads(LD_JSON.search(html).group(1))  # type: ignore[union-attr]
    assert data["@type"] == "PodcastEpisode" and data["url"] == page
    assert data["episodeNumber"] == 3 and data["datePublished"] == "2024-05-14"
    assert data["associatedMedia"]["contentUrl"] == mp3
    assert data["partOfSeries"]["url"] == "https://example.org/digitalsamtal/"
    assert data["actor"] == [{"@type": "Person", "name": "Anna Andersson"}]
    show = text_of(client.get(SHOW))
    series = json.loads(LD_JSON.search(show).group(1))  # type: ignore[union-attr]
    assert series["@type"] == "PodcastSeries"
    assert series["webFeed"] == "https://example.org/feeds/podcast.xml"
    assert '<link rel="canonical" href="https://example.org/digitalsamtal/">' in show


def test_a_title_cannot_break_out_of_the_json_ld_or_the_markup(
    workspace: Workspace, client: FlaskClient
) -> None:
    title = 'Hej </script><script>alert(1)</script> & "citat"'
    publish(workspace, "farlig", title, summary="<script>alert(2)</script><p>Text</p>")
    html = text_of(client.get(f"{SHOW}farlig/"))
    assert "<script>alert" not in html
    data = json.loads(LD_JSON.search(html).group(1))  # type: ignore[union-attr]
    assert data["name"] == title


def test_drafts_unaccepted_versions_and_unnamed_guests_never_appear(
    workspace: Workspace, client: FlaskClient, tmp_path: Path
) -> None:
    mp3 = speech_mp3(tmp_path)
    publish(workspace, "publicerat", "Publicerat avsnitt", audio=mp3)
    publish(workspace, "hemligt-utkast", "Hemligt utkast", audio=mp3, published=None)
    publish(workspace, "ej-granskat", "Ej granskat", audio=mp3, accept=False)
    # A guest's newer version of the published episode, not accepted yet.
    with session_scope(workspace) as s:
        episode = s.scalar(select(Episode).where(Episode.slug == "publicerat"))
        assert episode is not None
        edited = [dict(seg) for seg in make_segments()]
        edited[0]["text"] = "Ogranskad ändring."
        transcripts.create_version(s, episode, edited, author="anna@example.se")  # type: ignore[arg-type]

    show = text_of(client.get(SHOW))
    assert "Publicerat avsnitt" in show and "Ej granskat" in show
    assert "Hemligt utkast" not in show and "hemligt-utkast" not in show
    assert client.get(f"{SHOW}hemligt-utkast/").status_code == 404
    sitemap = text_of(client.get("/sitemap.xml"))
    assert "hemligt-utkast" not in sitemap and f"{SHOW}publicerat/" in sitemap

    page = text_of(client.get(f"{SHOW}publicerat/"))
    assert "Welcome to the podcast." in page and "Ogranskad ändring" not in page
    # Bo Berg did not agree to be named: his turns say "Gäst", and his name is nowhere, not even
    # in the published captions the page links to.
    assert "Bo Berg" not in page and "<strong>Gäst</strong>" in page
    assert "Anna Andersson" in page
    vtt = client.get("/episodes/publicerat/publicerat.vtt").get_data(as_text=True)
    assert "<v Gäst>" in vtt and "Bo Berg" not in vtt

    # No accepted version: the page has the player but no transcript, captions or transcript files.
    unreviewed = text_of(client.get(f"{SHOW}ej-granskat/"))
    assert "<audio" in unreviewed
    assert "Welcome to the podcast." not in unreviewed
    assert (
        "<track" not in unreviewed and ".vtt" not in unreviewed and "Transkript" not in unreviewed
    )


def test_show_page_lists_newest_first_and_pages_past_fifty(
    workspace: Workspace, client: FlaskClient
) -> None:
    start = dt.datetime(2020, 1, 1, 6, 0, tzinfo=dt.UTC)
    for n in range(1, 53):
        publish(
            workspace,
            f"avsnitt-{n}",
            f"Avsnitt nummer {n}",
            number=n,
            published=start + dt.timedelta(days=7 * n),
            segments=[],
            people=(),
        )
    first = text_of(client.get(SHOW))
    titles = re.findall(r">(?:\d+\. )?Avsnitt nummer (\d+)</a>", first)
    assert titles == [str(n) for n in range(52, 2, -1)]
    assert f'href="{SHOW}sida/2/" rel="next"' in first
    second = text_of(client.get(f"{SHOW}sida/2/"))
    assert re.findall(r">(?:\d+\. )?Avsnitt nummer (\d+)</a>", second) == ["2", "1"]
    assert f'href="{SHOW}" rel="prev"' in second
    assert client.get(f"{SHOW}sida/3/").status_code == 404
    assert client.get(f"{SHOW}sida/1/").status_code == 404
    # Previous and next on an episode page follow publication order.
    middle = text_of(client.get(f"{SHOW}avsnitt-10/"))
    assert f'href="{SHOW}avsnitt-9/" rel="prev">Föregående: Avsnitt nummer 9' in middle
    assert f'href="{SHOW}avsnitt-11/" rel="next">Nästa: Avsnitt nummer 11' in middle


def test_show_page_subscribe_links_and_navigation(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_SHOW_APPLE_PODCASTS_ID", "1234567")
    monkeypatch.setenv("OUTREACH_SHOW_LINK", "https://example.org/podd/")
    monkeypatch.setenv("OUTREACH_SHOW_HOSTS", "Karin Värd")
    monkeypatch.setenv("OUTREACH_WEB_PRIVACY_URL", "https://example.org/integritet")
    monkeypatch.setenv("OUTREACH_NEWSLETTER_CONTACT_ADDRESS", "redaktionen@example.org")
    configured = open_workspace(workspace.root)
    client = create_app(configured, dev_key=True).test_client()
    publish(configured, "ett", "Ett avsnitt")
    html = text_of(client.get("/podd/"))
    assert 'value="https://example.org/feeds/podcast.xml"' in html
    assert 'href="https://podcasts.apple.com/podcast/id1234567">Apple Podcasts</a>' in html
    assert "Spotify" not in html
    assert "Värd: Karin Värd" in html
    assert 'href="/podd/ett/"' in html
    # A public body's pages name a contact and the privacy notice, like the rest of the site.
    for page in (html, text_of(client.get("/podd/ett/"))):
        assert 'href="https://example.org/integritet"' in page
        assert 'href="mailto:redaktionen@example.org"' in page
        assert 'rel="icon" href="/favicon.ico"' in page
    assert client.get("/digitalsamtal/").status_code == 404
    # The other pages of the site link to the show page.
    assert 'href="/podd/">Digitalsamtal</a>' in text_of(client.get("/prenumerera"))


def test_sitemap_lists_show_episodes_and_newsletter_archive(
    workspace: Workspace, client: FlaskClient
) -> None:
    publish(workspace, "ett", "Ett avsnitt")
    with session_scope(workspace) as s:
        s.add(
            Edition(
                slug="2024-05-20", edition_date=dt.date(2024, 5, 20), subject="Maj", status="sent"
            )
        )
    (workspace.newsletters_dir / "2024-05-20").mkdir()
    (workspace.newsletters_dir / "2024-05-20" / "index.html").write_text("<h1>Maj</h1>")
    response = client.get("/sitemap.xml")
    assert response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    assert [loc.text for loc in root.findall("s:url/s:loc", ns)] == [
        "https://example.org/digitalsamtal/",
        "https://example.org/digitalsamtal/ett/",
        "http://127.0.0.1:8000/nyhetsbrev/",
        "http://127.0.0.1:8000/nyhetsbrev/2024-05-20/",
    ]


def test_feed_items_and_the_newsletter_link_to_the_episode_page(
    workspace: Workspace, run: Runner, tmp_path: Path
) -> None:
    publish(workspace, "ett", "Ett avsnitt", audio=speech_mp3(tmp_path))
    run("feed", "build")
    feed = ElementTree.parse(workspace.feeds_dir / "podcast.xml").getroot()
    item = feed.find("channel/item")
    assert item is not None
    assert item.findtext("link") == "https://example.org/digitalsamtal/ett/"
    with session_scope(workspace) as s:
        content = select_content(s, workspace, "2024-05-20", dt.date(2024, 5, 20))
    assert [e.url for e in content.episodes] == ["https://example.org/digitalsamtal/ett/"]


def test_export_site_writes_the_pages_serve_shows(
    workspace: Workspace, client: FlaskClient, run: Runner, tmp_path: Path
) -> None:
    publish(workspace, "ett", "Ett avsnitt", audio=speech_mp3(tmp_path), chapters=CHAPTERS)
    publish(workspace, "utkast", "Utkast", published=None)
    target = tmp_path / "site"
    run("export-site", str(target))
    for path in (SHOW, f"{SHOW}ett/"):
        assert (target / path.strip("/") / "index.html").read_bytes() == client.get(path).data
    assert (target / "sitemap.xml").read_bytes() == client.get("/sitemap.xml").data
    assert not (target / "digitalsamtal" / "utkast").exists()
    for name in ("player.js", "player.css", "podcast.css", "review.js"):
        assert (target / "static" / name).is_file()
    # Every local link of the exported episode page resolves inside the export.
    html = (target / "digitalsamtal/ett/index.html").read_text(encoding="utf-8")
    for path in re.findall(r'(?:href|src)="(/[^"#]*)"', html):
        if path in ("/prenumerera",):
            continue  # needs the app
        local = target / path.strip("/")
        assert local.is_file() or (local / "index.html").is_file(), path


def test_one_hour_episode_page_stays_small(workspace: Workspace, client: FlaskClient) -> None:
    segments = hour_segments()
    publish(workspace, "timme", "En timme", segments=segments, duration=3600)
    html = client.get(f"{SHOW}timme/").data
    assert sum(len(s["words"]) for s in segments) == 9600
    assert len(html) < 250_000, len(html)
    assert html.count(b'class="segment"') == 640


def test_imported_episode_with_audio_elsewhere_gets_a_link_but_no_player(
    workspace: Workspace, client: FlaskClient
) -> None:
    publish(workspace, "gammalt", "Gammalt avsnitt", segments=[])
    with session_scope(workspace) as s:
        episode = s.scalar(select(Episode).where(Episode.slug == "gammalt"))
        assert episode is not None
        episode.enclosure_url = "https://old-host.example/audio/gammalt.mp3"
    html = text_of(client.get(f"{SHOW}gammalt/"))
    assert "<audio" not in html  # the page itself requests nothing from the old host
    assert 'href="https://old-host.example/audio/gammalt.mp3"' in html
    assert 'property="og:audio" content="https://old-host.example/audio/gammalt.mp3"' in html


def test_several_unnamed_guests_are_numbered_and_named_ones_kept() -> None:
    episode = Episode(slug="x", title="x")
    episode.people = [
        Person(name="Anna Andersson", role="guest", consent_named=True),
        Person(name="Bo Berg", role="guest", consent_named=False),
        Person(name="Cecilia  Ek", role="guest", consent_named=False),
        Person(name="Karin Värd", role="host"),
    ]
    hidden = privacy.hidden_names(episode)
    assert hidden == {"bo berg": "Gäst 1", "cecilia ek": "Gäst 2"}
    segments = [{"speaker": "Cecilia Ek"}, {"speaker": "BO BERG"}, {"speaker": "Anna Andersson"}]
    public = privacy.public_segments(segments, hidden)
    assert [s["speaker"] for s in public] == ["Gäst 2", "Gäst 1", "Anna Andersson"]


def test_a_show_link_without_a_path_is_refused(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_SHOW_LINK", "https://example.org/")
    with pytest.raises(ConfigError, match="subscribe page"):
        create_app(open_workspace(workspace.root), dev_key=True)


def test_export_site_removes_an_unpublished_episode_from_the_static_copy(
    workspace: Workspace, run: Runner, tmp_path: Path
) -> None:
    publish(workspace, "ett", "Ett avsnitt", audio=speech_mp3(tmp_path))
    publish(workspace, "tva", "Två avsnitt", audio=speech_mp3(tmp_path))
    target = tmp_path / "site"
    run("export-site", str(target))
    assert (target / "digitalsamtal/tva/index.html").is_file()
    assert (target / "episodes/tva/tva.mp3").is_file()
    (target / "egen-fil.txt").write_text("the host's own file")
    run("episode", "unpublish", "tva")
    result = run("export-site", str(target))
    assert "1 unpublished episode folders removed" not in result.output  # two: page and media
    assert "2 unpublished episode folders removed" in result.output
    assert not (target / "digitalsamtal/tva").exists() and not (target / "episodes/tva").exists()
    assert (target / "digitalsamtal/ett/index.html").is_file()
    assert (target / "episodes/ett/ett.mp3").is_file() and (target / "egen-fil.txt").is_file()
    assert "tva" not in (target / "sitemap.xml").read_text(encoding="utf-8")
    assert "Två avsnitt" not in (target / "digitalsamtal/index.html").read_text(encoding="utf-8")
