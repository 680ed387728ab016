"""`outreach episode import-feed` on messy feeds written for these tests."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from outreach.db import session_scope
from outreach.feed.importer import parse_date, parse_duration, parse_explicit
from outreach.models import Episode, Meta
from outreach.podcast.episodes import slugify
from outreach.workspace import Workspace

from .conftest import Runner
from .helpers.feed_media import make_cover, make_mp3, static_server

# The itunes namespace is declared with the wrong case, and the feed is full of what real feeds
# do: HTML entities, a bare &, HTML in titles, odd dates, durations and explicit values.
MESSY = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/DTDs/Podcast-1.0.dtd"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel>
  <title>Gamla Digitalsamtal</title>
  <language>sv-SE</language>
  <itunes:explicit>clean</itunes:explicit>
  <item>
    <title>&lt;b&gt;Avsnitt 1:&lt;/b&gt; AI &amp; kommunen&nbsp;idag</title>
    <guid>old-guid-1</guid>
    <pubDate>Wed, 26 Apr 2023 10:00:00 CEST</pubDate>
    <enclosure url="{base}ep1.mp3" length="{size1}" type="audio/mpeg"/>
    <itunes:duration>01:02:03</itunes:duration>
    <itunes:explicit>yes</itunes:explicit>
    <itunes:episode>1</itunes:episode>
    <itunes:season>2</itunes:season>
    <content:encoded><![CDATA[<p>Om AI &amp; kommuner.</p><script>x()</script><img src="a.png"><ul><li>Punkt</li></ul>]]></content:encoded>
    <podcast:transcript url="{base}ep1.vtt" type="text/vtt" language="sv" rel="captions"/>
    <podcast:transcript url="{base}ep1.txt" type="text/plain"/>
    <podcast:chapters url="{base}ep1.chapters.json" type="application/json+chapters"/>
  </item>
  <item>
    <title>Avsnitt 2 & mer</title>
    <pubDate>2023-05-10T08:30:00Z</pubDate>
    <enclosure url="{base}ep2.mp3" type="audio/mpeg"/>
    <itunes:duration>45:30</itunes:duration>
    <description>Vanlig text utan taggar.</description>
  </item>
  <item>
    <title>Avsnitt 3</title>
    <guid>old-guid-3</guid>
    <pubDate>not a date</pubDate>
    <enclosure url="{base}ep3.mp3" length="100" type="audio/mpeg"/>
    <itunes:duration>1 h 5 min</itunes:duration>
    <itunes:explicit>kanske</itunes:explicit>
  </item>
  <item>
    <title>Bara text, inget ljud</title>
    <guid>no-audio</guid>
  </item>
  <item>
    <title>Dubblett</title>
    <guid>old-guid-1</guid>
    <enclosure url="{base}ep1-copy.mp3" length="5" type="audio/mpeg"/>
  </item>
  <item>
    <title>Sekunder</title>
    <guid>old-guid-5</guid>
    <pubDate>Fri, 02 Jun 2023 07:00:00 GMT</pubDate>
    <enclosure url="{base}ep5.mp3" length="200" type="audio/mpeg"/>
    <itunes:duration>1830</itunes:duration>
    <itunes:explicit>false</itunes:explicit>
  </item>
</channel>
</rss>
"""


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("old-host")
    for name in ("ep1", "ep2"):
        make_mp3(folder / f"{name}.mp3", 1.0, 300 if name == "ep1" else 500)
    return folder


def _write_feed(tmp_path: Path, base: str, audio: Path) -> Path:
    path = tmp_path / "old.xml"
    text = MESSY.format(base=base, size1=(audio / "ep1.mp3").stat().st_size)
    path.write_text(text, encoding="utf-8")
    return path


def _episodes(workspace: Workspace) -> dict[str, Episode]:
    with session_scope(workspace) as session:
        return {e.guid: e for e in session.scalars(select(Episode))}


