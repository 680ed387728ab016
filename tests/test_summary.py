"""Episode summaries are Markdown: sanitised HTML in feeds, plain text in ID3 and the newsletter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from mutagen.id3 import ID3

from outreach.db import session_scope
from outreach.newsletter import compose
from outreach.podcast.summary import summary_html, summary_text
from outreach.workspace import Workspace

from .conftest import FIXTURES, Runner
from .helpers.feed_media import add_episode, make_cover, make_mp3

# As `--summary beskrivning.md` in the README's example.
SUMMARY = """Ett samtal med **Umeå kommun** om AI i _vården_.

- Var man började
- Vad som hände sedan

Läs mer på [Vinnovas webbplats](https://www.vinnova.se/) eller <script>alert(1)</script>.
"""
LINK = '<a href="https://www.vinnova.se/">Vinnovas webbplats</a>'
PLAIN = (
    "Ett samtal med Umeå kommun om AI i vården.\n\n- Var man började\n\n- Vad som hände sedan"
    "\n\nLäs mer på Vinnovas webbplats (https://www.vinnova.se/) eller <script>alert(1)</script>."
)


def test_markdown_becomes_apple_html_and_plain_text() -> None:
    html = summary_html(SUMMARY)
    assert html.startswith("<p>Ett samtal med Umeå kommun om AI i vården.</p>")
    assert "<ul><li>Var man började</li><li>Vad som hände sedan</li></ul>" in html
    assert LINK in html
    assert "**" not in html and "_vården_" not in html and "<script>" not in html
    assert "&lt;script&gt;" in html  # written as text in the source: shown as text
    assert summary_text(SUMMARY) == PLAIN
    # A summary imported from an old feed is HTML already: sanitised, not read as Markdown.
    imported = (
        '<p>Om <b>AI</b> &amp; kommuner.</p><a href="https://example.org/x" onclick="y">Mer</a>'
    )
    assert (
        summary_html(imported)
        == '<p>Om AI &amp; kommuner.</p><a href="https://example.org/x">Mer</a>'
    )
    assert summary_text(imported) == "Om AI & kommuner.Mer"
    assert summary_html(None) == summary_text("  ") == ""


def test_the_feed_shows_html_with_links(
    run: Runner, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cover(workspace.episodes_dir / "cover.png")
    monkeypatch.setenv("OUTREACH_SHOW_CATEGORY", "Technology")
    add_episode(workspace, "umea", "Möte i Umeå", mp3=make_mp3(tmp_path / "a.mp3"), summary=SUMMARY)
    run("feed", "build")
    item = etree.parse(str(workspace.feeds_dir / "podcast.xml")).find("channel/item")
    assert item is not None
    # The HTML goes in <description> as CDATA (render.py; content:encoded when present too).
    encoded = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    for html in [item.findtext("description") or "", *([encoded] if encoded else [])]:
        assert LINK in html and "**" not in html and "[Vinnovas" not in html, html


def test_id3_and_the_newsletter_get_plain_text(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    summary = tmp_path / "beskrivning.md"
    summary.write_text(SUMMARY, encoding="utf-8")
    run(
        "episode", "add", str(FIXTURES / "audio-speech.flac"), "--title", "Beskriven",
        "--summary", str(summary), "--published", "2023-04-20",
    )  # fmt: skip
    run("episode", "normalize", "beskriven")
    comment = ID3(str(workspace.episodes_dir / "beskriven" / "beskriven.mp3")).getall("COMM")[0]
    assert comment.text[0] == PLAIN
    run("episode", "publish", "beskriven")
    with session_scope(workspace) as session:
        selected = compose.select_content(session, workspace, "2023-04-26", dt.date(2023, 4, 26))
    assert [(e.title, e.summary) for e in selected.episodes] == [("Beskriven", PLAIN)]
