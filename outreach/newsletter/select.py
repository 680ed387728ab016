"""What goes into an edition: the content selected for its date.

For the edition date: funding calls that are open or open within `calls_opening_soon_days`
(sorted by last day to apply), events within `events_horizon_days`, recordings and published
episodes dated after the previous sent edition (content dates, not import times, so composing an
old edition again gives the same result).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Call, Edition, Episode, Recording
from outreach.models import Event as EventRow
from outreach.newsletter.edition import FROZEN_STATUSES
from outreach.podcast.summary import summary_text
from outreach.timeutil import zone
from outreach.urls import episode_page_url
from outreach.workspace import Workspace


@dataclass(frozen=True)
class CallItem:
    title: str
    funder: str | None
    opens: dt.date | None
    closes: dt.date | None
    amount: str | None
    url: str | None
    audience: str | None
    summary: str | None
    is_open: bool


@dataclass(frozen=True)
class EventItem:
    title: str
    starts: dt.datetime
    ends: dt.datetime | None
    location: str | None
    online_url: str | None
    registration_url: str | None
    summary: str | None


@dataclass(frozen=True)
class LinkItem:
    """A recording or a published episode."""

    title: str
    url: str
    day: dt.date | None
    summary: str | None


@dataclass
class EditionContent:
    slug: str
    edition_date: dt.date
    previous_date: dt.date | None
    calls: list[CallItem] = field(default_factory=list)
    events: list[EventItem] = field(default_factory=list)
    recordings: list[LinkItem] = field(default_factory=list)
    episodes: list[LinkItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "calls": len(self.calls),
            "events": len(self.events),
            "recordings": len(self.recordings),
            "episodes": len(self.episodes),
        }

    def in_window(self, day: dt.date) -> bool:
        """Dated after the previous edition and not after this one."""
        return day <= self.edition_date and (self.previous_date is None or day > self.previous_date)


def previous_edition_date(session: Session, edition_date: dt.date, slug: str) -> dt.date | None:
    """The date of the latest edition before this one that has gone out (or started to)."""
    return session.scalar(
        select(Edition.edition_date)
        .where(
            Edition.edition_date < edition_date,
            Edition.slug != slug,
            Edition.status.in_(FROZEN_STATUSES),
        )
        .order_by(Edition.edition_date.desc())
        .limit(1)
    )


def select_content(
    session: Session, workspace: Workspace, slug: str, edition_date: dt.date
) -> EditionContent:
    """What goes into the edition of `edition_date` (see the module docstring)."""
    settings = workspace.settings.newsletter
    tz = zone(settings.timezone)
    previous = previous_edition_date(session, edition_date, slug)
    result = EditionContent(slug=slug, edition_date=edition_date, previous_date=previous)
    result.calls = _calls(session, edition_date, settings.calls_opening_soon_days)
    result.events = _events(session, edition_date, settings.events_horizon_days, tz)
    result.recordings = _recordings(session, result, tz)
    result.episodes = _episodes(session, workspace, result, tz)
    return result


def _calls(session: Session, edition_date: dt.date, soon_days: int) -> list[CallItem]:
    """Open calls, and those opening within `soon_days`, by last day to apply."""
    soon = edition_date + dt.timedelta(days=soon_days)
    calls = []
    for call in session.scalars(select(Call)):
        if call.closes is not None and call.closes < edition_date:
            continue
        if call.opens is not None and call.opens > soon:
            continue
        is_open = call.opens is None or call.opens <= edition_date
        calls.append(
            CallItem(
                call.title,
                call.funder,
                call.opens,
                call.closes,
                call.amount,
                call.url,
                call.audience,
                call.summary,
                is_open,
            )
        )
    calls.sort(key=lambda c: (c.closes is None, c.closes or dt.date.max, c.title))
    return calls


def _events(
    session: Session, edition_date: dt.date, horizon_days: int, tz: ZoneInfo
) -> list[EventItem]:
    """Events from the edition day (local time) to `horizon_days` after it."""
    day_start = dt.datetime.combine(edition_date, dt.time(), tzinfo=tz)
    horizon = day_start + dt.timedelta(days=horizon_days + 1)
    events = session.scalars(
        select(EventRow)
        .where(EventRow.starts >= day_start.astimezone(dt.UTC))
        .where(EventRow.starts < horizon.astimezone(dt.UTC))
        .order_by(EventRow.starts, EventRow.id)
    )
    return [
        EventItem(
            e.title, e.starts, e.ends, e.location, e.online_url, e.registration_url, e.summary
        )
        for e in events
    ]


def _recordings(session: Session, content: EditionContent, tz: ZoneInfo) -> list[LinkItem]:
    recordings = []
    for recording in session.scalars(select(Recording).order_by(Recording.recorded)):
        day = recording.recorded or recording.created_at.astimezone(tz).date()
        if content.in_window(day):
            recordings.append(LinkItem(recording.title, recording.url, day, recording.summary))
    return recordings


def _episodes(
    session: Session, workspace: Workspace, content: EditionContent, tz: ZoneInfo
) -> list[LinkItem]:
    episodes = session.scalars(
        select(Episode)
        .where(Episode.status == "published", Episode.published_at.is_not(None))
        .order_by(Episode.published_at)
    )
    items = []
    for episode in episodes:
        assert episode.published_at is not None
        day = episode.published_at.astimezone(tz).date()
        if not content.in_window(day):
            continue
        url = episode_page_url(workspace, episode.slug)
        items.append(LinkItem(episode.title, url, day, summary_text(episode.summary) or None))
    return items
