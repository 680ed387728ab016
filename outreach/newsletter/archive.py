"""The public newsletter archive: which editions the public may read, and where their web version is.

An edition is public once it is sent and `newsletter compose` has written its web version
(`newsletters/<slug>/index.html`, without personal links).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Edition
from outreach.workspace import Workspace

ARCHIVE_FILE = "index.html"
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class ArchivedEdition:
    slug: str
    subject: str
    date_iso: str
    date_text: str


def web_version(workspace: Workspace, slug: str) -> Path:
    """Where the web version of edition `slug` is (whether or not it exists yet)."""
    return workspace.newsletters_dir / slug / ARCHIVE_FILE


def sent_editions(session: Session, workspace: Workspace) -> list[ArchivedEdition]:
    """Sent editions that have a web version, newest first."""
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
        if SLUG_PATTERN.match(row.slug) and web_version(workspace, row.slug).is_file()
    ]


def sent_edition_page(session: Session, workspace: Workspace, slug: str) -> Path | None:
    """The web version of edition `slug` if the public may read it, else None."""
    if not SLUG_PATTERN.match(slug):
        return None
    status = session.scalar(select(Edition.status).where(Edition.slug == slug))
    path = web_version(workspace, slug)
    return path if status == "sent" and path.is_file() else None
