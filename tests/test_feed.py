"""outreach.feed (the feedgen adapter) and outreach.sanitize on their own."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from outreach.errors import FeedError
from outreach.feed import render as feed
from outreach.feed.validate import validate_feed
from outreach.sanitize import apple_html, shorten_html, strip_html

CHANNEL = feed.Channel(
    title="Digitalsamtal",
    description="Samtal om AI.",
    link="https://example.org/",
    feed_url="https://example.org/feeds/podcast.xml",
    language="sv",
    copyright="© AI Sweden",
    image_url="https://example.org/episodes/cover.png",
    category="Technology",
    subcategory="",
    explicit=False,
    author="AI Sweden",
    owner_name="AI Sweden",
    owner_email="p@example.org",
    hide_owner=False,
    show_type="episodic",
    podcast_guid="d7fadfe7-2b06-51dd-b617-7b9864c982e3",
    medium="podcast",
)
ITEM = feed.Item(
    guid="g1",
    title="Ett",
    description_html="<p>Hej</p>",
    pub_date=dt.datetime(2023, 4, 26, 8, tzinfo=dt.UTC),
    enclosure_url="https://example.org/episodes/ett/ett.mp3",
    enclosure_length=1234,
    duration_seconds=61,
)


def test_rendered_feed_passes_the_validator() -> None:
    data = feed.render_podcast(CHANNEL, [ITEM])
    assert [p for p in validate_feed(data) if p.severity == "error"] == []


def test_feedgen_value_errors_become_feed_errors() -> None:
    with pytest.raises(FeedError, match="cannot build the podcast feed: Required fields not set"):
        feed.render_podcast(dataclasses.replace(CHANNEL, title=""), [ITEM])
    naive = dataclasses.replace(ITEM, pub_date=dt.datetime(2023, 4, 26, 8))
    with pytest.raises(FeedError, match="timezone"):
        feed.render_podcast(CHANNEL, [naive])
    with pytest.raises(FeedError, match="duration"):
        feed.render_podcast(CHANNEL, [dataclasses.replace(ITEM, duration_seconds=-3)])


def test_apple_html_keeps_only_what_apple_allows() -> None:
    dirty = (
        '<h1>Rubrik</h1><p style="color:red">Text <em>med</em> <a href="javascript:alert(1)">'
        'länk</a> <a href="https://example.org/" target="_blank">bra</a></p><ol><li>1</li></ol>'
        "<iframe src=x></iframe><!-- kommentar -->"
    )
    assert apple_html(dirty) == (
        'Rubrik<p>Text med <a>länk</a> <a href="https://example.org/">bra</a></p><ol><li>1</li></ol>'
    )
    assert apple_html("Rad ett\nfortsätter\n\nNytt stycke & <mer>") == (
        "<p>Rad ett fortsätter</p><p>Nytt stycke &amp; &lt;mer&gt;</p>"
    )
    assert strip_html("<b>AI</b> &amp; <i>kommuner</i>") == "AI & kommuner"
    assert strip_html("Titel\x0b med\x00 styrtecken") == "Titel med styrtecken"
    assert apple_html("Rad\x1f") == "<p>Rad</p>"


def test_shorten_html_cuts_at_a_word_within_the_byte_limit() -> None:
    long = "<p>" + " ".join(["ord"] * 2000) + "</p>"
    short = shorten_html(long, 4000)
    assert len(short.encode()) <= 4000
    assert short.startswith("<p>ord ord") and short.endswith("ord…</p>")
    assert shorten_html("<p>kort</p>", 4000) == "<p>kort</p>"
