"""Round trip: a show written by hand (every tag the importer keeps, in the new and the old
Podcasting 2.0 namespace, with the broken habits of real feeds) is imported with
`episode import-feed`, built with `feed build`, and everything that identifies the show and its
episodes comes out the same."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from outreach.feed.spec import OLD_PODCAST_NS, PODCAST_NS
from outreach.workspace import Workspace, load_settings

from .conftest import Runner

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
SHOW_GUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "round-trip-show"))
LONG_NOTES = "".join(
    f'<p>Del {n}: om <a href="https://notes.example/{n}">källa {n}</a> &amp; mer text här.</p>'
    for n in range(120)
)

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="{itunes}" xmlns:podcast="{podcast}"
     xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Old Show &amp; Friends</title>
  <link>https://old.example/show</link>
  <description>An English show about things.</description>
  <language>en-US</language>
  <copyright>© Old Show</copyright>
  <atom:link rel="self" type="application/rss+xml" href="https://old.example/feed.xml"/>
  <itunes:image href="https://old.example/art.jpg"/>
  <itunes:category text="Technology"/>
  <itunes:category text="News"><itunes:category text="Tech News"/></itunes:category>
  <itunes:author>Old Author</itunes:author>
  <itunes:owner><itunes:name>Old Owner</itunes:name><itunes:email>owner@old.example</itunes:email></itunes:owner>
  <itunes:explicit>no</itunes:explicit>
  <itunes:type>serial</itunes:type>
  <podcast:guid>{guid}</podcast:guid>
  <podcast:locked owner="owner@old.example">no</podcast:locked>
  <podcast:funding url="https://old.example/support">Support us</podcast:funding>
  <podcast:medium>podcast</podcast:medium>
  <podcast:person>Alex Host</podcast:person>
  <podcast:person role="producer" group="creative direction" href="https://old.example/sam" img="https://old.example/sam.jpg">Sam Producer</podcast:person>
  <item>
    <title>Episode one</title>
    <link>https://old.example/show/one</link>
    <guid isPermaLink="false">ep-one</guid>
    <pubDate>Wed, 26 Apr 2023 08:00:00 +0000</pubDate>
    <description><![CDATA[{notes}]]></description>
    <enclosure url="https://cdn.old.example/one.mp4" length="123456" type="video/mp4"/>
    <itunes:duration>1830</itunes:duration>
    <itunes:image href="https://old.example/one.jpg"/>
    <itunes:episode>1</itunes:episode>
    <itunes:season>2</itunes:season>
    <itunes:episodeType>full</itunes:episodeType>
    <podcast:season name="Autumn">2</podcast:season>
    <podcast:episode>1</podcast:episode>
    <podcast:transcript url="https://old.example/one.srt" type="application/srt"/>
    <podcast:transcript url="https://old.example/one.vtt" type="text/vtt" language="en" rel="captions"/>
    <podcast:chapters url="https://old.example/one.chapters.json" type="application/json+chapters"/>
    <podcast:person role="guest" img="https://old.example/kim.jpg">Kim Guest</podcast:person>
    <podcast:soundbite startTime="73.0" duration="60.0">The best minute</podcast:soundbite>
    <podcast:location geo="geo:59.33,18.06" osm="R398021">Stockholm</podcast:location>
    <podcast:value type="lightning" method="keysend" suggested="0.00000005000">
      <podcast:valueRecipient name="Host" type="node" address="02d5c1bf8b940dc9cadca86d1b0a3c37fbe39cee4c7e839e33bef9174531d27f52" split="100"/>
    </podcast:value>
  </item>
  <item>
    <title>Episode&nbsp;two &amp; more</title>
    <pubDate>Mon, 32 Foo 2023 25:00:00 +0000</pubDate>
    <description><![CDATA[<p>Short & sweet, with a bare ampersand.</p>]]></description>
    <enclosure url="https://cdn.old.example/two.mp3" length="0" type="audio/mp3"/>
    <itunes:duration>1e20</itunes:duration>
    <itunes:episode>2</itunes:episode>
    <podcast:transcript url="https://old.example/two.json" type="application/json" language="en"/>
  </item>
  <item>
    <title>Hello @@email@@ and @@name@@</title>
    <guid>ep-three</guid>
    <pubDate>Fri, 02 Jun 2023 07:00:00 GMT</pubDate>
    <enclosure url="https://cdn.old.example/three.m4a" length="-5" type="audio/x-m4a"/>
    <itunes:episode>3</itunes:episode>
  </item>
</channel>
</rss>
"""


def _write(tmp_path: Path, namespace: str) -> Path:
    path = tmp_path / "old-feed.xml"
    text = FEED.format(itunes=ITUNES, podcast=namespace, guid=SHOW_GUID, notes=LONG_NOTES)
    path.write_text(text, encoding="utf-8")
    return path


def _items(root: Any) -> dict[str, Any]:
    return {item.findtext("guid"): item for item in root.iter("item")}


NS = {"podcast": PODCAST_NS, "itunes": ITUNES}


