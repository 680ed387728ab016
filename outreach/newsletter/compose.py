"""Compose an edition: select its content, render it once, write its files and record it.

The one place that ties the steps together (`select` → `render` → `edition` files → the `editions`
row), so none of those modules has to reach into another sideways.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import ComposeError, ValidationError
from outreach.models import Edition, utcnow
from outreach.newsletter.edition import FROZEN_STATUSES, today, validate_slug, write_edition
from outreach.newsletter.links import apply_click_stats
from outreach.newsletter.render import ComposedEdition, render_edition
from outreach.newsletter.select import select_content
from outreach.workspace import Workspace


def compose_edition(
    session: Session,
    workspace: Workspace,
    slug: str | None = None,
    edition_date: dt.date | None = None,
    *,
    subject: str | None = None,
) -> ComposedEdition:
    """Select, render, check and write an edition, and record it (status 'composed').

    The slug defaults to the date, the date to the slug if it is one, else today. An edition that
    has started sending is frozen: composing it again is refused.
    """
    if slug is None:
        edition_date = edition_date or today(workspace)
        slug = edition_date.isoformat()
    validate_slug(slug)
    row = session.scalar(select(Edition).where(Edition.slug == slug))
    if edition_date is None:
        edition_date = row.edition_date if row is not None else _date_from_slug(slug)
    if row is not None and row.status in FROZEN_STATUSES:
        raise ComposeError(
            f"edition {slug} is {row.status}: it can no longer be composed (what was sent must "
            "stay what the archive shows); compose a new edition instead"
        )
    content = select_content(session, workspace, slug, edition_date)
    composed = render_edition(workspace, content, subject=subject)
    apply_click_stats(session, workspace, composed)
    composed.files = write_edition(
        composed.directory, composed.languages, composed.archive_html, composed.manifest()
    )
    if row is None:
        row = Edition(slug=slug, edition_date=edition_date, subject=composed.subject)
        session.add(row)
    row.edition_date = edition_date
    row.subject = composed.subject
    row.status = "composed"
    row.composed_at = utcnow()
    session.flush()
    return composed


def _date_from_slug(slug: str) -> dt.date:
    try:
        return dt.date.fromisoformat(slug)
    except ValueError:
        raise ValidationError(f"edition {slug!r} is not a date: give --date YYYY-MM-DD") from None
