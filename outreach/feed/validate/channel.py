"""Rules for the <rss> element and the show's <channel>: namespaces, Apple's show tags, Podcasting 2.0."""

from __future__ import annotations

import difflib
import uuid
from typing import Any

from outreach.feed.spec import ITUNES_NS, NAMESPACES, PODCAST_NAMESPACES, PODCAST_NS
from outreach.feed.validate.checks import Checks
from outreach.feed.validate.taxonomy import APPLE_CATEGORIES, LANGUAGE_PATTERN, MEDIUMS


def namespaces_used(root: Any) -> set[str]:
    used: set[str] = set()
    for elem in root.iter():
        tag = elem.tag
        if isinstance(tag, str) and tag[0] == "{":
            used.add(tag[1 : tag.index("}")])
        for attribute in elem.attrib:
            if attribute[0] == "{":
                used.add(attribute[1 : attribute.index("}")])
    return used


def _looks_like_podcast_ns(ns: str) -> bool:
    lowered = ns.lower()
    return "podcastindex" in lowered or "podcast-namespace" in lowered


def check_namespaces(checks: Checks, root: Any, used: set[str]) -> None:
    declared = {uri: prefix for prefix, uri in (root.nsmap or {}).items()}
    for ns in sorted(used):
        if ns != ITUNES_NS and ns.lower() == ITUNES_NS.lower():
            checks.error(
                "namespace-itunes-case",
                f"xmlns:{declared.get(ns, 'itunes')}",
                f"the iTunes namespace is written {ns!r}",
                f'declare xmlns:itunes="{ITUNES_NS}" exactly (it is case-sensitive)',
            )
        if _looks_like_podcast_ns(ns) and ns not in PODCAST_NAMESPACES:
            checks.error(
                "namespace-podcast-wrong",
                f"xmlns:{declared.get(ns, 'podcast')}",
                f"the Podcasting 2.0 namespace is written {ns!r}, so apps ignore every "
                "podcast: tag",
                f'declare xmlns:podcast="{PODCAST_NS}"',
            )
    for prefix, ns in NAMESPACES.items():
        if ns in used and ns not in declared:
            checks.warning(
                "namespace-inner",
                f"xmlns:{prefix}",
                "declared on an inner element, not on <rss>",
                f'declare xmlns:{prefix}="{ns}" on the <rss> element',
            )
    if ITUNES_NS not in used:
        checks.error(
            "namespace-itunes-missing",
            "rss",
            "no iTunes tags (namespace not used)",
            f'declare xmlns:itunes="{ITUNES_NS}" and add the itunes: channel tags',
        )


def check_channel(checks: Checks, channel: Any) -> None:
    _check_basics(checks, channel)
    _check_artwork_and_categories(checks, channel)
    _check_people_and_links(checks, channel)
    check_podcast_channel(checks, channel)


def _text(channel: Any, path: str) -> str | None:
    elem = channel.find(path, NAMESPACES)
    return None if elem is None else (elem.text or "")


def _check_basics(checks: Checks, channel: Any) -> None:
    """Title, description, link and language."""
    checks.title("channel/title", _text(channel, "title"), "add the show's title")
    checks.description("channel/description", _text(channel, "description"), required=True)
    link = channel.find("link")
    if link is None or not (link.text or "").strip():
        checks.warning("link-missing", "channel/link", "missing", "add the show's web page")
    else:
        checks.url("channel/link", link.text.strip())
    language = (_text(channel, "language") or "").strip()
    if not language:
        checks.error(
            "language-missing",
            "channel/language",
            "missing",
            "add <language> with the show's ISO 639 code, e.g. en, en-US or sv",
        )
    elif not LANGUAGE_PATTERN.match(language):
        suggestion = language.replace("_", "-")
        fix = (
            f"use {suggestion}"
            if LANGUAGE_PATTERN.match(suggestion)
            else "use an ISO 639 code such as en, en-US or sv"
        )
        checks.error(
            "language-invalid", "channel/language", f"{language!r} is not a language code", fix
        )
    else:
        checks.language = language


def _check_artwork_and_categories(checks: Checks, channel: Any) -> None:
    image = channel.find("itunes:image", NAMESPACES)
    if image is None:
        checks.error(
            "image-missing",
            "channel/itunes:image",
            "missing",
            'add <itunes:image href="https://…/cover.jpg"/>',
        )
    else:
        checks.image("channel/itunes:image", image.get("href"))
    categories = channel.findall("itunes:category", NAMESPACES)
    if not categories:
        checks.error(
            "category-missing",
            "channel/itunes:category",
            "missing",
            'add <itunes:category text="…"/> with one of Apple\'s categories '
            "(https://podcasters.apple.com/support/1691-apple-podcasts-categories)",
        )
    for category in categories:
        _check_category(checks, category)
    checks.explicit(
        "channel/itunes:explicit", channel.find("itunes:explicit", NAMESPACES), required=True
    )


