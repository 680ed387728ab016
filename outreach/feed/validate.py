"""Check a podcast RSS feed against Apple's published rules and the Podcasting 2.0 spec.

Pure XML checks on the bytes (lxml, no feedgen), so any feed can be checked, not only ours.
Each `Problem` names the element and says how to fix it. Errors make a feed fail (Apple or a
Podcasting 2.0 app would reject or misread it); warnings are worth fixing but not fatal.
Cover art is checked too when `fetch` can get the image bytes for its URL.
"""

from __future__ import annotations

import email.utils
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from outreach.errors import FeedError
from outreach.podcast.images import cover_problems, image_info
from outreach.sanitize import disallowed_tags

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
NAMESPACES = {"itunes": ITUNES_NS, "podcast": PODCAST_NS, "atom": ATOM_NS, "content": CONTENT_NS}
# Namespace URIs seen in the wild that apps do not recognise.
# The original GitHub URI: some apps (gPodder's podcastparser) still read only that one.
OLD_PODCAST_NS = {
    "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",
    "https://github.com/podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",
}
WRONG_PODCAST_NS = {
    "http://podcastindex.org/namespace/1.0",
    "https://podcastindex.org/namespace/1.0/",
}
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
MAX_DESCRIPTION_BYTES = 4000

# https://podcasters.apple.com/support/1691-apple-podcasts-categories
APPLE_CATEGORIES: dict[str, set[str]] = {
    "Arts": {"Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"},
    "Business": {
        "Careers",
        "Entrepreneurship",
        "Investing",
        "Management",
        "Marketing",
        "Non-Profit",
    },
    "Comedy": {"Comedy Interviews", "Improv", "Stand-Up"},
    "Education": {"Courses", "How To", "Language Learning", "Self-Improvement"},
    "Fiction": {"Comedy Fiction", "Drama", "Science Fiction"},
    "Government": set(),
    "History": set(),
    "Health & Fitness": {
        "Alternative Health",
        "Fitness",
        "Medicine",
        "Mental Health",
        "Nutrition",
        "Sexuality",
    },
    "Kids & Family": {"Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"},
    "Leisure": {
        "Animation & Manga",
        "Automotive",
        "Aviation",
        "Crafts",
        "Games",
        "Hobbies",
        "Home & Garden",
        "Video Games",
    },
    "Music": {"Music Commentary", "Music History", "Music Interviews"},
    "News": {
        "Business News",
        "Daily News",
        "Entertainment News",
        "News Commentary",
        "Politics",
        "Sports News",
        "Tech News",
    },
    "Religion & Spirituality": {
        "Buddhism",
        "Christianity",
        "Hinduism",
        "Islam",
        "Judaism",
        "Religion",
        "Spirituality",
    },
    "Science": {
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    },
    "Society & Culture": {
        "Documentary",
        "Personal Journals",
        "Philosophy",
        "Places & Travel",
        "Relationships",
    },
    "Sports": {
        "Baseball",
        "Basketball",
        "Cricket",
        "Fantasy Sports",
        "Football",
        "Golf",
        "Hockey",
        "Rugby",
        "Running",
        "Soccer",
        "Swimming",
        "Tennis",
        "Volleyball",
        "Wilderness",
        "Wrestling",
    },
    "Technology": set(),
    "True Crime": set(),
    "TV & Film": {"After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"},
}
ENCLOSURE_TYPES = {
    "audio/mpeg",
    "audio/x-m4a",
    "audio/mp4",
    "audio/aac",
    "video/mp4",
    "video/x-m4v",
    "video/quicktime",
    "application/pdf",
}
TRANSCRIPT_TYPES = {
    "text/vtt",
    "application/x-subrip",
    "application/json",
    "text/html",
    "text/plain",
}
TIMED_TRANSCRIPT_TYPES = {"text/vtt", "application/x-subrip", "application/json", "application/srt"}
MEDIUMS = {
    "podcast",
    "music",
    "video",
    "film",
    "audiobook",
    "newsletter",
    "blog",
    "publisher",
    "course",
    "mixed",
}
MEDIUMS |= {f"{m}L" for m in MEDIUMS - {"publisher", "mixed"}}
EPISODE_TYPES = {"full", "trailer", "bonus"}
_DURATION = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    element: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.element}: {self.message}. Fix: {self.fix}"


ImageFetcher = Callable[[str], bytes | None]


