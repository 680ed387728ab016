"""`outreach export-site`: the static parts of the site, laid out as the app serves them.

Feeds, the show cover, published episodes' audio, cover, chapters and transcripts, the stylesheet,
and the archive pages (rendered by the app itself, so the static copy matches what `serve` shows).
Subscribe, confirm and unsubscribe need the app and are not exported.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outreach import urls
from outreach.db import session_scope
from outreach.errors import OutreachError
from outreach.fsutil import atomic_write_bytes, public_mode
from outreach.newsletter.archive import sent_editions
from outreach.podcast.episodes import published_episodes
from outreach.web import create_app, media
from outreach.workspace import Workspace

STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class ExportReport:
    files: int = 0
    total_bytes: int = 0


def _copy(source: Path, target: Path, report: ExportReport) -> None:
    """Copy unless an identical file (same size and mtime) is already there."""
    stat = source.stat()
    if target.is_file():
        existing = target.stat()
        if existing.st_size == stat.st_size and int(existing.st_mtime) == int(stat.st_mtime):
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    shutil.copy2(source, tmp)
    # Served by a web server that may run as another user: never copy a private mode along.
    tmp.chmod(public_mode())
    tmp.replace(target)
    report.files += 1
    report.total_bytes += stat.st_size


def export_site(
    workspace: Workspace,
    destination: Path,
    progress: Callable[[float, float], None] | None = None,
) -> ExportReport:
    """Copy the static parts of the site to `destination` (created if needed)."""
    destination = destination.expanduser().resolve()
    if destination == workspace.root or workspace.root.is_relative_to(destination):
        raise OutreachError(f"export folder {destination} must not contain the workspace")
    report = ExportReport()
    copies: list[tuple[Path, Path]] = []
    if workspace.feeds_dir.is_dir():
        for path in sorted(workspace.feeds_dir.rglob("*")):
            relative = path.relative_to(workspace.feeds_dir)
            if (
                path.is_file()
                and not any(part.startswith(".") for part in relative.parts)
                and path.suffix.lower() in media.CONTENT_TYPES
            ):
                copies.append((path, destination / "feeds" / relative))
    cover = workspace.path(workspace.settings.show.cover)
    if cover.is_file() and cover.parent.resolve() == workspace.episodes_dir.resolve():
        copies.append((cover, destination / "episodes" / cover.name))
    with session_scope(workspace) as session:
        for episode in published_episodes(session):
            for name, (path, _cors) in sorted(media.published_files(workspace, episode).items()):
                copies.append((path, destination / "episodes" / episode.slug / name))
        editions = sent_editions(session, workspace)
    for path in sorted(STATIC_DIR.iterdir()):
        copies.append((path, destination / "static" / path.name))
    copies.append((media.FAVICON, destination / media.FAVICON.name))

    # The archive pages come from the app, so they match `outreach serve` byte for byte.
    app = create_app(workspace, dev_key=True)
    pages = [urls.ARCHIVE] + [urls.archive_path(e.slug) for e in editions]
    total = len(copies) + len(pages)
    done = 0
    for source, target in copies:
        _copy(source, target, report)
        done += 1
        if progress:
            progress(done, total)
    client = app.test_client()
    for url in pages:
        response = client.get(url)
        if response.status_code != 200:
            raise OutreachError(f"could not render {url} (status {response.status_code})")
        data = response.get_data()
        atomic_write_bytes(destination / url.strip("/") / "index.html", data)
        report.files += 1
        report.total_bytes += len(data)
        done += 1
        if progress:
            progress(done, total)
    return report
