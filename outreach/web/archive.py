"""The newsletter archive: `/nyhetsbrev/` lists sent editions, `/nyhetsbrev/<slug>/` shows one.

The edition page is the composed web version, `newsletters/<slug>/index.html`, written by
`outreach newsletter compose` without personal links. Only editions with status 'sent' are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date
from flask import Blueprint, Response, abort, render_template, send_file
from sqlalchemy import select

from outreach import urls
from outreach.db import session_scope
from outreach.models import Edition
from outreach.web.state import current_workspace

bp = Blueprint("archive", __name__, url_prefix=urls.ARCHIVE.rstrip("/"))

ARCHIVE_FILE = "index.html"
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# The composed page has inline styles and remote images but must run no script and post nowhere.
ARCHIVE_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; font-src *; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class ArchivedEdition:
    slug: str
    subject: str
    date_iso: str
    date_text: str


def sent_editions() -> list[ArchivedEdition]:
    """Sent editions that have a web version, newest first."""
    workspace = current_workspace()
    with session_scope(workspace) as session:
        rows = session.scalars(
            select(Edition)
            .where(Edition.status == "sent")
            .order_by(Edition.edition_date.desc(), Edition.id.desc())
        ).all()
        return [
            ArchivedEdition(
                slug=row.slug,
                subject=row.subject,
                date_iso=row.edition_date.isoformat(),
                date_text=format_date(row.edition_date, "d MMMM y", locale="sv"),
            )
            for row in rows
            if SLUG_PATTERN.match(row.slug)
            and (workspace.newsletters_dir / row.slug / ARCHIVE_FILE).is_file()
        ]


@bp.route("/")
def index() -> Any:
    response = Response(
        render_template("archive_index.html", editions=sent_editions()), mimetype="text/html"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/<slug>/")
def edition(slug: str) -> Any:
    if not SLUG_PATTERN.match(slug):
        abort(404)
    workspace = current_workspace()
    with session_scope(workspace) as session:
        status = session.scalar(select(Edition.status).where(Edition.slug == slug))
    path = workspace.newsletters_dir / slug / ARCHIVE_FILE
    if status != "sent" or not path.is_file():
        abort(404)
    response = send_file(path, mimetype="text/html", conditional=True, max_age=300)
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    return response
