"""Every public path of the site and the absolute URLs built from them.

Paths are written here once; the web routes, mails, feeds and exports all ask this module. Absolute URLs
for the newsletter and the subscriber pages hang under `[newsletter] public_url`; those for the podcast
(feed, media) under `[show] base_url`.
"""

from __future__ import annotations

import urllib.parse

from outreach.workspace import Workspace

ARCHIVE = "/nyhetsbrev/"
SUBSCRIBE = "/prenumerera"
SUBSCRIBE_THANKS = "/prenumerera/tack"
CONFIRM = "/bekrafta/"
# Links in confirmation mails sent before the Swedish path keep working.
CONFIRM_OLD = "/confirm/"
UNSUBSCRIBE = "/u/"
REVIEW = "/granska/"
LINK = "/l/"
SITEMAP = "/sitemap.xml"
PODCAST_FEED = "podcast.xml"
STATIC = "/static/"
EPISODE_FILES = "/episodes/"
# Show-page pages past the first: `<show>/sida/2/` (a path, not a query, so a static copy works).
SHOW_PAGES = "sida"


def join(base_url: str, path: str) -> str:
    """`path` (already a URL path) under `base_url`, with exactly one slash between them."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def quoted(base_url: str, *parts: str) -> str:
    """`base_url` joined with percent-encoded path parts (feed and media URLs are ASCII)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + "/".join(urllib.parse.quote(part, safe="") for part in parts)


def site(workspace: Workspace, path: str) -> str:
    """An absolute URL under `[newsletter] public_url` (links that leave the site, e.g. in mail)."""
    return join(workspace.settings.newsletter.public_url, path)


def archive_path(slug: str) -> str:
    return f"{ARCHIVE}{slug}/"


def archive_url(workspace: Workspace, slug: str) -> str:
    return site(workspace, archive_path(slug))


def subscribe_url(workspace: Workspace) -> str:
    return site(workspace, SUBSCRIBE)


def unsubscribe_url(workspace: Workspace, token: str) -> str:
    return site(workspace, f"{UNSUBSCRIBE}{token}")


def archive_index_url(workspace: Workspace) -> str:
    return site(workspace, ARCHIVE)


def preferences_url(workspace: Workspace, token: str) -> str:
    """The preference page (segments, language, unsubscribe): the same signed link as unsubscribe."""
    return unsubscribe_url(workspace, token)


def confirm_url(workspace: Workspace, token: str) -> str:
    return site(workspace, f"{CONFIRM}{token}")


def review_url(workspace: Workspace, token: str) -> str:
    return site(workspace, f"{REVIEW}{token}")


def link_url(workspace: Workspace, slug: str, position: int | str) -> str:
    """A counted newsletter link: the same for every recipient (see newsletter/links.py)."""
    return site(workspace, f"{LINK}{slug}/{position}")


def static_path(name: str) -> str:
    return f"{STATIC}{name}"


def episode_file_path(slug: str, name: str) -> str:
    """A published episode file as the site serves it: `/episodes/<slug>/<name>`."""
    return EPISODE_FILES + "/".join(urllib.parse.quote(part, safe="") for part in (slug, name))


def show_path(workspace: Workspace, page: int = 1) -> str:
    """The show page's path on this site: the path of `[show] link` (default `/digitalsamtal/`),
    or `<that>/sida/<page>/` past the first page."""
    path = urllib.parse.urlsplit(workspace.settings.show.link).path or "/"
    path = "/" + path.strip("/") + "/" if path.strip("/") else "/"
    return path if page <= 1 else f"{path}{SHOW_PAGES}/{page}/"


def episode_path(workspace: Workspace, slug: str) -> str:
    return f"{show_path(workspace)}{urllib.parse.quote(slug, safe='')}/"


def podcast_feed_url(workspace: Workspace) -> str:
    """The podcast feed as published: `[show] base_url` + `feeds/podcast.xml` (as `feed build`
    writes it)."""
    return quoted(workspace.settings.show.base_url, "feeds", PODCAST_FEED)


def show_page_url(workspace: Workspace) -> str:
    """The podcast's public home page (`[show] link`, e.g. https://example.org/digitalsamtal/)."""
    link = workspace.settings.show.link
    return link if link.endswith("/") else link + "/"


def episode_page_url(workspace: Workspace, slug: str) -> str:
    """An episode's public page: `<show page>/<slug>/` (slugs are ASCII)."""
    return f"{show_page_url(workspace)}{urllib.parse.quote(slug, safe='')}/"


def show_page_number_url(workspace: Workspace, page: int) -> str:
    """The absolute URL of one page of the show page (page 1 is the show page itself)."""
    if page <= 1:
        return show_page_url(workspace)
    return f"{show_page_url(workspace)}{SHOW_PAGES}/{page}/"
