"""`outreach export-site`: the static parts of the site, laid out as the app serves them.

Feeds, the show cover, published episodes' audio, cover, chapters and transcripts, the static files,
the podcast's show and episode pages and `sitemap.xml` (from `outreach.site.render`, as `serve`
renders them), and the archive pages (rendered by the app itself, so the static copy matches what
`serve` shows).
Subscribe, confirm and unsubscribe need the app and are not exported.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from outreach import urls
from outreach.db import session_scope
from outreach.errors import OutreachError
from outreach.fsutil import atomic_write_bytes, public_mode
from outreach.newsletter.archive import sent_editions
from outreach.podcast.episodes import published_episodes
from outreach.site import render
from outreach.web import create_app, media
from outreach.workspace import Workspace

STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class ExportReport:
    files: int = 0
    total_bytes: int = 0
    removed: int = 0


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
    with session_scope(workspace) as session:
        copies = _copies(session, workspace, destination)
        # The podcast pages and the sitemap, from the renderer `serve` uses.
        pages = [(page.path, page.body) for page in render.all_pages(session, workspace)]
        editions = sent_editions(session, workspace)
    archive = [urls.ARCHIVE] + [urls.archive_path(e.slug) for e in editions]
    total = len(copies) + len(pages) + len(archive)
    done = 0
    for source, target in copies:
        _copy(source, target, report)
        done += 1
        if progress:
            progress(done, total)
    for path, body in pages + _archive_pages(workspace, archive):
        _write(destination / path.strip("/"), path, body, report)
        done += 1
        if progress:
            progress(done, total)
    written = {destination / path.strip("/") for path, _body in pages}
    report.removed = _prune(destination, workspace, copies, written)
    return report


def _prune(
    destination: Path, workspace: Workspace, copies: list[tuple[Path, Path]], pages: set[Path]
) -> int:
    """Remove what an earlier export wrote for episodes that are no longer published (their
    folders under `episodes/` and their pages under the show path), so a static copy never keeps
    what `serve` no longer shows. Only those two places are touched."""
    kept = {target.parent for _source, target in copies}
    removed = 0
    episodes = destination / "episodes"
    stale = (
        [f for f in episodes.iterdir() if f.is_dir() and f not in kept] if episodes.is_dir() else []
    )
    show = destination / urls.show_path(workspace).strip("/")
    if show != destination and show.is_dir():
        for folder in sorted(show.rglob("index.html")):
            if folder.parent != show and folder.parent not in pages:
                stale.append(folder.parent)
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def _copies(session: Session, workspace: Workspace, destination: Path) -> list[tuple[Path, Path]]:
    """(source, target) for the feeds, the show cover, published episodes' files, static files."""
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
    for episode in published_episodes(session):
        for name, (path, _cors) in sorted(media.published_files(workspace, episode).items()):
            copies.append((path, destination / "episodes" / episode.slug / name))
    for path in sorted(STATIC_DIR.iterdir()):
        copies.append((path, destination / "static" / path.name))
    copies.append((media.FAVICON, destination / media.FAVICON.name))
    return copies


def _archive_pages(workspace: Workspace, paths: list[str]) -> list[tuple[str, bytes]]:
    """The archive pages come from the app, so they match `outreach serve` byte for byte."""
    client = create_app(workspace, dev_key=True).test_client()
    pages = []
    for url in paths:
        response = client.get(url)
        if response.status_code != 200:
            raise OutreachError(f"could not render {url} (status {response.status_code})")
        pages.append((url, response.get_data()))
    return pages


def _write(target: Path, path: str, body: bytes, report: ExportReport) -> None:
    """A page: `<path>/index.html` for a folder path, else the file; unchanged pages are left."""
    if path.endswith("/"):
        target = target / "index.html"
    if target.is_file() and target.read_bytes() == body:
        return
    atomic_write_bytes(target, body)
    report.files += 1
    report.total_bytes += len(body)
