"""The podcast feed: published episodes, their publishable transcript exports, chapters,
consenting guests and what imported episodes keep from their old feed, with the show settings,
rendered by `feed.render` and checked by `feed.validate`.

Only what breaks apps stops the feed (validator errors); warnings are reported and the feed is
written. URL layout (the same as `outreach serve` and `export-site`, see `outreach/web/media.py`):
`{base_url}feeds/<file>`, `{base_url}episodes/<show cover>`, `{base_url}episodes/<slug>/<file>`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach import urls
from outreach.errors import FeedError
from outreach.feed import render as feed
from outreach.feed.report import BuildReport, FeedInvalidError
from outreach.feed.spec import (
    IMPORTED_LINKS_KEY,
    MAX_DESCRIPTION_BYTES,
    MEDIA_TYPES,
    PODCAST_GUID_KEY,
    podcast_guid_for,
)
from outreach.feed.text import shorten_html
from outreach.feed.validate import ImageFetcher, errors_in, validate_feed
from outreach.feed.validate.taxonomy import MAX_TITLE_CHARACTERS
from outreach.models import Episode, Meta, Transcript
from outreach.podcast.publishing import feed_problems
from outreach.podcast.summary import summary_html
from outreach.podcast.transcripts import episodes_with_publishable_version
from outreach.sanitize import apple_html, xml_text
from outreach.workspace import Workspace

PODCAST_FEED = "podcast.xml"
# Published transcript exports, in the order the feed lists them (VTT first): suffix, type, timed.
TRANSCRIPT_FORMATS = (
    (".vtt", "text/vtt", True),
    (".srt", "application/x-subrip", True),
    (".json", "application/json", True),
    (".html", "text/html", False),
    (".txt", "text/plain", False),
)
CHAPTERS_TYPE = "application/json+chapters"


def podcast_feed_url(workspace: Workspace) -> str:
    return urls.quoted(workspace.settings.show.base_url, "feeds", PODCAST_FEED)


def podcast_guid(session: Session, workspace: Workspace) -> str:
    """The show's podcast:guid: computed from the feed URL the first time (or kept from an
    imported show), then kept as stored."""
    stored = session.get(Meta, PODCAST_GUID_KEY)
    if stored is not None:
        return stored.value
    value = podcast_guid_for(podcast_feed_url(workspace))
    session.add(Meta(key=PODCAST_GUID_KEY, value=value))
    session.flush()
    return value


def imported_links(session: Session) -> dict[int, dict[str, Any]]:
    """Episode id -> what an imported episode keeps from its old feed (one query)."""
    prefix = IMPORTED_LINKS_KEY.format(id="")
    links: dict[int, dict[str, Any]] = {}
    for row in session.scalars(select(Meta).where(Meta.key.startswith(prefix))):
        try:
            episode_id, value = int(row.key[len(prefix) :]), json.loads(row.value)
        except ValueError:
            continue
        if isinstance(value, dict):
            links[episode_id] = value
    return links


def local_image_fetcher(workspace: Workspace) -> ImageFetcher:
    """Read images under `{base_url}episodes/` from the workspace (as `outreach serve` would)."""
    base = urls.quoted(workspace.settings.show.base_url, "episodes") + "/"
    cover_setting = workspace.settings.show.cover
    is_local = bool(cover_setting) and not cover_setting.startswith(("http://", "https://"))
    cover = workspace.path(cover_setting) if is_local else None
    root = workspace.episodes_dir.resolve()

    def fetch(url: str) -> bytes | None:
        if not url.startswith(base):
            return None
        parts = [urllib.parse.unquote(part) for part in url[len(base) :].split("/")]
        if len(parts) == 1 and cover is not None and parts[0] == cover.name:
            path = cover
        elif len(parts) == 2 and all(p and not p.startswith(".") for p in parts):
            path = (workspace.episodes_dir / parts[0] / parts[1]).resolve()
            if not path.is_relative_to(root):
                return None
        else:
            return None
        return path.read_bytes() if path.is_file() else None

    return fetch


def published_episodes(session: Session) -> list[Episode]:
    return list(
        session.scalars(
            select(Episode)
            .where(Episode.status == "published", Episode.published_at.is_not(None))
            .options(selectinload(Episode.people))
            .order_by(Episode.published_at.desc(), Episode.id.desc())
        )
    )


def _file_names(folder: Path) -> set[str]:
    """Names of the regular files in `folder` (one directory read instead of a stat per name)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except OSError:
        return set()


def _person(data: Any) -> feed.FeedPerson | None:
    if not isinstance(data, dict) or not data.get("name"):
        return None
    return feed.FeedPerson(
        name=xml_text(str(data["name"])),
        role=str(data.get("role") or "host"),
        group=str(data.get("group") or "cast"),
        href=data.get("href") or None,
        img=data.get("img") or None,
    )