def podcast_guid_for(feed_url: str) -> str:
    """The Podcasting 2.0 GUID: UUIDv5 over the feed URL without scheme and trailing slashes."""
    bare = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", feed_url.strip()).rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _is_ascii_url(url: str) -> bool:
    return url.isascii() and " " not in url


class _Checker:
    def __init__(self, fetch: ImageFetcher | None) -> None:
        self.problems: list[Problem] = []
        self.fetch = fetch

    def error(self, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("error", element, message, fix))

    def warning(self, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("warning", element, message, fix))

    # -- shared checks -------------------------------------------------------------------------

    def url(self, element: str, url: str | None, *, required: bool = True) -> bool:
        if not url or not url.strip():
            if required:
                self.error(element, "the URL is empty", "give the full https:// URL")
            return False
        if not _is_ascii_url(url):
            self.error(
                element,
                f"the URL {url!r} has non-ASCII characters or spaces",
                "percent-encode the URL (or use an ASCII file name)",
            )
            return False
        if not url.startswith(("http://", "https://")):
            self.error(element, f"{url!r} is not an http(s) URL", "use an absolute https:// URL")
            return False
        if url.startswith("http://"):
            self.warning(element, f"{url!r} is not https", "serve it over https")
        return True

    def description(self, element: str, text: str | None, *, required: bool) -> None:
        if text is None or not text.strip():
            if required:
                self.error(element, "missing or empty", "add a description of the show")
            return
        size = len(text.encode("utf-8"))
        if size > MAX_DESCRIPTION_BYTES:
            self.error(
                element,
                f"{size} bytes long; Apple allows {MAX_DESCRIPTION_BYTES}",
                f"shorten it to at most {MAX_DESCRIPTION_BYTES} bytes",
            )

    def explicit(self, element: str, elem: Any, *, required: bool) -> None:
        if elem is None:
            if required:
                self.error(element, "missing", "add <itunes:explicit>false</itunes:explicit>")
            return
        value = (elem.text or "").strip().lower()
        if value in ("true", "false"):
            return
        if value in ("yes", "no", "clean"):
            self.warning(
                element,
                f"{value!r} is the old form",
                "use true or false (clean and no mean false)",
            )
            return
        self.error(element, f"{value!r} is not a valid value", "use true or false")

    def image(self, element: str, href: str | None) -> None:
        if not self.url(element, href):
            return
        assert href is not None
        if not href.lower().split("?")[0].endswith((".jpg", ".jpeg", ".png")):
            self.error(element, f"{href!r} does not end in .jpg or .png", "link a JPEG or PNG file")
        if self.fetch is None:
            return
        data = self.fetch(href)
        if data is None:
            self.warning(
                element, f"could not read the image {href}", "check that the URL is reachable"
            )
            return
        for problem in cover_problems(image_info(data)):
            self.error(
                element,
                f"the image {href} {problem}",
                "use a square RGB JPEG or PNG of 1400×1400 to 3000×3000 px",
            )

    def integer(self, element: str, elem: Any, *, minimum: int = 1) -> None:
        if elem is None:
            return
        text = (elem.text or "").strip()
        if not text.isdigit() or int(text) < minimum:
            self.error(element, f"{text!r} is not a whole number ≥ {minimum}", "use e.g. 1, 2, 3")

    # -- the feed --------------------------------------------------------------------------------

    def namespaces(self, root: Any) -> None:
        declared = {uri: prefix for prefix, uri in (root.nsmap or {}).items()}
        used: set[str] = set()
        for elem in root.iter():
            tag = elem.tag
            if isinstance(tag, str) and tag[0] == "{":
                used.add(tag[1 : tag.index("}")])
            for attribute in elem.attrib:
                if attribute[0] == "{":
                    used.add(attribute[1 : attribute.index("}")])
        for ns in used:
            if ns != ITUNES_NS and ns.lower() == ITUNES_NS.lower():
                self.error(
                    f"xmlns:{declared.get(ns, 'itunes')}",
                    f"the iTunes namespace is written {ns!r}",
                    f'declare xmlns:itunes="{ITUNES_NS}" exactly (it is case-sensitive)',
                )
            if ns in OLD_PODCAST_NS:
                self.warning(
                    f"xmlns:{declared.get(ns, 'podcast')}",
                    "the Podcasting 2.0 namespace is the old GitHub URI",
                    f'declare xmlns:podcast="{PODCAST_NS}", the URI the spec names',
                )
            if ns in WRONG_PODCAST_NS:
                self.error(
                    f"xmlns:{declared.get(ns, 'podcast')}",
                    f"the Podcasting 2.0 namespace is written {ns!r}",
                    f'declare xmlns:podcast="{PODCAST_NS}"',
                )
        for prefix, ns in NAMESPACES.items():
            if ns in used and ns not in declared:
                self.warning(
                    f"xmlns:{prefix}",
                    "declared on an inner element, not on <rss>",
                    f'declare xmlns:{prefix}="{ns}" on the <rss> element',
                )
        if ITUNES_NS not in used:
            self.error(
                "rss",
                "no iTunes tags (namespace not used)",
                f'declare xmlns:itunes="{ITUNES_NS}" and add the itunes: channel tags',
            )

    def channel(self, channel: Any) -> None:
        def find(path: str) -> Any:
            return channel.find(path, NAMESPACES)

        def text(path: str) -> str | None:
            elem = find(path)
            return None if elem is None else (elem.text or "")

        title = text("title")
        if not title or not title.strip():
            self.error("channel/title", "missing or empty", "add the show's title")
        self.description("channel/description", text("description"), required=True)
        link = find("link")
        if link is None or not (link.text or "").strip():
            self.warning("channel/link", "missing", "add the show's web page")
        else:
            self.url("channel/link", link.text.strip())
        language = text("language")
        if not language:
            self.error("channel/language", "missing", "add <language>sv</language> (ISO 639)")
        elif not _LANGUAGE.match(language.strip()):
            self.error(
                "channel/language", f"{language!r} is not a language code", "use e.g. sv or en-US"
            )
        image = find("itunes:image")
        if image is None:
            self.error(
                "channel/itunes:image", "missing", 'add <itunes:image href="https://…/cover.jpg"/>'
            )
        else:
            self.image("channel/itunes:image", image.get("href"))
        categories = channel.findall("itunes:category", NAMESPACES)
        if not categories:
            self.error(
                "channel/itunes:category",
                "missing",
                'add <itunes:category text="Technology"/> (Apple\'s list)',
            )
        for category in categories:
            name = category.get("text") or ""
            if name not in APPLE_CATEGORIES:
                self.error(
                    "channel/itunes:category",
                    f"{name!r} is not an Apple Podcasts category",
                    "use one of Apple's categories, e.g. Technology or Society & Culture",
                )
                continue
            for sub in category.findall("itunes:category", NAMESPACES):
                if sub.get("text") not in APPLE_CATEGORIES[name]:
                    self.error(
                        "channel/itunes:category/itunes:category",
                        f"{sub.get('text')!r} is not a subcategory of {name!r}",
                        f"use one of: {', '.join(sorted(APPLE_CATEGORIES[name])) or '(none)'}",
                    )
        self.explicit("channel/itunes:explicit", find("itunes:explicit"), required=True)
        if find("itunes:author") is None:
            self.warning("channel/itunes:author", "missing", "add the show's author")
        owner = find("itunes:owner")
        if owner is None:
            self.warning(
                "channel/itunes:owner",
                "missing (Apple Podcasts Connect mails this address to verify ownership)",
                "add <itunes:owner> with itunes:name and itunes:email, at least when submitting",
            )
        elif owner.find("itunes:email", NAMESPACES) is None:
            self.warning("channel/itunes:owner", "has no itunes:email", "add <itunes:email>")
        show_type = find("itunes:type")
        if show_type is not None and (show_type.text or "").strip() not in ("episodic", "serial"):
            self.error(
                "channel/itunes:type", f"{show_type.text!r} is not valid", "use episodic or serial"
            )
        self_link = next(
            (ln for ln in channel.findall("atom:link", NAMESPACES) if ln.get("rel") == "self"),
            None,
        )
        if self_link is None:
            self.warning(
                "channel/atom:link",
                'no rel="self" link',
                'add <atom:link rel="self" type="application/rss+xml" href="(feed URL)"/>',
            )
        else:
            self.url("channel/atom:link", self_link.get("href"))
        self.podcast_channel(channel)

    def podcast_channel(self, channel: Any) -> None:
        guid = channel.find("podcast:guid", NAMESPACES)
        if guid is not None:
            value = (guid.text or "").strip()
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                self.error(
                    "channel/podcast:guid",
                    f"{value!r} is not a UUID",
                    "use a UUIDv5 of the feed URL",
                )
            else:
                if parsed.version != 5:
                    self.warning(
                        "channel/podcast:guid",
                        f"UUID version {parsed.version}, the spec says version 5",
                        "compute it as UUIDv5 of the feed URL (once, then keep it)",
                    )
        locked = channel.find("podcast:locked", NAMESPACES)
        if locked is not None and (locked.text or "").strip() not in ("yes", "no"):
            self.error("channel/podcast:locked", f"{locked.text!r} is not valid", "use yes or no")
        for funding in channel.findall("podcast:funding", NAMESPACES):
            self.url("channel/podcast:funding", funding.get("url"))
            if len((funding.text or "").strip()) > 128:
                self.warning(
                    "channel/podcast:funding", "text over 128 characters", "shorten the text"
                )
        medium = channel.find("podcast:medium", NAMESPACES)
        if medium is not None and (medium.text or "").strip() not in MEDIUMS:
            self.error(
                "channel/podcast:medium",
                f"{medium.text!r} is not a medium",
                "use podcast (or music, video, audiobook, …)",
            )
        self.persons("channel", channel)

    def persons(self, where: str, parent: Any) -> None:
        for person in parent.findall("podcast:person", NAMESPACES):
            name = (person.text or "").strip()
            if not name:
                self.error(f"{where}/podcast:person", "empty name", "put the person's name inside")
            elif len(name) > 128:
                self.error(f"{where}/podcast:person", "name over 128 characters", "shorten it")
            for attribute in ("href", "img"):
                if person.get(attribute) is not None:
                    self.url(f"{where}/podcast:person@{attribute}", person.get(attribute))

    def items(self, channel: Any) -> None:
        seen: dict[str, str] = {}
        items = channel.findall("item")
        if not items:
            self.error(
                "channel/item",
                "the feed has no episodes; Apple accepts a show only with at least one",
                "publish an episode first",
            )
        for index, item in enumerate(items, start=1):
            self.item(f"channel/item[{index}]", item, seen)

    def item(self, where: str, item: Any, seen: dict[str, str]) -> None:
        def find(path: str) -> Any:
            return item.find(path, NAMESPACES)

        title = find("title")
        if title is None or not (title.text or "").strip():
            self.error(f"{where}/title", "missing or empty", "give every episode a title")
        guid = find("guid")
        if guid is None or not (guid.text or "").strip():
            self.error(
                f"{where}/guid", "missing or empty", "give every episode a permanent, unique GUID"
            )
        else:
            value = guid.text.strip()
            if value in seen:
                self.error(
                    f"{where}/guid",
                    f"{value!r} is also the GUID of {seen[value]}",
                    "every episode needs its own GUID; never reuse one",
                )
            else:
                seen[value] = where
            if guid.get("isPermaLink", "true") == "true" and not value.startswith(
                ("http://", "https://")
            ):
                self.warning(
                    f"{where}/guid",
                    "isPermaLink is true (the default) but the GUID is not a URL",
                    'add isPermaLink="false"',
                )
        pub_date = find("pubDate")
        if pub_date is None:
            self.warning(f"{where}/pubDate", "missing", "add the publication date (RFC 2822)")
        else:
            try:
                email.utils.parsedate_to_datetime((pub_date.text or "").strip())
            except (TypeError, ValueError):
                self.error(
                    f"{where}/pubDate",
                    f"{pub_date.text!r} is not an RFC 2822 date",
                    "use e.g. Wed, 26 Apr 2023 08:00:00 +0000",
                )
        self.enclosure(f"{where}/enclosure", find("enclosure"))
        description = find("description")
        if description is None:
            description = find("content:encoded")
        self.description(
            f"{where}/description",
            None if description is None else description.text,
            required=False,
        )
        extra_tags = disallowed_tags(description.text or "") if description is not None else set()
        if extra_tags:
            self.warning(
                f"{where}/description",
                f"HTML Apple does not show: {', '.join(sorted(extra_tags))}",
                "use only <p>, <ol>, <ul>, <li> and <a href>",
            )
        self.duration(f"{where}/itunes:duration", find("itunes:duration"))
        self.explicit(f"{where}/itunes:explicit", find("itunes:explicit"), required=False)
        self.integer(f"{where}/itunes:episode", find("itunes:episode"))
        self.integer(f"{where}/itunes:season", find("itunes:season"))
        episode_type = find("itunes:episodeType")
        if episode_type is not None and (episode_type.text or "").strip() not in EPISODE_TYPES:
            self.error(
                f"{where}/itunes:episodeType",
                f"{episode_type.text!r} is not valid",
                "use full, trailer or bonus",
            )
        image = find("itunes:image")
        if image is not None:
            self.image(f"{where}/itunes:image", image.get("href"))
        self.podcast_item(where, item)

    def enclosure(self, where: str, enclosure: Any) -> None:
        if enclosure is None:
            self.error(where, "missing", "add <enclosure url=… length=… type=…/> with the audio")
            return
        self.url(where, enclosure.get("url"))
        kind = enclosure.get("type")
        if kind not in ENCLOSURE_TYPES:
            self.error(
                where,
                f"type {kind!r} is not one Apple accepts",
                "use audio/mpeg for MP3 (audio/x-m4a for AAC)",
            )
        length = (enclosure.get("length") or "").strip()
        if not length.isdigit() or int(length) <= 0:
            self.error(
                where,
                f"length {length!r} is not a byte count",
                "give the file's exact size in bytes",
            )

    def duration(self, where: str, elem: Any) -> None:
        if elem is None:
            self.warning(where, "missing", "add the duration in whole seconds")
            return
        text = (elem.text or "").strip()
        if text.isdigit():
            return
        if _DURATION.match(text):
            self.warning(
                where, f"{text!r} is HH:MM:SS; seconds are preferred", "give whole seconds"
            )
            return
        try:
            seconds = float(text)
        except ValueError:
            self.error(where, f"{text!r} is not a duration", "give whole seconds, e.g. 1830")
            return
        if seconds < 0:
            self.error(where, f"{text!r} is negative", "give whole seconds, e.g. 1830")
        else:
            self.warning(where, f"{text!r} has a fraction", "give whole seconds")

    def podcast_item(self, where: str, item: Any) -> None:
        transcripts = item.findall("podcast:transcript", NAMESPACES)
        for transcript in transcripts:
            element = f"{where}/podcast:transcript"
            self.url(element, transcript.get("url"))
            kind = transcript.get("type")
            if kind not in TRANSCRIPT_TYPES:
                self.error(
                    element,
                    f"type {kind!r} is not a transcript type",
                    "use text/vtt, application/x-subrip, application/json, text/html or text/plain",
                )
            rel = transcript.get("rel")
            if rel is not None and rel != "captions":
                self.error(element, f'rel="{rel}" is not valid', 'use rel="captions" or none')
            if rel == "captions" and kind not in TIMED_TRANSCRIPT_TYPES:
                self.error(
                    element,
                    f'rel="captions" on {kind}, which has no timing',
                    'drop rel="captions" from untimed formats',
                )
            language = transcript.get("language")
            if language is not None and not _LANGUAGE.match(language):
                self.error(element, f"{language!r} is not a language code", "use e.g. sv")
        for chapters in item.findall("podcast:chapters", NAMESPACES):
            self.url(f"{where}/podcast:chapters", chapters.get("url"))
            if chapters.get("type") != "application/json+chapters":
                self.error(
                    f"{where}/podcast:chapters",
                    f"type {chapters.get('type')!r}",
                    'use type="application/json+chapters"',
                )
        for tag in ("season", "episode"):
            elem = item.find(f"podcast:{tag}", NAMESPACES)
            if elem is None:
                continue
            try:
                float((elem.text or "").strip())
            except ValueError:
                self.error(f"{where}/podcast:{tag}", f"{elem.text!r} is not a number", "use 1, 2…")
        self.persons(where, item)


