"""HTML (and sitemap.xml) of the public podcast pages: the one renderer `outreach serve` and
`outreach export-site` both call, so the static copy is the served page byte for byte.

The pages are plain HTML that works without JavaScript (native audio controls, a readable
transcript); `static/player.js`, shared with the review page, adds seeking, `#t=` links and the
highlighted turn. Nothing is loaded from other hosts. Links inside pages are root-relative paths
from `urls`; canonical, Open Graph, JSON-LD and sitemap URLs are absolute.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from outreach import urls
from outreach.newsletter.archive import sent_editions
from outreach.podcast.episodes import published_slugs
from outreach.sanitize import strip_html
from outreach.site.episode import EpisodePage, episode_page
from outreach.site.show import ShowPage, page_count, show_page
from outreach.timeutil import clock
from outreach.workspace import Workspace

TEMPLATES = Path(__file__).parent / "templates"
SPEEDS = ("0.75", "1", "1.25", "1.5", "2")
DESCRIPTION_CHARS = 300
# Rendered transcript sections kept in memory (about 150 KB each for an hour).
TRANSCRIPT_CACHE = 32
_transcripts: OrderedDict[tuple[Any, ...], Markup] = OrderedDict()
_cache_lock = threading.Lock()

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


def fragment_time(seconds: float) -> str:
    """A position for a `#t=` link: "12:34", with tenths when the position has them ("0:06.3"),
    so a link to a turn does not land in the turn before it."""
    tenths = int(float(seconds) * 10 + 1e-6) % 10
    return clock(seconds) + (f".{tenths}" if tenths else "")


_environment.globals.update(clock=clock, t=fragment_time, speeds=SPEEDS, static=urls.static_path)


def _json_ld(data: dict[str, Any]) -> Markup:
    """JSON for a `<script type="application/ld+json">` block (no `</script>` can end it early)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def _site(workspace: Workspace) -> dict[str, Any]:
    """What the layout needs: the site's name, navigation paths and the feed."""
    return {
        "site_name": workspace.settings.newsletter.name,
        "show_title": workspace.settings.show.title,
        "show_path": urls.show_path(workspace),
        "subscribe_path": urls.SUBSCRIBE,
        "archive_path": urls.ARCHIVE,
        "contact_address": workspace.settings.newsletter.contact_address,
        "privacy_url": workspace.settings.web.privacy_url,
    }


def _series_ld(show: ShowPage, workspace: Workspace) -> dict[str, Any]:
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "PodcastSeries",
        "name": show.title,
        "url": urls.show_page_url(workspace),
        "description": _short(strip_html(str(show.description_html))),
        "webFeed": show.feed_url,
        "inLanguage": workspace.settings.show.language,
        "author": {"@type": "Organization", "name": workspace.settings.show.author},
    }
    if show.cover_url:
        data["image"] = show.cover_url
    return data


def render_show(workspace: Workspace, show: ShowPage) -> str:
    description = _short(strip_html(str(show.description_html)))
    return _environment.get_template("show.html").render(
        show=show,
        description=description,
        json_ld=_json_ld(_series_ld(show, workspace)),
        current_nav="show",
        **_site(workspace),
    )


def _episode_ld(page: EpisodePage, workspace: Workspace, description: str) -> dict[str, Any]:
    card = page.card
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "PodcastEpisode",
        "name": card.title,
        "url": card.url,
        "description": description,
        "inLanguage": workspace.settings.show.language,
        "partOfSeries": {
            "@type": "PodcastSeries",
            "name": page.show.title,
            "url": urls.show_page_url(workspace),
        },
    }
    if card.date_iso:
        data["datePublished"] = card.date_iso
    if card.number is not None:
        data["episodeNumber"] = card.number
    if card.duration_iso:
        data["duration"] = card.duration_iso
    if page.cover_url:
        data["image"] = page.cover_url
    if page.audio_url:
        media: dict[str, Any] = {
            "@type": "AudioObject",
            "contentUrl": page.audio_url,
            "encodingFormat": page.audio_type,
        }
        if card.duration_iso:
            media["duration"] = card.duration_iso
        data["associatedMedia"] = media
    if page.guests:
        data["actor"] = [{"@type": "Person", "name": name} for name in page.guests]
    return data


def transcript_html(workspace: Workspace, page: EpisodePage) -> Markup:
    """The transcript section of an episode page. A version never changes, so its HTML is kept
    (a one-hour transcript is most of the page's work: reading 1 MB of segments, 640 paragraphs)."""
    if page.transcript_key is None:
        return Markup("")
    key = (workspace.database_url, *page.transcript_key)
    with _cache_lock:
        cached = _transcripts.get(key)
        if cached is not None:
            _transcripts.move_to_end(key)
            return cached
    html = Markup(
        _environment.get_template("transcript.html").render(
            turns=page.turns(), word_times=page.word_times()
        )
    )
    with _cache_lock:
        _transcripts[key] = html
        while len(_transcripts) > TRANSCRIPT_CACHE:
            _transcripts.popitem(last=False)
    return html


def clear_transcript_cache() -> None:
    with _cache_lock:
        _transcripts.clear()


def render_episode(workspace: Workspace, page: EpisodePage) -> str:
    description = _short(page.card.summary_text or page.card.title)
    return _environment.get_template("episode.html").render(
        page=page,
        transcript_html=transcript_html(workspace, page),
        show=page.show,
        description=description,
        json_ld=_json_ld(_episode_ld(page, workspace, description)),
        current_nav="episode",
        **_site(workspace),
    )


@dataclass(frozen=True)
class RenderedPage:
    path: str
    body: bytes
    content_type: str


def render_sitemap(urls_: list[str]) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    lines.append('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    lines += [f"  <url><loc>{escape(url)}</loc></url>" for url in urls_]
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def sitemap(session: Session, workspace: Workspace) -> bytes:
    """`sitemap.xml`: the show page(s), every published episode, the newsletter archive."""
    slugs = published_slugs(session)
    pages = [urls.show_page_number_url(workspace, n) for n in range(1, page_count(len(slugs)) + 1)]
    pages += [urls.episode_page_url(workspace, slug) for slug in slugs]
    pages.append(urls.site(workspace, urls.ARCHIVE))
    pages += [urls.archive_url(workspace, e.slug) for e in sent_editions(session, workspace)]
    return render_sitemap(pages)


def all_pages(session: Session, workspace: Workspace) -> Iterator[RenderedPage]:
    """Every podcast page and the sitemap, as `export-site` writes them (path ends in `/` for a
    folder's `index.html`)."""
    slugs = published_slugs(session)
    html = "text/html; charset=utf-8"
    for number in range(1, page_count(len(slugs)) + 1):
        show = show_page(session, workspace, number)
        assert show is not None
        yield RenderedPage(show.path, render_show(workspace, show).encode(), html)
    for slug in slugs:
        page = episode_page(session, workspace, slug)
        assert page is not None
        yield RenderedPage(page.card.path, render_episode(workspace, page).encode(), html)
    yield RenderedPage(urls.SITEMAP, sitemap(session, workspace), "application/xml")
