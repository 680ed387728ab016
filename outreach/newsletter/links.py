"""Link statistics without tracking people: clicks per edition and link, nothing per person.

With `[newsletter] click_stats = true`, composing an edition rewrites each link of the mail
(HTML and text) to `<public_url>/l/<edition>/<n>`; the web route counts the click on that
(edition, n) row and redirects to the stored original. The URL is the same for every subscriber
(no id, no token), so a click cannot be tied to anyone; nothing else is stored, and there is no
open-tracking pixel. Only links stored at compose time are redirected: an unknown n is a 404, so
the route is no open redirect. The archive page (index.html) keeps its original links.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from outreach.models import EditionLink
from outreach.urls import link_url
from outreach.workspace import Workspace

if TYPE_CHECKING:
    from outreach.newsletter.render import ComposedEdition

# href of an <a> tag only: <link href> (fonts) and VML must keep pointing where they point.
_ANCHOR_HREF = re.compile(r'(<a\b[^>]*?\shref=")(https?://[^"]+)(")', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


def _countable(url: str) -> bool:
    # Personal links (the unsubscribe placeholder) must stay personal and direct.
    return "@@" not in url


def rewrite_links(
    html_text: str, text: str, base: str, known: Sequence[str] = ()
) -> tuple[str, str, tuple[str, ...]]:
    """Links of a rendered mail through `base` + n (n from 1); returns (html, text, all links).

    `known` are the links already numbered (another language of the same edition): a URL keeps
    its number. The result's links are `known` followed by the new ones, n = index + 1.
    """
    links = list(known)
    numbers = {url: i + 1 for i, url in enumerate(links)}

    def number(url: str) -> int:
        if url not in numbers:
            links.append(url)
            numbers[url] = len(links)
        return numbers[url]

    def in_html(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2))
        if not _countable(url):
            return match.group(0)
        return f"{match.group(1)}{base}{number(url)}{match.group(3)}"

    def in_text(match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(_TRAILING)
        if not _countable(stripped):
            return url
        return f"{base}{number(stripped)}{url[len(stripped) :]}"

    return _ANCHOR_HREF.sub(in_html, html_text), _TEXT_URL.sub(in_text, text), tuple(links)


def store_links(session: Session, slug: str, urls: Sequence[str]) -> None:
    """The edition's links, numbered from 1, replacing those of an earlier compose."""
    session.execute(delete(EditionLink).where(EditionLink.edition_slug == slug))
    session.add_all(
        EditionLink(edition_slug=slug, position=i + 1, url=url, clicks=0)
        for i, url in enumerate(urls)
    )
    session.flush()


def apply_click_stats(session: Session, workspace: Workspace, composed: ComposedEdition) -> None:
    """Rewrite a rendered edition's mail links for counting (when `click_stats` is on), in place."""
    if not workspace.settings.newsletter.click_stats:
        store_links(session, composed.slug, ())
        return
    base = link_url(workspace, composed.slug, "")
    links: tuple[str, ...] = ()
    for language, rendered in list(composed.languages.items()):
        new_html, new_text, links = rewrite_links(rendered.html, rendered.text, base, links)
        composed.languages[language] = dataclasses.replace(rendered, html=new_html, text=new_text)
    store_links(session, composed.slug, links)


def follow_link(session: Session, slug: str, position: int, *, count: bool = True) -> str | None:
    """The original URL of link n of an edition (counting the click), or None if there is none."""
    if count:
        session.execute(
            update(EditionLink)
            .where(EditionLink.edition_slug == slug, EditionLink.position == position)
            .values(clicks=EditionLink.clicks + 1)
        )
    return session.scalar(
        select(EditionLink.url).where(
            EditionLink.edition_slug == slug, EditionLink.position == position
        )
    )


def link_clicks(session: Session, slug: str) -> list[tuple[int, str, int]]:
    """(n, url, clicks) for each counted link of an edition, in order."""
    rows = session.execute(
        select(EditionLink.position, EditionLink.url, EditionLink.clicks)
        .where(EditionLink.edition_slug == slug)
        .order_by(EditionLink.position)
    )
    return [(position, url, clicks) for position, url, clicks in rows]
