"""The show page's content: the show, its published episodes newest first (50 a page), and how to
subscribe. Only published episodes are listed (`podcast.episodes.published_episodes`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from babel.dates import format_date
from markupsafe import Markup
from sqlalchemy.orm import Session

from outreach import urls
from outreach.fsutil import file_inside
from outreach.models import Episode
from outreach.podcast import summary
from outreach.podcast.episodes import count_published, published_episodes
from outreach.sanitize import apple_html, strip_html
from outreach.timeutil import zone
from outreach.workspace import Workspace

# Episodes per show page; older ones are on `<show>/sida/2/` and on.
PAGE_SIZE = 50
SUMMARY_CHARS = 240
_BLOCK_END = re.compile(r"</(?:p|li)>", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    detail: str = ""


@dataclass(frozen=True)
class EpisodeCard:
    """One published episode as the show page lists it (and as prev/next links name it)."""

    slug: str
    title: str
    number: int | None
    path: str
    url: str
    date_iso: str
    date_text: str
    duration_iso: str
    duration_text: str
    summary_text: str


@dataclass
class ShowPage:
    title: str
    description_html: Markup
    hosts: list[str]
    cover_path: str | None
    cover_url: str | None
    feed_url: str
    platforms: list[Link]
    episodes: list[EpisodeCard]
    page: int
    pages: int
    path: str
    url: str
    previous_page: str | None = None
    next_page: str | None = None


def duration_iso(seconds: float | None) -> str:
    if not seconds:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


def duration_text(seconds: float | None) -> str:
    """Swedish length of an episode: "45 min", "1 tim 5 min", "under 1 min"."""
    if not seconds:
        return ""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under 1 min"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} tim {rest} min" if rest else f"{hours} tim"


def episode_card(workspace: Workspace, episode: Episode) -> EpisodeCard:
    published = episode.published_at
    day = (
        published.astimezone(zone(workspace.settings.newsletter.timezone)).date()
        if published
        else None
    )
    # Paragraph ends become spaces, so "<p>a.</p><p>b.</p>" reads "a. b.".
    summary = " ".join(strip_html(_BLOCK_END.sub(" ", apple_html(episode.summary or ""))).split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return EpisodeCard(
        slug=episode.slug,
        title=episode.title,
        number=episode.number,
        path=urls.episode_path(workspace, episode.slug),
        url=urls.episode_page_url(workspace, episode.slug),
        date_iso=day.isoformat() if day else "",
        date_text=format_date(day, "d MMMM y", locale="sv") if day else "",
        duration_iso=duration_iso(episode.duration_seconds),
        duration_text=duration_text(episode.duration_seconds),
        summary_text=summary,
    )


def show_cover(workspace: Workspace) -> tuple[str | None, str | None]:
    """(path on this site, absolute URL) of the show cover, served as `/episodes/<name>`."""
    cover = workspace.path(workspace.settings.show.cover) if workspace.settings.show.cover else None
    if cover is None or not file_inside(cover, workspace.episodes_dir):
        return None, None
    if cover.parent.resolve() != workspace.episodes_dir.resolve():
        return None, None
    return urls.EPISODE_FILES + cover.name, urls.quoted(
        workspace.settings.show.base_url, "episodes", cover.name
    )


def _platforms(workspace: Workspace) -> list[Link]:
    show = workspace.settings.show
    links = []
    if show.apple_podcasts_id:
        links.append(
            Link("Apple Podcasts", f"https://podcasts.apple.com/podcast/id{show.apple_podcasts_id}")
        )
    if show.spotify_id:
        links.append(Link("Spotify", f"https://open.spotify.com/show/{show.spotify_id}"))
    if show.podcast_index_id:
        links.append(
            Link("Podcast Index", f"https://podcastindex.org/podcast/{show.podcast_index_id}")
        )
    return links


def markdown_html(text: str) -> Markup:
    """Markdown from the settings as HTML (raw HTML in it is shown as text, not markup)."""
    return Markup(summary.markdown_html(text))


def show_page(session: Session, workspace: Workspace, page: int = 1) -> ShowPage | None:
    """Page `page` of the show page (None past the last page; page 1 always exists)."""
    pages = page_count(count_published(session))
    if page < 1 or page > pages:
        return None
    chosen = published_episodes(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return replace(
        show_header(workspace),
        episodes=[episode_card(workspace, e) for e in chosen],
        page=page,
        pages=pages,
        path=urls.show_path(workspace, page),
        url=urls.show_page_number_url(workspace, page),
        previous_page=urls.show_path(workspace, page - 1) if page > 1 else None,
        next_page=urls.show_path(workspace, page + 1) if page < pages else None,
    )


def show_header(workspace: Workspace) -> ShowPage:
    """The show without its episode list (what an episode page shows of it)."""
    show = workspace.settings.show
    cover_path, cover_url = show_cover(workspace)
    return ShowPage(
        title=show.title,
        description_html=markdown_html(show.description),
        hosts=list(show.hosts),
        cover_path=cover_path,
        cover_url=cover_url,
        feed_url=urls.podcast_feed_url(workspace),
        platforms=_platforms(workspace),
        episodes=[],
        page=1,
        pages=1,
        path=urls.show_path(workspace),
        url=urls.show_page_url(workspace),
    )


def page_count(episodes: int) -> int:
    """How many show pages `episodes` published episodes take (at least one)."""
    return max(1, math.ceil(episodes / PAGE_SIZE))
