"""Rendering feeds with feedgen: the podcast RSS (iTunes + Podcasting 2.0 tags) and the Atom feed.

This is the only module that imports feedgen. It takes plain values (`Channel`, `Item`,
`AtomFeed`) and returns bytes; gathering those values from the workspace is `feed_build`'s job.
feedgen raises bare `ValueError` for missing or malformed fields: we turn it into `FeedError`.

Podcasting 2.0 (https://podcastindex.org/namespace/1.0) has no feedgen extension, so
`PodcastIndexExtension` / `PodcastIndexEntryExtension` below are ours. They also write
`itunes:explicit` as `true`/`false`, the values Apple documents today (feedgen only knows
the older yes/no/clean).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from outreach.errors import FeedError

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
GENERATOR = "outreach"


@dataclass(frozen=True)
class FeedPerson:
    """A `podcast:person`: role and group from the Podcast Taxonomy (host/guest, cast)."""

    name: str
    role: str = "host"
    group: str = "cast"
    href: str | None = None
    img: str | None = None


@dataclass(frozen=True)
class FeedLink:
    """A `podcast:transcript` or `podcast:chapters` link."""

    url: str
    type: str
    language: str | None = None
    rel: str | None = None


@dataclass(frozen=True)
class Channel:
    title: str
    description: str
    link: str
    feed_url: str
    language: str
    copyright: str
    image_url: str
    category: str
    subcategory: str
    explicit: bool
    author: str
    owner_name: str
    owner_email: str
    hide_owner: bool
    show_type: str
    podcast_guid: str
    medium: str
    funding_url: str = ""
    funding_text: str = ""
    locked: bool = True
    hosts: tuple[FeedPerson, ...] = ()
    last_build: dt.datetime | None = None
    pub_date: dt.datetime | None = None


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description_html: str
    pub_date: dt.datetime
    enclosure_url: str
    enclosure_length: int
    enclosure_type: str = "audio/mpeg"
    duration_seconds: int | None = None
    explicit: bool = False
    episode_type: str = "full"
    number: int | None = None
    season: int | None = None
    image_url: str | None = None
    transcripts: tuple[FeedLink, ...] = ()
    chapters: FeedLink | None = None
    people: tuple[FeedPerson, ...] = ()
    link: str | None = None


def _explicit_text(value: bool) -> str:
    return "true" if value else "false"


def _person_elem(parent: Any, person: FeedPerson) -> None:
    elem = xml_elem(f"{{{PODCAST_NS}}}person", parent)
    elem.attrib["role"] = person.role
    elem.attrib["group"] = person.group
    if person.img:
        elem.attrib["img"] = person.img
    if person.href:
        elem.attrib["href"] = person.href
    elem.text = person.name


class PodcastIndexExtension(BaseExtension):
    """Channel-level Podcasting 2.0 tags, plus `itunes:explicit` true/false."""

    def __init__(self) -> None:
        self.guid: str | None = None
        self.locked: bool | None = None
        self.locked_owner: str | None = None
        self.funding: tuple[str, str] | None = None
        self.medium: str | None = None
        self.persons: tuple[FeedPerson, ...] = ()
        self.explicit: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed[0]
        if self.explicit is not None:
            xml_elem(f"{{{ITUNES_NS}}}explicit", channel).text = _explicit_text(self.explicit)
        if self.guid:
            xml_elem(f"{{{PODCAST_NS}}}guid", channel).text = self.guid
        if self.locked is not None:
            locked = xml_elem(f"{{{PODCAST_NS}}}locked", channel)
            if self.locked_owner:
                locked.attrib["owner"] = self.locked_owner
            locked.text = "yes" if self.locked else "no"
        if self.funding:
            url, text = self.funding
            funding = xml_elem(f"{{{PODCAST_NS}}}funding", channel)
            funding.attrib["url"] = url
            funding.text = text
        if self.medium:
            xml_elem(f"{{{PODCAST_NS}}}medium", channel).text = self.medium
        for person in self.persons:
            _person_elem(channel, person)
        return rss_feed


class PodcastIndexEntryExtension(BaseEntryExtension):
    """Item-level Podcasting 2.0 tags, plus `itunes:explicit` true/false."""

    def __init__(self) -> None:
        self.explicit: bool | None = None
        self.transcripts: tuple[FeedLink, ...] = ()
        self.chapters: FeedLink | None = None
        self.season: int | None = None
        self.episode: int | None = None
        self.persons: tuple[FeedPerson, ...] = ()

    def extend_rss(self, entry: Any) -> Any:
        if self.explicit is not None:
            xml_elem(f"{{{ITUNES_NS}}}explicit", entry).text = _explicit_text(self.explicit)
        for link in self.transcripts:
            elem = xml_elem(f"{{{PODCAST_NS}}}transcript", entry)
            elem.attrib["url"] = link.url
            elem.attrib["type"] = link.type
            if link.language:
                elem.attrib["language"] = link.language
            if link.rel:
                elem.attrib["rel"] = link.rel
        if self.chapters is not None:
            elem = xml_elem(f"{{{PODCAST_NS}}}chapters", entry)
            elem.attrib["url"] = self.chapters.url
            elem.attrib["type"] = self.chapters.type
        if self.season is not None:
            xml_elem(f"{{{PODCAST_NS}}}season", entry).text = str(self.season)
        if self.episode is not None:
            xml_elem(f"{{{PODCAST_NS}}}episode", entry).text = str(self.episode)
        for person in self.persons:
            _person_elem(entry, person)
        return entry


def _new_generator() -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", PodcastIndexExtension, PodcastIndexEntryExtension)
    return fg


def render_podcast(channel: Channel, items: list[Item]) -> bytes:
    """The RSS 2.0 podcast feed as UTF-8 bytes; items in the order given."""
    try:
        fg = _new_generator()
        fg.title(channel.title)
        fg.description(channel.description)
        # feedgen uses the last link given as RSS <link>, so the self link goes first.
        fg.link(href=channel.feed_url, rel="self", type="application/rss+xml")
        fg.link(href=channel.link, rel="alternate")
        fg.language(channel.language)
        if channel.copyright:
            fg.copyright(channel.copyright)
        fg.generator(GENERATOR)
        fg.image(url=channel.image_url, title=channel.title, link=channel.link)
        if channel.last_build is not None:
            fg.lastBuildDate(channel.last_build)
        if channel.pub_date is not None:
            fg.pubDate(channel.pub_date)
        podcast: Any = fg.podcast
        podcast.itunes_image(channel.image_url)
        category = {"cat": channel.category}
        if channel.subcategory:
            category["sub"] = channel.subcategory
        podcast.itunes_category(category)
        podcast.itunes_author(channel.author)
        if not channel.hide_owner:
            podcast.itunes_owner(name=channel.owner_name, email=channel.owner_email)
        podcast.itunes_type(channel.show_type)
        index: PodcastIndexExtension = fg.podcastindex
        index.explicit = channel.explicit
        index.guid = channel.podcast_guid
        index.locked = channel.locked
        index.locked_owner = None if channel.hide_owner else channel.owner_email
        if channel.funding_url:
            index.funding = (channel.funding_url, channel.funding_text or channel.title)
        index.medium = channel.medium
        index.persons = channel.hosts
        for item in items:
            _add_item(fg, item)
        data: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    except ValueError as exc:
        raise FeedError(f"cannot build the podcast feed: {exc}") from None
    return data


def _add_item(fg: FeedGenerator, item: Item) -> None:
    entry: FeedEntry = fg.add_entry(order="append")
    entry.guid(item.guid, permalink=False)
    entry.title(item.title)
    if item.link:
        entry.link(href=item.link)
    # type CDATA puts the HTML in <description><![CDATA[...]]>, the form Apple documents.
    entry.content(item.description_html, type="CDATA")
    entry.enclosure(item.enclosure_url, str(item.enclosure_length), item.enclosure_type)
    entry.pubDate(item.pub_date)
    itunes: Any = entry.podcast
    if item.duration_seconds is not None:
        itunes.itunes_duration(str(item.duration_seconds))
    if item.number is not None:
        itunes.itunes_episode(item.number)
    if item.season is not None:
        itunes.itunes_season(item.season)
    itunes.itunes_episode_type(item.episode_type)
    if item.image_url:
        itunes.itunes_image(item.image_url)
    index: PodcastIndexEntryExtension = entry.podcastindex
    index.explicit = item.explicit
    index.transcripts = item.transcripts
    index.chapters = item.chapters
    index.season = item.season
    index.episode = item.number
    index.persons = item.people


@dataclass(frozen=True)
class AtomEntry:
    id: str
    title: str
    link: str
    updated: dt.datetime
    summary: str = ""


@dataclass(frozen=True)
class AtomFeed:
    id: str
    title: str
    link: str
    self_url: str
    language: str
    updated: dt.datetime
    author: str
    subtitle: str = ""
    entries: list[AtomEntry] = field(default_factory=list)


def render_atom(feed: AtomFeed) -> bytes:
    """An Atom 1.0 feed as UTF-8 bytes; entries in the order given."""
    try:
        fg = FeedGenerator()
        fg.id(feed.id)
        fg.title(feed.title)
        if feed.subtitle:
            fg.subtitle(feed.subtitle)
        fg.link(href=feed.link, rel="alternate", type="text/html")
        fg.link(href=feed.self_url, rel="self", type="application/atom+xml")
        fg.language(feed.language)
        fg.author(name=feed.author)
        fg.generator(GENERATOR)
        fg.updated(feed.updated)
        for entry in feed.entries:
            fe = fg.add_entry(order="append")
            fe.id(entry.id)
            fe.title(entry.title)
            fe.link(href=entry.link, rel="alternate", type="text/html")
            fe.updated(entry.updated)
            fe.published(entry.updated)
            if entry.summary:
                fe.summary(entry.summary)
        data: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    except ValueError as exc:
        raise FeedError(f"cannot build the Atom feed: {exc}") from None
    return data