@pytest.mark.parametrize("namespace", [PODCAST_NS, OLD_PODCAST_NS], ids=["new-uri", "old-uri"])
def test_import_then_build_keeps_the_show_and_every_episode(
    run: Runner, workspace: Workspace, tmp_path: Path, namespace: str
) -> None:
    imported = run("episode", "import-feed", "--yes", str(_write(tmp_path, namespace)))
    assert "Imported 3 new episode(s) from Old Show & Friends" in imported.output
    assert "title: 'Digitalsamtal' -> 'Old Show & Friends'" in imported.output
    err = imported.stderr
    assert "duration '1e20' is over 48 hours, left empty" in err
    assert "enclosure length '0' is not a byte count, left empty" in err
    assert "enclosure length '-5' is not a byte count, left empty" in err
    assert "enclosure type 'audio/mp3' written as 'audio/mpeg'" in err
    assert "only the first category is kept" in err

    built = run("feed", "build")
    assert "Wrote feeds/podcast.xml" in built.output
    root = etree.parse(str(workspace.feeds_dir / "podcast.xml")).getroot()
    channel = root.find("channel")
    assert channel.findtext("podcast:guid", namespaces=NS) == SHOW_GUID
    assert channel.findtext("title") == "Old Show & Friends"
    assert channel.findtext("language") == "en-US"
    assert channel.find("itunes:image", NS).get("href") == "https://old.example/art.jpg"
    assert channel.findtext("itunes:type", namespaces=NS) == "serial"
    assert channel.find("podcast:funding", NS).get("url") == "https://old.example/support"
    show_people = {p.text: dict(p.attrib) for p in channel.findall("podcast:person", NS)}
    assert show_people["Alex Host"]["role"] == "host"
    assert show_people["Sam Producer"]["img"] == "https://old.example/sam.jpg"
    assert show_people["Sam Producer"]["role"] == "producer"

    items = _items(root)
    assert set(items) == {"ep-one", "https://cdn.old.example/two.mp3", "ep-three"}
    one = items["ep-one"]
    assert dict(one.find("enclosure").attrib) == {
        "url": "https://cdn.old.example/one.mp4",
        "length": "123456",
        "type": "video/mp4",  # video stays video
    }
    assert one.findtext("link") == "https://old.example/show/one"
    assert one.find("itunes:image", NS).get("href") == "https://old.example/one.jpg"
    assert (
        one.findtext("itunes:episode", namespaces=NS),
        one.findtext("itunes:season", namespaces=NS),
    ) == ("1", "2")
    season = one.find("podcast:season", NS)
    assert (season.text, season.get("name")) == ("2", "Autumn")
    assert one.findtext("podcast:episode", namespaces=NS) == "1"
    transcripts = [dict(t.attrib) for t in one.findall("podcast:transcript", NS)]
    assert transcripts == [
        {"url": "https://old.example/one.srt", "type": "application/srt"},  # no language given
        {
            "url": "https://old.example/one.vtt",
            "type": "text/vtt",
            "language": "en",
            "rel": "captions",
        },
    ]
    assert one.find("podcast:chapters", NS).get("url") == "https://old.example/one.chapters.json"
    guest = one.find("podcast:person", NS)
    assert (guest.text, guest.get("role"), guest.get("img")) == (
        "Kim Guest",
        "guest",
        "https://old.example/kim.jpg",
    )
    soundbite = one.find("podcast:soundbite", NS)
    assert (soundbite.get("startTime"), soundbite.get("duration"), soundbite.text) == (
        "73.0",
        "60.0",
        "The best minute",
    )
    assert one.find("podcast:location", NS).get("osm") == "R398021"
    recipient = one.find("podcast:value/podcast:valueRecipient", NS)
    assert recipient.get("split") == "100" and recipient.get("type") == "node"
    # The long notes keep their paragraphs and links, shortened to Apple's 4000 bytes.
    notes = one.findtext("description")
    assert len(notes.encode()) <= 4000
    assert notes.count('<a href="https://notes.example/') > 30 and notes.endswith("</p>")

    two = items["https://cdn.old.example/two.mp3"]
    assert two.findtext("title") == "Episode two & more"  # &nbsp; read, then a plain space
    assert dict(two.find("enclosure").attrib)["type"] == "audio/mpeg"
    assert two.find("itunes:duration", NS) is None
    assert two.find("podcast:transcript", NS).get("language") == "en"
    three = items["ep-three"]
    assert "@@" not in three.findtext("title")
    assert three.findtext("title").replace("\u2060", "") == "Hello @@email@@ and @@name@@"
    assert three.find("enclosure").get("type") == "audio/x-m4a"
    # Episodes without an old <link> point at their page on this site.
    assert three.findtext("link") == "https://example.org/digitalsamtal/hello-email-and-name/"

    settings = load_settings(workspace.settings_path)
    assert settings.show.title == "Old Show & Friends"
    assert settings.show.hosts == ["Alex Host"]
    assert settings.show.owner_email == "owner@old.example"
    assert settings.show.category == "Technology"
    # outreach.toml keeps its comments.
    assert workspace.settings_path.read_text(encoding="utf-8").startswith("# outreach workspace")

    again = run("episode", "import-feed", "--yes", str(_write(tmp_path, namespace)))
    assert "Imported 0 new episode(s)" in again.output
    assert "already match the feed" in again.output
