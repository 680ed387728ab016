"""Imported items into the database, in batches: one query for the GUIDs already there, one
multi-row INSERT for the new episodes and one for what they keep beside their columns.

Imported episodes are published (they already were, in the old feed) and keep pointing at
their original audio (`Episode.enclosure_url`) unless `--download` fetched it. Their transcript
and chapters links, enclosure type, <link>, artwork, persons and other Podcasting 2.0 tags are
kept as JSON in the `meta` table (key `episode-links:<episode id>`), which `feed.build` reads.
An episode whose GUID is already in the database is left alone, so importing the same feed
twice adds nothing.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from outreach.errors import FeedError
from outreach.feed.importer.item import FeedItem
from outreach.feed.spec import IMPORTED_LINKS_KEY, SUFFIXES
from outreach.fetch import download
from outreach.models import Episode, Meta
from outreach.podcast.episodes import slugify
from outreach.workspace import Workspace

# Rows per INSERT; also below SQLite's limit of bound parameters in the GUID lookup.
BATCH = 500


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)


class EpisodeWriter:
    """Collects items and writes them a batch at a time (call `finish` at the end)."""

    def __init__(
        self,
        session: Session,
        workspace: Workspace,
        report: ImportReport,
        *,
        language: str,
        download_audio: bool = False,
        on_download: Callable[[int, int], None] | None = None,
    ) -> None:
        self.session = session
        self.workspace = workspace
        self.report = report
        self.language = language
        self.download_audio = download_audio
        self.on_download = on_download
        self.pending: list[FeedItem] = []
        # (episode id, item, only if the earlier import left it remote), fetched by `finish`.
        self.downloads: list[tuple[int, FeedItem, bool]] = []
        self.slugs = set(session.scalars(select(Episode.slug)))
        self._next_number: dict[str, int] = {}

    def add(self, item: FeedItem) -> None:
        self.pending.append(item)
        if len(self.pending) >= BATCH:
            self.flush()

    def finish(self) -> None:
        """Write what is pending, then download (after the caller's last check on the feed, so
        a refused import fetches nothing)."""
        self.flush()
        total = len(self.downloads)
        for done, (episode_id, item, only_missing) in enumerate(self.downloads, start=1):
            episode = self.session.get(Episode, episode_id)
            if episode is not None and not (
                only_missing and (episode.audio or not episode.enclosure_url)
            ):
                download_episode_audio(self.workspace, episode, item, self.report)
            if self.on_download is not None:
                self.on_download(done, total)
        self.session.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        rows = self.session.execute(
            select(Episode.guid, Episode.id).where(Episode.guid.in_([i.guid for i in batch]))
        )
        known: dict[str, int] = {guid: episode_id for guid, episode_id in rows}
        new = [item for item in batch if item.guid not in known]
        for item in batch:
            if item.guid in known:
                self.report.existing.append(item.title)
        ids = self._insert(new)
        self.report.added.extend(item.title for item in new)
        if self.download_audio:
            # Left as it is, except that --download fetches audio an earlier import did not.
            self.downloads.extend((known[i.guid], i, True) for i in batch if i.guid in known)
            self.downloads.extend(
                (episode_id, i, False) for episode_id, i in zip(ids, new, strict=True)
            )

    def _unique_slug(self, title: str) -> str:
        base = slugify(title)
        candidate, number = base, self._next_number.get(base, 2)
        while candidate in self.slugs:
            candidate, number = f"{base}-{number}", number + 1
        self._next_number[base] = number
        self.slugs.add(candidate)
        return candidate

    def _insert(self, items: list[FeedItem]) -> list[int]:
        if not items:
            return []
        rows = [
            {
                "guid": item.guid,
                "slug": self._unique_slug(item.title),
                "title": item.title,
                "summary": item.summary or None,
                "number": item.number,
                "season": item.season,
                "episode_type": item.episode_type,
                "language": self.language,
                "explicit": item.explicit,
                "status": "published",
                "published_at": item.published_at,
                "enclosure_url": item.enclosure_url,
                "byte_size": item.byte_size,
                "duration_seconds": item.duration_seconds,
            }
            for item in items
        ]
        # Core executemany (not the ORM's unit of work, and no RETURNING, which SQLite would
        # run row by row); the new ids come back in one query by GUID.
        table = cast(Table, Episode.__table__)
        self.session.execute(insert(table), rows)
        found = self.session.execute(
            select(Episode.guid, Episode.id).where(Episode.guid.in_([i.guid for i in items]))
        )
        by_guid: dict[str, int] = {guid: episode_id for guid, episode_id in found}
        ids = [by_guid[item.guid] for item in items]
        kept = [
            {"key": IMPORTED_LINKS_KEY.format(id=episode_id), "value": json.dumps(links)}
            for episode_id, item in zip(ids, items, strict=True)
            if (links := item.kept_links())
        ]
        if kept:
            self.session.execute(insert(cast(Table, Meta.__table__)), kept)
        return ids


def download_episode_audio(
    workspace: Workspace, episode: Episode, item: FeedItem, report: ImportReport
) -> None:
    """Fetch the episode's media into episodes/<slug>/; a warning if the old host fails."""
    url = episode.enclosure_url or item.enclosure_url
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    suffix = SUFFIXES.get(item.enclosure_type, suffix if suffix in SUFFIXES.values() else ".mp3")
    relative = f"episodes/{episode.slug}/{episode.slug}{suffix}"
    try:
        size = download(url, workspace.path(relative))
    except FeedError as exc:
        report.warnings.append(f"{item.title}: audio not downloaded, the feed keeps its URL: {exc}")
        return
    episode.audio = relative
    episode.byte_size = size
    report.downloaded.append(episode.title)
    if suffix == ".mp3":
        # Our copy is served from base_url from now on (see feed.build).
        episode.enclosure_url = None
