"""Check a podcast RSS feed against Apple's published rules and the Podcasting 2.0 spec.

Pure XML checks on the bytes (lxml, no feedgen), so any feed can be checked, not only ours.
Each `Problem` names the element, the rule and how to fix it. Errors are what makes Apple or a
Podcasting 2.0 app reject or misread the feed; warnings are worth fixing but break no client.
Cover art is checked too when `fetch` can get the image bytes for its URL. Both namespace URIs
of Podcasting 2.0 (the podcastindex.org one and the original GitHub one) get the same checks.

The rules live by area: `channel` (the show), `items` (each episode and across episodes),
`checks` (values shared by both, and the problem list), `taxonomy` (the lists values are
checked against).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from outreach.errors import FeedError
from outreach.feed.spec import (
    ITUNES_NS,
    MAX_DESCRIPTION_BYTES,
    OLD_PODCAST_NS,
    PODCAST_NS,
    podcast_guid_for,
)
from outreach.feed.validate.channel import check_channel, check_namespaces, namespaces_used
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


def _read_old_namespace_as_new(root: Any) -> None:
    """The spec makes the GitHub URI identical to the podcastindex.org one: check both alike."""
    old = f"{{{OLD_PODCAST_NS}}}"
    for elem in root.iter():
        if isinstance(elem.tag, str) and elem.tag.startswith(old):
            elem.tag = f"{{{PODCAST_NS}}}{elem.tag[len(old) :]}"


def validate_feed(data: bytes, *, fetch: ImageFetcher | None = None) -> list[Problem]:
    """All problems found in a podcast RSS feed (empty list: it passes)."""
    try:
        root = parse_feed(data)
    except FeedError as exc:
        return [Problem("error", "rss", str(exc), "fix the XML so that it is well-formed", "xml")]
    checks = Checks(fetch)
    if not isinstance(root.tag, str) or root.tag != "rss":
        checks.error(
            "not-rss", "rss", f"the root element is <{root.tag}>, not <rss>", "publish RSS 2.0"
        )
        return checks.problems
    if root.get("version") != "2.0":
        checks.error(
            "rss-version", "rss", f"version {root.get('version')!r}", 'use <rss version="2.0">'
        )
    channel = root.find("channel")
    if channel is None:
        checks.error(
            "channel-missing", "rss/channel", "missing", "put the show's tags in <channel>"
        )
        return checks.problems
    check_namespaces(checks, root, namespaces_used(root))
    _read_old_namespace_as_new(root)
    check_channel(checks, channel)
    check_items(checks, channel)
    return checks.problems


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
