"""`episode import-feed`: move an existing show in from its RSS feed, identity and all.

The feed is streamed (`source`), each item read forgivingly (`item`), written in batches
(`store`), and the show's own settings, GUID and lock handled by `show`. This module runs
them in order: a locked feed is refused before any item is written (or, if the lock comes
after the items, before anything is committed); the show's GUID is stored once; the settings
are returned for the caller to show and, when confirmed, write with `write_show_settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from outreach.feed.importer.item import FeedItem, ItemContext, read_item
from outreach.feed.importer.show import (
    SettingChange,
    ShowInfo,
    download_artwork,
    keep_show_guid,
    read_show,
    refuse_if_locked,
    settings_changes,
    write_show_settings,
)
from outreach.feed.importer.source import FeedReader
from outreach.feed.importer.store import EpisodeWriter, ImportReport
from outreach.feed.lenient import Fields, parse_date, parse_duration, parse_explicit
from outreach.workspace import Workspace

__all__ = [
    "FeedItem",
    "ImportOptions",
    "ImportReport",
    "ImportResult",
    "SettingChange",
    "ShowInfo",
    "download_artwork",
    "import_feed",
    "parse_date",
    "parse_duration",
    "parse_explicit",
    "settings_changes",
    "write_show_settings",
]


@dataclass(frozen=True)
class ImportOptions:
    source_url: str | None = None  # the feed's own URL: relative links resolve against it
    download_audio: bool = False
    force: bool = False  # import a locked feed (for the owner's own move)


@dataclass
class ImportResult:
    report: ImportReport
    show: ShowInfo = field(default_factory=ShowInfo)
    items: int = 0


def _item_context(channel: object, options: ImportOptions, report: ImportReport) -> ItemContext:
    fields = Fields(channel)
    fallback = None
    for tag in ("pubDate", "lastBuildDate"):
        fallback = fallback or parse_date(fields.text("", tag) or "")
    return ItemContext(
        explicit=parse_explicit(fields.text("itunes", "explicit") or "") or False,
        date=fallback,
        source_url=options.source_url,
        warnings=report.warnings,
        skipped=report.skipped,
    )


def _language(channel: object) -> str:
    return (Fields(channel).text("", "language") or "sv").split("-")[0].lower()[:8] or "sv"


def import_feed(
    session: Session,
    workspace: Workspace,
    path: Path,
    options: ImportOptions,
    *,
    on_bytes: Callable[[int], None] | None = None,
    on_download: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Stream the feed at `path` into the database; the show is returned, not yet applied.
    `on_bytes(n)` reports reading progress, `on_download(done, total)` the downloads."""
    reader = FeedReader(path, on_bytes)
    report = ImportReport(warnings=reader.warnings)
    result = ImportResult(report=report)
    writer: EpisodeWriter | None = None
    context: ItemContext | None = None
    seen: set[str] = set()
    for position, elem in enumerate(reader.items(), start=1):
        if writer is None or context is None:
            refuse_if_locked(read_show(reader.channel, options.source_url), options.force)
            context = _item_context(reader.channel, options, report)
            writer = EpisodeWriter(
                session,
                workspace,
                report,
                language=_language(reader.channel),
                download_audio=options.download_audio,
                on_download=on_download,
            )
        item = read_item(elem, position, context)
        result.items = position
        if item is None:
            continue
        if item.guid in seen:
            report.skipped.append(f"item {position}: GUID {item.guid!r} appears twice")
            continue
        seen.add(item.guid)
        writer.add(item)
    # The whole channel is known now; a lock given after the items still refuses the import
    # (nothing is committed: the caller's transaction is rolled back).
    result.show = read_show(reader.channel, options.source_url)
    refuse_if_locked(result.show, options.force)
    if writer is not None:
        writer.finish()
    report.warnings.extend(result.show.warnings)
    guid_warning = keep_show_guid(session, result.show)
    if guid_warning:
        report.warnings.append(guid_warning)
    return result
