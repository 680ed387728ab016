"""The newsletter archive: `/nyhetsbrev/` lists sent editions, `/nyhetsbrev/<slug>/` shows one.

The edition page is the composed web version, `newsletters/<slug>/index.html`, written by
`outreach newsletter compose` without personal links. Which editions are public is decided by
`newsletter.archive`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, send_file

from outreach import urls
from outreach.db import session_scope
from outreach.newsletter import archive
from outreach.web.state import current_workspace

bp = Blueprint("archive", __name__, url_prefix=urls.ARCHIVE.rstrip("/"))

# The composed page has inline styles and remote images but must run no script and post nowhere.
ARCHIVE_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; font-src *; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@bp.route("/")
def index() -> Any:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        editions = archive.sent_editions(session, workspace)
    response = Response(
        render_template("archive_index.html", editions=editions), mimetype="text/html"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/<slug>/")
def edition(slug: str) -> Any:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        path = archive.sent_edition_page(session, workspace, slug)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="text/html", conditional=True, max_age=300)
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    return response
