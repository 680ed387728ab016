"""The imported show itself: its settings, its permanent podcast:guid and its lock.

A moved show keeps its identity: the show-level `podcast:guid` (or, when the old feed has none,
the UUIDv5 of the old feed's URL, as the spec computes it) is stored once and used by every
later `feed build`. Show settings (title, description, language, artwork, category, author,
owner, explicit, type, funding, persons, medium, copyright) are offered as changes to
`[show]` in `outreach.toml`, which the caller shows as a diff before `write_show_settings`.
A feed marked `<podcast:locked>yes</podcast:locked>` must not be moved to a new platform by
anyone but its owner: `refuse_if_locked` says so in one line unless `force` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tomlkit
from sqlalchemy.orm import Session

from outreach.errors import ConfigError, FeedError
from outreach.feed.importer.item import absolute_url, clean_text, read_person
from outreach.feed.lenient import Fields, parse_explicit
from outreach.feed.spec import PODCAST_GUID_KEY, podcast_guid_for
from outreach.feed.validate.taxonomy import APPLE_CATEGORIES, LANGUAGE_PATTERN, MEDIUMS
from outreach.fetch import MAX_IMAGE_BYTES, fetch_url
from outreach.fsutil import atomic_write_bytes, atomic_write_text
from outreach.models import Meta
from outreach.podcast.images import cover_problems, image_info
from outreach.sanitize import strip_html
from outreach.workspace import Workspace, load_settings

MAX_SHOW_DESCRIPTION_BYTES = 4000
COVER_NAME = "show-cover"
_IMAGE_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png"}
ATOM = "http://www.w3.org/2005/atom"  # as `lenient.kind` names it (lower case)


@dataclass
class ShowInfo:
    """The channel of an imported feed, as settings and identity."""

    title: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    guid: str | None = None
    guid_source: str = ""
    locked: bool = False
    locked_owner: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SettingChange:
    key: str
    old: Any
    new: Any


def _plain(text: str | None, limit_bytes: int) -> str:
    plain = clean_text(strip_html(text or ""), 100_000)
    if len(plain.encode("utf-8")) <= limit_bytes:
        return plain
    cut = plain.encode("utf-8")[: limit_bytes - 3].decode("utf-8", errors="ignore")
    return cut.rsplit(" ", 1)[0] + "…"


def read_show(channel: Any, source_url: str | None) -> ShowInfo:
    """The show as the channel describes it (only the values it actually gives)."""
    fields = Fields(channel)
    show = ShowInfo(title=clean_text(strip_html(fields.text("", "title") or ""), 255))
    _read_texts(fields, show)
    _read_artwork_and_category(fields, show, source_url)
    _read_people_and_funding(fields, show, source_url)
    _read_identity(fields, show, source_url)
    return show


def _read_texts(fields: Fields, show: ShowInfo) -> None:
    values = show.settings
    if show.title:
        values["title"] = show.title
    description = fields.text("", "description") or fields.text("itunes", "summary")
    if description:
        values["description"] = _plain(description, MAX_SHOW_DESCRIPTION_BYTES)
    language = (fields.text("", "language") or "").strip().replace("_", "-")
    if language and LANGUAGE_PATTERN.match(language):
        values["language"] = language
    elif language:
        show.warnings.append(f"the show's language {language!r} is not a language code, not kept")
    for key, family, local in (
        ("author", "itunes", "author"),
        ("copyright", "", "copyright"),
    ):
        text = fields.text(family, local)
        if text:
            values[key] = clean_text(strip_html(text), 255)
    explicit = parse_explicit(fields.text("itunes", "explicit") or "")
    if explicit is not None:
        values["explicit"] = explicit
    show_type = (fields.text("itunes", "type") or "").strip().lower()
    if show_type in ("episodic", "serial"):
        values["show_type"] = show_type
    medium = (fields.text("podcast", "medium") or "").strip()
    if medium in MEDIUMS:
        values["medium"] = medium


def _read_artwork_and_category(fields: Fields, show: ShowInfo, base: str | None) -> None:
    image = fields.first("itunes", "image")
    href = image.get("href") if image is not None else None
    if not href:
        rss_image = fields.first("", "image")
        href = Fields(rss_image).text("", "url") if rss_image is not None else None
    cover = absolute_url(href, base, show.warnings.append, "show artwork") if href else None
    if cover:
        show.settings["cover"] = cover
    categories = fields.all("itunes", "category")
    if not categories:
        return
    name = (categories[0].get("text") or "").strip()
    sub = next((c.get("text") or "" for c in categories[0] if c.get("text")), "").strip()
    if name not in APPLE_CATEGORIES:
        show.warnings.append(f"the show's category {name!r} is not one of Apple's, not kept")
        return
    show.settings["category"] = name
    show.settings["subcategory"] = sub if sub in APPLE_CATEGORIES[name] else ""
    if len(categories) > 1:
        others = ", ".join(repr(c.get("text")) for c in categories[1:])
        show.warnings.append(f"only the first category is kept ({others} left out)")


def _read_people_and_funding(fields: Fields, show: ShowInfo, base: str | None) -> None:
    owner = fields.first("itunes", "owner")
    if owner is not None:
        owner_fields = Fields(owner)
        for key, local in (("owner_name", "name"), ("owner_email", "email")):
            text = owner_fields.text("itunes", local)
            if text:
                show.settings[key] = clean_text(text.strip(), 255)
    funding = fields.first("podcast", "funding")
    if funding is not None:
        url = absolute_url(funding.get("url"), base, show.warnings.append, "show funding")
        if url:
            show.settings["funding_url"] = url
            show.settings["funding_text"] = clean_text((funding.text or "").strip(), 128)
    people = [
        person
        for elem in fields.all("podcast", "person")
        if (person := read_person(elem, base, show.warnings.append, "show"))
    ]
    if people:
        plain_hosts = [
            p
            for p in people
            if set(p) <= {"name", "role", "group"}
            and p.get("role", "host").lower() == "host"
            and p.get("group", "cast").lower() == "cast"
        ]
        show.settings["hosts"] = [p["name"] for p in plain_hosts]
        show.settings["persons"] = [p for p in people if p not in plain_hosts]


def _read_identity(fields: Fields, show: ShowInfo, source_url: str | None) -> None:
    guid = (fields.text("podcast", "guid") or "").strip()
    if guid:
        show.guid, show.guid_source = guid[:100], "podcast:guid"
    else:
        self_url = next(
            (ln.get("href") for ln in fields.all(ATOM, "link") if ln.get("rel") == "self"),
            None,
        )
        feed_url = self_url or source_url
        if feed_url and feed_url.lower().startswith(("http://", "https://")):
            show.guid = podcast_guid_for(feed_url)
            show.guid_source = f"the UUIDv5 of the old feed URL {feed_url}"
    locked = fields.first("podcast", "locked")
    if locked is not None and (locked.text or "").strip().lower() == "yes":
        show.locked = True
        show.locked_owner = clean_text((locked.get("owner") or "").strip(), 255)


def refuse_if_locked(show: ShowInfo, force: bool) -> None:
    """A locked feed may only be moved by its owner (`force`, for the owner's own move)."""
    if show.locked and not force:
        owner = show.locked_owner or "its owner (no owner given)"
        raise FeedError(
            f"{show.title or 'the feed'} is locked (<podcast:locked>yes</podcast:locked>) by "
            f"{owner}: only the owner may move it; they can unlock it in the old host, or "
            "pass --force if this is your own show"
        )


def keep_show_guid(session: Session, show: ShowInfo) -> str | None:
    """Store the imported show's GUID for ever; a warning if the workspace already has another."""
    if not show.guid:
        return None
    stored = session.get(Meta, PODCAST_GUID_KEY)
    if stored is None:
        session.add(Meta(key=PODCAST_GUID_KEY, value=show.guid))
        session.flush()
        return None
    if stored.value != show.guid:
        return (
            f"this workspace's feed already has podcast:guid {stored.value}; it is kept "
            f"(the imported show's is {show.guid})"
        )
    return None


def settings_changes(workspace: Workspace, show: ShowInfo) -> list[SettingChange]:
    """What would change in [show] if the imported show's settings were taken over."""
    current = workspace.settings.show
    return [
        SettingChange(key, getattr(current, key), value)
        for key, value in show.settings.items()
        if getattr(current, key) != value
    ]


def download_artwork(workspace: Workspace, url: str) -> tuple[str, str | None]:
    """(the `cover` setting, a warning): the image copied into episodes/, or the URL kept."""
    try:
        data = fetch_url(url, limit=MAX_IMAGE_BYTES)
    except FeedError as exc:
        return url, f"artwork not downloaded, the feed links it: {exc}"
    info = image_info(data)
    if info is None or info.format not in _IMAGE_SUFFIXES:
        return url, f"artwork {url} is not a JPEG or PNG, the feed links it"
    relative = f"episodes/{COVER_NAME}{_IMAGE_SUFFIXES[info.format]}"
    atomic_write_bytes(workspace.path(relative), data)
    problems = cover_problems(info)
    warning = f"the downloaded artwork {'; '.join(problems)}" if problems else None
    return relative, warning


def _toml_value(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        array = tomlkit.array()
        for entry in value:
            table = tomlkit.inline_table()
            table.update(entry)
            array.append(table)
        return array.multiline(True)
    return value


def write_show_settings(workspace: Workspace, changes: list[SettingChange]) -> None:
    """Write the changes into [show] of outreach.toml, keeping its comments and layout."""
    path = workspace.settings_path
    old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    document = tomlkit.parse(old_text)
    if "show" not in document:
        document["show"] = tomlkit.table()
    table: Any = document["show"]
    for change in changes:
        table[change.key] = _toml_value(change.new)
    atomic_write_text(path, tomlkit.dumps(document))
    try:
        workspace.settings = load_settings(path)
    except ConfigError:
        atomic_write_text(path, old_text)
        raise