def _kept_tag(data: Any) -> feed.KeptTag | None:
    if not isinstance(data, dict) or not data.get("tag"):
        return None
    attributes = data.get("attrs")
    children = data.get("children")
    if not isinstance(attributes, dict):
        attributes = {}
    if not isinstance(children, list):
        children = []
    return feed.KeptTag(
        name=str(data["tag"]),
        attributes=tuple((str(k), xml_text(str(v))) for k, v in attributes.items()),
        text=xml_text(str(data.get("text") or "")),
        children=tuple(tag for child in children if (tag := _kept_tag(child))),
    )


class _PodcastGatherer:
    """Turns the workspace and database into `feed.Channel` and `feed.Item` values."""

    def __init__(self, session: Session, workspace: Workspace, report: BuildReport) -> None:
        self.workspace = workspace
        self.session = session
        self.report = report
        self.show = workspace.settings.show
        show_persons = tuple(p for data in self.show.persons if (p := _person(data)))
        self.hosts = (
            *(feed.FeedPerson(name=name, role="host") for name in self.show.hosts),
            *show_persons,
        )
        self.episodes_base = self.url("episodes") + "/"
        self.imported = imported_links(session)
        self.with_transcripts = set(session.scalars(select(Transcript.episode_id).distinct()))
        self.publishable = episodes_with_publishable_version(
            session, review_enabled=workspace.settings.review.enabled
        )

    def url(self, *parts: str) -> str:
        return urls.quoted(self.show.base_url, *parts)

    def episode_url(self, episode: Episode, name: str) -> str:
        """`{base_url}episodes/<slug>/<name>`, percent-encoded."""
        quote = urllib.parse.quote
        return f"{self.episodes_base}{quote(episode.slug, safe='')}/{quote(name, safe='')}"

    def cover_url(self) -> str:
        """The show's artwork: a linked URL (kept from an imported show) or our own file."""
        cover_setting = self.show.cover
        if cover_setting.startswith(("http://", "https://")):
            return cover_setting
        cover = self.workspace.path(cover_setting) if cover_setting else None
        if cover is None or not cover.is_file():
            raise FeedError(
                f"the show cover {cover_setting or '(not set)'} does not exist: set [show] cover "
                "to a square JPEG or PNG of 1400 to 3000 px in the workspace"
            )
        return self.url("episodes", cover.name)

    def channel(self, now: dt.datetime, items: list[feed.Item]) -> feed.Channel:
        show = self.show
        return feed.Channel(
            title=show.title,
            description=show.description,
            link=show.link,
            feed_url=podcast_feed_url(self.workspace),
            language=show.language,
            copyright=show.copyright,
            image_url=self.cover_url(),
            category=show.category,
            subcategory=show.subcategory,
            explicit=show.explicit,
            author=show.author,
            owner_name=show.owner_name,
            owner_email=show.owner_email,
            hide_owner=show.hide_owner,
            show_type=show.show_type,
            podcast_guid=podcast_guid(self.session, self.workspace),
            medium=show.medium,
            funding_url=show.funding_url,
            funding_text=show.funding_text,
            hosts=self.hosts,
            last_build=now,
            pub_date=max((item.pub_date for item in items), default=None),
        )

    def item(self, episode: Episode) -> feed.Item | None:
        links = self.imported.get(episode.id, {})
        enclosure = self.enclosure(episode, links)
        if enclosure is None:
            self.report.warnings.append(
                f"episode {episode.slug}: left out, it has no audio (run 'outreach episode "
                "normalize' first)"
            )
            return None
        url, length, kind = enclosure
        assert episode.published_at is not None
        season_name = links.get("season_name")
        return feed.Item(
            guid=episode.guid,
            title=self.title(episode),
            description_html=self.description(episode),
            pub_date=episode.published_at,
            enclosure_url=url,
            enclosure_length=length,
            enclosure_type=kind,
            duration_seconds=(
                round(episode.duration_seconds) if episode.duration_seconds is not None else None
            ),
            explicit=episode.explicit or self.show.explicit,
            episode_type=episode.episode_type or "full",
            number=episode.number,
            season=episode.season,
            season_name=str(season_name) if season_name and episode.season is not None else None,
            image_url=self.episode_image(episode, links),
            transcripts=self.transcripts(episode, links),
            chapters=self.chapters(episode, links),
            people=self.people(episode, links),
            link=str(links.get("link") or urls.episode_page_url(self.workspace, episode.slug)),
            kept_tags=tuple(t for data in links.get("tags", []) if (t := _kept_tag(data))),
        )

    def enclosure(self, episode: Episode, links: dict[str, Any]) -> tuple[str, int, str] | None:
        audio = self.workspace.path(episode.audio) if episode.audio else None
        size = audio.stat().st_size if audio is not None and audio.is_file() else None
        if episode.enclosure_url:
            suffix = Path(urllib.parse.urlsplit(episode.enclosure_url).path).suffix.lower()
            kind = str(links.get("enclosure_type") or MEDIA_TYPES.get(suffix, "audio/mpeg"))
            length = size if size is not None else (episode.byte_size or 0)
            if not length:
                self.report.warnings.append(
                    f"episode {episode.slug}: its old feed gave no byte length for the audio; "
                    "'outreach episode import-feed FEED --download' fetches the file and its size"
                )
            return episode.enclosure_url, length, kind
        if audio is None or size is None:
            return None
        kind = str(links.get("enclosure_type") or "audio/mpeg")
        return self.episode_url(episode, audio.name), size, kind

    def title(self, episode: Episode) -> str:
        title = xml_text(episode.title)
        if len(title) > MAX_TITLE_CHARACTERS:
            self.report.warnings.append(
                f"episode {episode.slug}: title over {MAX_TITLE_CHARACTERS} characters, shortened "
                "in the feed"
            )
            title = title[: MAX_TITLE_CHARACTERS - 1].rstrip() + "…"
        return title

    def description(self, episode: Episode) -> str:
        html_text = summary_html(episode.summary) or apple_html(episode.title)
        shortened = shorten_html(html_text, MAX_DESCRIPTION_BYTES)
        if shortened != html_text:
            self.report.warnings.append(
                f"episode {episode.slug}: description over {MAX_DESCRIPTION_BYTES} bytes, "
                "shortened in the feed (markup and links kept)"
            )
        return shortened

    def episode_image(self, episode: Episode, links: dict[str, Any]) -> str | None:
        if episode.cover:
            path = self.workspace.path(episode.cover)
            if path.is_file():
                return self.episode_url(episode, path.name)
        image = links.get("image")
        return str(image) if image else None

    def transcripts(self, episode: Episode, links: dict[str, Any]) -> tuple[feed.FeedLink, ...]:
        if episode.id in self.with_transcripts and episode.id not in self.publishable:
            self.report.warnings.append(
                f"episode {episode.slug}: no accepted transcript yet, so none in the feed"
            )
            return ()
        files = _file_names(self.workspace.episodes_dir / episode.slug)
        found = []
        for suffix, kind, timed in TRANSCRIPT_FORMATS:
            name = f"{episode.slug}{suffix}"
            if name in files:
                found.append(
                    feed.FeedLink(
                        url=self.episode_url(episode, name),
                        type=kind,
                        language=episode.language,
                        rel="captions" if timed else None,
                    )
                )
        if found:
            return tuple(found)
        # Imported links: the language only where the old feed stated one.
        return tuple(
            feed.FeedLink(
                url=str(link["url"]),
                type=str(link["type"]),
                language=link.get("language"),
                rel=link.get("rel"),
            )
            for link in links.get("transcripts", [])
            if isinstance(link, dict) and link.get("url") and link.get("type")
        )

    def chapters(self, episode: Episode, links: dict[str, Any]) -> feed.FeedLink | None:
        if episode.chapters:
            path = self.workspace.path(episode.chapters)
            if path.is_file():
                return feed.FeedLink(url=self.episode_url(episode, path.name), type=CHAPTERS_TYPE)
        chapters = links.get("chapters")
        if isinstance(chapters, str) and chapters:
            return feed.FeedLink(url=chapters, type=CHAPTERS_TYPE)
        return None

    def people(self, episode: Episode, links: dict[str, Any]) -> tuple[feed.FeedPerson, ...]:
        """Item-level persons replace the channel's in Podcasting 2.0 apps, so hosts are repeated;
        an imported episode lists the persons its old feed gave."""
        imported = tuple(p for data in links.get("persons", []) if (p := _person(data)))
        if imported:
            return imported
        extra = []
        names = {host.name for host in self.hosts}
        for person in episode.people:
            if person.name in names:
                continue
            if person.role == "host":
                extra.append(feed.FeedPerson(name=xml_text(person.name), role="host"))
            elif person.role == "guest" and person.consent_named:
                extra.append(feed.FeedPerson(name=xml_text(person.name), role="guest"))
            else:
                continue
            names.add(person.name)
        return (*self.hosts, *extra) if extra else ()


def build_podcast_feed(
    session: Session, workspace: Workspace, now: dt.datetime, report: BuildReport
) -> bytes | None:
    """The validated podcast feed bytes, or None when no episode is published yet.
    FeedInvalidError only for validator errors; warnings go into `report.problems`."""
    gatherer = _PodcastGatherer(session, workspace, report)
    episodes = list(published_episodes(session))
    held = [
        f"{episode.slug}: {problem}"
        for episode in episodes
        for problem in feed_problems(session, workspace, episode)
    ]
    if held:
        # What listeners would download is not what was measured: no feed rather than a wrong one.
        raise FeedError(
            f"{len(held)} published episode(s) fail the publish gate: {'; '.join(held)}"
        )
    items = [item for episode in episodes if (item := gatherer.item(episode))]
    if not items:
        return None
    channel = gatherer.channel(now, items)
    data = feed.render_podcast(channel, items)

    problems = validate_feed(data, fetch=local_image_fetcher(workspace))
    report.problems = problems
    report.episodes = len(items)
    errors = errors_in(problems)
    if errors:
        raise FeedInvalidError(
            f"feeds/{PODCAST_FEED} not written: {len(errors)} problem(s) found by the validator",
            problems,
            report.warnings,
        )
    return data