def parse_feed(data: bytes) -> Any:
    """The feed's root element, or FeedError for XML that is not well-formed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "Namespace prefix" in message:
            raise FeedError(
                f"not well-formed XML: {message} (declare the prefix on <rss>, e.g. "
                f'xmlns:itunes="{ITUNES_NS}")'
            ) from None
        raise FeedError(f"not well-formed XML: {message}") from None


def validate_feed(data: bytes, *, fetch: ImageFetcher | None = None) -> list[Problem]:
    """All problems found in a podcast RSS feed (empty list: it passes)."""
    try:
        root = parse_feed(data)
    except FeedError as exc:
        return [Problem("error", "rss", str(exc), "fix the XML so that it is well-formed")]
    checker = _Checker(fetch)
    if _local(root.tag) != "rss" or etree.QName(root).namespace:
        checker.error("rss", f"the root element is <{root.tag}>, not <rss>", "publish RSS 2.0")
        return checker.problems
    if root.get("version") != "2.0":
        checker.error("rss", f"version {root.get('version')!r}", 'use <rss version="2.0">')
    channel = root.find("channel")
    if channel is None:
        checker.error("rss/channel", "missing", "put the show's tags in <channel>")
        return checker.problems
    checker.namespaces(root)
    checker.channel(channel)
    checker.items(channel)
    return checker.problems


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
