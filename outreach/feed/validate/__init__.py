"""Check a podcast RSS feed against Apple's published rules and the Podcasting 2.0 spec.

Pure XML checks on the bytes (lxml, no feedgen), so any feed can be checked, not only ours.
Each `Problem` names the element and says how to fix it. Errors make a feed fail (Apple or a
Podcasting 2.0 app would reject or misread it); warnings are worth fixing but not fatal.
Cover art is checked too when `fetch` can get the image bytes for its URL.

The rules live by area: `channel` (the show), `items` (each episode), `checks` (values shared by
both, and the problem list), `taxonomy` (the lists values are checked against).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from outreach.errors import FeedError
from outreach.feed.spec import ITUNES_NS, MAX_DESCRIPTION_BYTES, podcast_guid_for
from outreach.feed.validate.channel import check_channel, check_namespaces
from outreach.feed.validate.checks import Checks, ImageFetcher, Problem
from outreach.feed.validate.items import check_items

__all__ = [
    "MAX_DESCRIPTION_BYTES",
    "ImageFetcher",
    "Problem",
    "errors_in",
    "parse_feed",
    "podcast_guid_for",
    "validate_feed",
]


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
    checks = Checks(fetch)
    if not isinstance(root.tag, str) or root.tag != "rss":
        checks.error("rss", f"the root element is <{root.tag}>, not <rss>", "publish RSS 2.0")
        return checks.problems
    if root.get("version") != "2.0":
        checks.error("rss", f"version {root.get('version')!r}", 'use <rss version="2.0">')
    channel = root.find("channel")
    if channel is None:
        checks.error("rss/channel", "missing", "put the show's tags in <channel>")
        return checks.problems
    check_namespaces(checks, root)
    check_channel(checks, channel)
    check_items(checks, channel)
    return checks.problems


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
