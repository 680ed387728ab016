"""Feeds and published episode media, with HEAD, byte ranges, ETag/Last-Modified and CORS.

Only files we mean to publish are reachable: anything in `feeds/`, the show cover, and for
*published* episodes their normalised audio, cover, chapters and transcript exports, all looked up
from the database and the folder listing, never by joining a requested path.
URL layout (the same in `export-site`): `/feeds/<file>`, `/episodes/<cover>`, `/episodes/<slug>/<file>`,
and the site's `/favicon.ico`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, request
from werkzeug.security import safe_join
from werkzeug.utils import send_file
from werkzeug.wrappers import Response

from outreach.db import session_scope
from outreach.fsutil import file_inside
from outreach.models import Episode
from outreach.podcast.episodes import published_episode
from outreach.web.state import current_workspace
from outreach.workspace import Workspace

bp = Blueprint("media", __name__)

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    # Source tracks, which the review page plays before the episode is normalised.
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".ics": "text/calendar; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/vnd.microsoft.icon",
}
FAVICON = Path(__file__).parent / "static" / "favicon.ico"
TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".json", ".txt", ".html")
# One RFC 9110 range-spec: "first-last", "first-" or "-suffix" (ASCII digits only).
BYTE_RANGE = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
ROOT_ELEMENT = re.compile(rb"<(?![?!])([\w:.-]+)")
FEED_MAX_AGE = 300
MEDIA_MAX_AGE = 86_400
# Transcript HTML is static text: no script, no forms.
STATIC_HTML_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def serve_file(path: Path, *, max_age: int, cors: bool = False) -> Response:
    """send_file with conditional=True: HEAD, Range (206/416), ETag and Last-Modified (304)."""
    suffix = path.suffix.lower()
    if suffix not in CONTENT_TYPES:
        abort(404)
    environ = dict(request.environ)
    wanted = byte_range(environ.pop("HTTP_RANGE", None), path.stat().st_size)
    if wanted is not None:
        environ["HTTP_RANGE"] = wanted
    response = send_file(
        path,
        environ,
        conditional=True,
        max_age=max_age,
        response_class=current_app.response_class,
    )
    # Set the full header ourselves: werkzeug would add a second charset to text/* types.
    response.headers["Content-Type"] = (
        CONTENT_TYPES[".atom"] if suffix == ".xml" and _is_atom(path) else CONTENT_TYPES[suffix]
    )
    response.headers["Accept-Ranges"] = "bytes"
    if cors:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = (
            "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"
        )
    if suffix == ".html":
        response.headers["Content-Security-Policy"] = STATIC_HTML_CSP
    return response


def byte_range(header: str | None, size: int) -> str | None:
    """The Range header to act on (RFC 9110 14.2), or None to ignore it and send the whole file.

    Werkzeug answers 416 to anything it cannot parse; the RFC says a server ignores a Range it
    does not understand (another unit, bad syntax) and may ignore several ranges, which we do
    (players ask for one). A suffix longer than the file means the whole file, as a 206.
    A valid range that starts past the end stays as it is, so Werkzeug answers 416.
    """
    if header is None:
        return None
    unit, equals, ranges = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip(" \t") for spec in ranges.split(",") if spec.strip(" \t")]
    match = BYTE_RANGE.fullmatch(specs[0]) if len(specs) == 1 else None
    if match is None:
        return None
    first, last, suffix = (_position(group) for group in match.groups())
    if suffix is not None:
        return "bytes=0-" if suffix >= size > 0 else f"bytes=-{suffix}"
    assert first is not None
    if last is not None and last < first:
        return None
    return f"bytes={first}-{'' if last is None else last}"


def _position(digits: str | None) -> int | None:
    """A byte position; past 18 digits it is beyond any file (and int() of 4,301 digits raises)."""
    if not digits:
        return None
    return int(digits) if len(digits) <= 18 else 10**18


def _is_atom(path: Path) -> bool:
    """An .xml feed whose root is Atom's <feed> (feeds/nyhetsbrev.xml) rather than RSS's <rss>."""
    with path.open("rb") as handle:
        root = ROOT_ELEMENT.search(handle.read(2048))
    return root is not None and root.group(1).split(b":")[-1] == b"feed"


@bp.route("/feeds/<path:name>")
def feed_file(name: str) -> Any:
    folder = current_workspace().feeds_dir
    joined = safe_join(str(folder), name)
    if joined is None or any(part.startswith(".") for part in Path(name).parts):
        abort(404)
    path = Path(joined)
    if not file_inside(path, folder):
        abort(404)
    return serve_file(path, max_age=FEED_MAX_AGE, cors=True)


def published_files(workspace: Workspace, episode: Episode) -> dict[str, tuple[Path, bool]]:
    """URL name -> (file, needs CORS) for one published episode."""
    folder = workspace.episodes_dir / episode.slug
    files: dict[str, tuple[Path, bool]] = {}
    if folder.is_dir():
        for child in folder.iterdir():
            if child.suffix.lower() in TRANSCRIPT_SUFFIXES and not child.name.startswith("."):
                files[child.name] = (child, True)
    for relative, cors in (
        (episode.audio, False),
        (episode.cover, False),
        (episode.chapters, True),
    ):
        if relative:
            path = workspace.path(relative)
            files[path.name] = (path, cors)
    return {
        name: (path, cors)
        for name, (path, cors) in files.items()
        if file_inside(path, workspace.root) and path.suffix.lower() in CONTENT_TYPES
    }


@bp.route("/episodes/<slug>/<name>")
def episode_file(slug: str, name: str) -> Any:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        episode = published_episode(session, slug)
        if episode is None:
            abort(404)
        entry = published_files(workspace, episode).get(name)
    if entry is None:
        abort(404)
    path, cors = entry
    return serve_file(path, max_age=MEDIA_MAX_AGE, cors=cors)


@bp.route("/episodes/<name>")
def show_cover(name: str) -> Any:
    workspace = current_workspace()
    cover = workspace.path(workspace.settings.show.cover)
    if name != cover.name or not file_inside(cover, workspace.root):
        abort(404)
    return serve_file(cover, max_age=MEDIA_MAX_AGE)


@bp.route("/favicon.ico")
def favicon() -> Any:
    """Browsers, feed readers and link checkers ask for it whether or not a page links it."""
    return serve_file(FAVICON, max_age=MEDIA_MAX_AGE)