def test_messy_feed_imports_with_warnings_and_skips(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    feed = _write_feed(tmp_path, "https://old.example/media/", audio)
    result = run("episode", "import-feed", "--keep-settings", str(feed))
    assert "Imported 4 new episode(s) from Gamla Digitalsamtal; 0 already present, 2 skipped." in (
        result.output
    )
    err = result.stderr
    assert "Skipped: item 4 (Bara text, inget ljud): no audio enclosure" in err
    assert "Skipped: item 5: GUID 'old-guid-1' appears twice" in err
    assert "no GUID, using the enclosure URL" in err
    assert "HTML removed from the title" in err
    assert "duration '1 h 5 min' not understood" in err
    assert "explicit 'kanske' not understood" in err
    assert "no readable pubDate" in err
    assert "enclosure has no byte length" in err

    episodes = _episodes(workspace)
    assert set(episodes) == {
        "old-guid-1",
        "https://old.example/media/ep2.mp3",
        "old-guid-3",
        "old-guid-5",
    }
    first = episodes["old-guid-1"]
    assert first.title == "Avsnitt 1: AI & kommunen idag"  # &nbsp; read, then a plain space
    assert first.slug == "avsnitt-1-ai-kommunen-idag"
    assert first.status == "published"
    assert first.published_at == dt.datetime(2023, 4, 26, 8, 0, tzinfo=dt.UTC)
    assert first.duration_seconds == 3723
    assert first.explicit is True
    assert (first.number, first.season) == (1, 2)
    assert first.summary == "<p>Om AI &amp; kommuner.</p><ul><li>Punkt</li></ul>"
    assert first.enclosure_url == "https://old.example/media/ep1.mp3"
    assert first.byte_size == (audio / "ep1.mp3").stat().st_size
    assert first.audio is None
    assert first.language == "sv"
    second = episodes["https://old.example/media/ep2.mp3"]
    assert second.title == "Avsnitt 2 & mer"
    assert second.published_at == dt.datetime(2023, 5, 10, 8, 30, tzinfo=dt.UTC)
    assert second.duration_seconds == 2730
    assert second.explicit is False  # the channel's "clean"
    assert second.summary == "<p>Vanlig text utan taggar.</p>"
    assert episodes["old-guid-3"].duration_seconds is None
    assert episodes["old-guid-5"].duration_seconds == 1830
    with session_scope(workspace) as session:
        links = session.get(Meta, f"episode-links:{first.id}")
        assert links is not None
        assert '"chapters": "https://old.example/media/ep1.chapters.json"' in links.value
        assert "ep1.vtt" in links.value and "ep1.txt" in links.value


def test_reimport_adds_nothing(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    feed = _write_feed(tmp_path, "https://old.example/media/", audio)
    run("episode", "import-feed", "--keep-settings", str(feed))
    with session_scope(workspace) as session:
        episode = session.scalars(select(Episode).where(Episode.guid == "old-guid-1")).one()
        episode.title = "Redigerad titel"
    again = run("episode", "import-feed", "--keep-settings", str(feed))
    assert "Imported 0 new episode(s)" in again.output
    assert "4 already present" in again.output
    with session_scope(workspace) as session:
        assert session.scalar(select(func.count()).select_from(Episode)) == 4
        kept = session.scalars(select(Episode).where(Episode.guid == "old-guid-1")).one()
        assert kept.title == "Redigerad titel"


def test_imported_catalogue_builds_a_valid_feed_with_the_old_links(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    make_cover(workspace.episodes_dir / "cover.png")
    feed = _write_feed(tmp_path, "https://old.example/media/", audio)
    run("episode", "import-feed", "--keep-settings", str(feed))
    # Two items have no byte length in the old feed: a warning (length 0), never a refusal.
    built = run("feed", "build")
    assert "enclosure: length '0'" in built.stderr
    assert "gave no byte length" in built.stderr and "--download" in built.stderr
    root = etree.parse(str(workspace.feeds_dir / "podcast.xml")).getroot()
    item = root.xpath("channel/item[guid='old-guid-1']")[0]
    assert item.find("enclosure").get("url") == "https://old.example/media/ep1.mp3"
    ns = {"podcast": "https://podcastindex.org/namespace/1.0"}
    assert [t.get("url") for t in item.xpath("podcast:transcript", namespaces=ns)] == [
        "https://old.example/media/ep1.vtt",
        "https://old.example/media/ep1.txt",
    ]
    assert item.xpath("podcast:chapters/@url", namespaces=ns) == [
        "https://old.example/media/ep1.chapters.json"
    ]
    # Newest first; item 3 had no readable date and got the import time.
    assert [g.text for g in root.iter("guid")] == [
        "old-guid-3",
        "old-guid-5",
        "https://old.example/media/ep2.mp3",
        "old-guid-1",
    ]


def test_download_fetches_audio_from_the_old_host(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    with static_server(audio) as base:
        feed = _write_feed(tmp_path, base, audio)
        result = run("episode", "import-feed", "--keep-settings", str(feed), "--download")
        # ep3 and ep5 are not on the old host: a warning each, the feed keeps their URLs.
        assert result.stderr.count("audio not downloaded") == 2
        assert "404" in result.stderr
        by_url = run("episode", "import-feed", "--keep-settings", f"{base}old.xml", expect=1)
        assert "404" in by_url.stderr
    episodes = _episodes(workspace)
    first = episodes["old-guid-1"]
    assert first.audio == f"episodes/{first.slug}/{first.slug}.mp3"
    local = workspace.path(first.audio)
    assert local.read_bytes() == (audio / "ep1.mp3").read_bytes()
    assert first.byte_size == local.stat().st_size
    assert first.enclosure_url is None  # served from base_url from now on
    assert episodes["old-guid-3"].enclosure_url == f"{base}ep3.mp3"
    assert episodes["old-guid-3"].audio is None


def test_reimport_with_download_fetches_what_the_first_import_left(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    with static_server(audio) as base:
        feed = _write_feed(tmp_path, base, audio)
        run("episode", "import-feed", "--keep-settings", str(feed))
        assert _episodes(workspace)["old-guid-1"].audio is None
        again = run("episode", "import-feed", "--keep-settings", str(feed), "--download")
    assert "Imported 0 new episode(s)" in again.output
    assert "Downloaded audio for 2." in again.output
    first = _episodes(workspace)["old-guid-1"]
    assert workspace.path(first.audio).read_bytes() == (audio / "ep1.mp3").read_bytes()


def test_import_by_url_resolves_relative_links(
    run: Runner, workspace: Workspace, tmp_path: Path, audio: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    with static_server(served) as base:
        _write_feed(served, "media/", audio)
        result = run("episode", "import-feed", "--keep-settings", f"{base}old.xml")
    assert "Imported 4 new episode(s)" in result.output
    first = _episodes(workspace)["old-guid-1"]
    assert first.enclosure_url == f"{base}media/ep1.mp3"
    with session_scope(workspace) as session:
        assert f"{base}media/ep1.vtt" in session.get(Meta, f"episode-links:{first.id}").value


def test_non_ascii_and_relative_urls_in_a_file(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    feed = tmp_path / "urls.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>T</title>'
        '<item><title>Ett</title><guid>g1</guid><enclosure url="https://old.example/sjö ljud.mp3"'
        ' length="10" type="audio/mpeg"/></item>'
        '<item><title>Två</title><guid>g2</guid><enclosure url="ljud/tva.mp3" length="10"'
        ' type="audio/mpeg"/></item></channel></rss>',
        encoding="utf-8",
    )
    result = run("episode", "import-feed", "--keep-settings", str(feed))
    assert "percent-encoded" in result.stderr
    assert "item 2 (Två): the enclosure URL 'ljud/tva.mp3' is not http(s)" in result.stderr
    assert _episodes(workspace)["g1"].enclosure_url == "https://old.example/sj%C3%B6%20ljud.mp3"


def test_odd_encodings(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    item = (
        "<item><title>{title}</title><guid>{guid}</guid>"
        '<enclosure url="https://old.example/{guid}.mp3" length="10" type="audio/mpeg"/></item>'
    )
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes(
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>T</title>'
            + item.format(title="Grön växtlighet", guid="latin1")
            + "</channel></rss>"
        ).encode("latin-1")
    )
    lying = tmp_path / "lying.xml"
    lying.write_bytes(
        (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
            + item.format(title="Måndag – “citat”", guid="cp1252")
            + "</channel></rss>"
        ).encode("cp1252")
    )
    utf16 = tmp_path / "utf16.xml"
    utf16.write_bytes(
        (
            '<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"><channel><title>T</title>'
            + item.format(title="Sjöräddning", guid="utf16")
            + "</channel></rss>"
        ).encode("utf-16")
    )
    run("episode", "import-feed", "--keep-settings", str(latin1))
    result = run("episode", "import-feed", "--keep-settings", str(lying))
    assert "says utf-8 but is not valid utf-8" in result.stderr
    run("episode", "import-feed", "--keep-settings", str(utf16))
    titles = {guid: e.title for guid, e in _episodes(workspace).items()}
    assert titles == {
        "latin1": "Grön växtlighet",
        "cp1252": "Måndag – “citat”",
        "utf16": "Sjöräddning",
    }


def test_broken_input_is_one_line_errors(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<html><body>Not a feed</body></html>", encoding="utf-8")
    assert (
        "not an RSS feed"
        in run("episode", "import-feed", "--keep-settings", str(html), expect=1).stderr
    )
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    assert (
        "not an RSS feed"
        in run("episode", "import-feed", "--keep-settings", str(empty), expect=1).stderr
    )
    missing = run("episode", "import-feed", "--keep-settings", str(tmp_path / "nope.xml"), expect=1)
    assert "no such file" in missing.stderr
    truncated = tmp_path / "truncated.xml"
    truncated.write_text(
        '<rss version="2.0"><channel><title>T</title><item><title>Ett</title><guid>g</guid>'
        '<enclosure url="https://old.example/a.mp3" length="10" type="audio/mpeg"/></item><item><ti',
        encoding="utf-8",
    )
    result = run("episode", "import-feed", "--keep-settings", str(truncated))
    assert "read as far as possible" in result.stderr
    assert "Imported 1 new episode(s)" in result.output


def test_undeclared_prefixes_are_still_read(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    feed = tmp_path / "undeclared.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>T</title><item><title>Ett</title><guid>g</guid>'
        '<enclosure url="https://old.example/a.mp3" length="10" type="audio/mpeg"/>'
        "<itunes:duration>10:00</itunes:duration><itunes:episode>7</itunes:episode>"
        '<podcast:transcript url="https://old.example/a.srt" type="application/x-subrip"/>'
        "</item></channel></rss>",
        encoding="utf-8",
    )
    result = run("episode", "import-feed", "--keep-settings", str(feed))
    assert "read as far as possible" in result.stderr
    episode = _episodes(workspace)["g"]
    assert (episode.duration_seconds, episode.number) == (600, 7)
    with session_scope(workspace) as session:
        assert "a.srt" in session.get(Meta, f"episode-links:{episode.id}").value


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1830", 1830), ("30:30", 1830), ("0:30:30", 1830), ("1:02:03", 3723), ("12.5", 12.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "abc", "1:2:3:4", "10:75", "-3", "1::2", "nan", "inf", "1e400"]
)
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


def test_parse_explicit_date_and_slug() -> None:
    assert [parse_explicit(v) for v in ("Yes", "clean", "TRUE", "no", "false", "?")] == [
        True,
        False,
        True,
        False,
        False,
        None,
    ]
    assert parse_date("Wed, 26 Apr 2023 10:00:00 CEST") == dt.datetime(
        2023, 4, 26, 8, 0, tzinfo=dt.UTC
    )
    assert parse_date("Wed, 26 Apr 2023 10:00:00") == dt.datetime(2023, 4, 26, 10, 0, tzinfo=dt.UTC)
    assert parse_date("2023-04-26") == dt.datetime(2023, 4, 26, tzinfo=dt.UTC)
    assert parse_date("igår") is None
    assert slugify("Så här gör vi – del 2!") == "sa-har-gor-vi-del-2"
    assert slugify("???") == "avsnitt"


def test_imported_values_are_bounded(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    feed = tmp_path / "bounds.xml"
    feed.write_text(
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
        "<title>T</title><item><title>Till @@email@@: @@@unsubscribe_url@@</title><guid>g</guid>"
        "<description>Hej @@name@@ och @@greeting@@</description>"
        '<enclosure url="https://old.example/a.mp3" length="-20" type="audio/mpeg"/>'
        "<itunes:duration>1e20</itunes:duration><itunes:episode>1e30</itunes:episode></item>"
        '<item><title>Två</title><guid>h</guid><enclosure url="https://old.example/b.mp3"'
        ' length="1000" type="audio/mpeg"/><itunes:duration>48:00:01</itunes:duration></item>'
        "</channel></rss>",
        encoding="utf-8",
    )
    result = run("episode", "import-feed", "--keep-settings", str(feed))
    assert "duration '1e20' is over 48 hours, left empty" in result.stderr
    assert "duration '48:00:01' is over 48 hours, left empty" in result.stderr
    assert "enclosure length '-20' is not a byte count, left empty" in result.stderr
    episode = _episodes(workspace)["g"]
    assert (episode.duration_seconds, episode.byte_size, episode.number) == (None, None, None)
    assert _episodes(workspace)["h"].duration_seconds is None
    # The newsletter's placeholders can never match imported text.
    placeholder = re.compile(r"@@(name|greeting|email|unsubscribe_url)@@")
    assert placeholder.search(episode.title) is None
    assert placeholder.search(episode.summary or "") is None
    assert episode.title.replace("\u2060", "") == "Till @@email@@: @@@unsubscribe_url@@"