def _closest(name: str, choices: list[str]) -> str | None:
    lowered = {choice.lower(): choice for choice in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    prefix = [c for low, c in lowered.items() if name and low.startswith(name.lower())]
    return lowered[found[0]] if found else (prefix[0] if prefix else None)


def _check_category(checks: Checks, category: Any) -> None:
    name = category.get("text") or ""
    if name not in APPLE_CATEGORIES:
        closest = _closest(name, list(APPLE_CATEGORIES))
        checks.error(
            "category-invalid",
            "channel/itunes:category",
            f"{name!r} is not an Apple Podcasts category",
            f'use text="{closest}"'
            if closest
            else "use one of Apple's categories (https://podcasters.apple.com/support/1691)",
        )
        return
    for sub in category.findall("itunes:category", NAMESPACES):
        if sub.get("text") not in APPLE_CATEGORIES[name]:
            checks.error(
                "category-invalid",
                "channel/itunes:category/itunes:category",
                f"{sub.get('text')!r} is not a subcategory of {name!r}",
                f"use one of: {', '.join(sorted(APPLE_CATEGORIES[name])) or '(none)'}",
            )


def _check_people_and_links(checks: Checks, channel: Any) -> None:
    """Author, owner, show type and the rel="self" link."""
    if channel.find("itunes:author", NAMESPACES) is None:
        checks.warning(
            "author-missing", "channel/itunes:author", "missing", "add the show's author"
        )
    owner = channel.find("itunes:owner", NAMESPACES)
    if owner is None:
        checks.warning(
            "owner-missing",
            "channel/itunes:owner",
            "missing (Apple Podcasts Connect mails this address to verify ownership)",
            "add <itunes:owner> with itunes:name and itunes:email, at least when submitting",
        )
    elif owner.find("itunes:email", NAMESPACES) is None:
        checks.warning(
            "owner-missing", "channel/itunes:owner", "has no itunes:email", "add <itunes:email>"
        )
    show_type = channel.find("itunes:type", NAMESPACES)
    if show_type is not None and (show_type.text or "").strip() not in ("episodic", "serial"):
        checks.error(
            "show-type-invalid",
            "channel/itunes:type",
            f"{show_type.text!r} is not valid",
            "use episodic or serial",
        )
    self_link = next(
        (ln for ln in channel.findall("atom:link", NAMESPACES) if ln.get("rel") == "self"),
        None,
    )
    if self_link is None:
        checks.warning(
            "self-link-missing",
            "channel/atom:link",
            'no rel="self" link',
            'add <atom:link rel="self" type="application/rss+xml" href="(feed URL)"/>',
        )
    else:
        checks.url("channel/atom:link", self_link.get("href"))


def _check_show_guid(checks: Checks, guid: Any) -> None:
    value = (guid.text or "").strip()
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        checks.error(
            "show-guid-invalid",
            "channel/podcast:guid",
            f"{value!r} is not a UUID",
            "use a UUIDv5 of the feed URL",
        )
        return
    if parsed.version != 5:
        checks.warning(
            "show-guid-version",
            "channel/podcast:guid",
            f"UUID version {parsed.version}, the spec says version 5",
            "compute it as UUIDv5 of the feed URL (once, then keep it)",
        )


def check_podcast_channel(checks: Checks, channel: Any) -> None:
    """The Podcasting 2.0 show tags: guid, locked, funding, medium, persons."""
    guid = channel.find("podcast:guid", NAMESPACES)
    if guid is not None:
        _check_show_guid(checks, guid)
    locked = channel.find("podcast:locked", NAMESPACES)
    if locked is not None and (locked.text or "").strip() not in ("yes", "no"):
        checks.error(
            "locked-invalid",
            "channel/podcast:locked",
            f"{locked.text!r} is not valid",
            "use yes or no",
        )
    for funding in channel.findall("podcast:funding", NAMESPACES):
        checks.url("channel/podcast:funding", funding.get("url"))
        if len((funding.text or "").strip()) > 128:
            checks.warning(
                "funding-text-too-long",
                "channel/podcast:funding",
                "text over 128 characters",
                "shorten the text",
            )
    medium = channel.find("podcast:medium", NAMESPACES)
    if medium is not None and (medium.text or "").strip() not in MEDIUMS:
        checks.error(
            "medium-invalid",
            "channel/podcast:medium",
            f"{medium.text!r} is not a medium",
            "use podcast (or music, video, audiobook, …)",
        )
    checks.persons("channel", channel)
