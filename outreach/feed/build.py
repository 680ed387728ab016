"""`feed build`: the podcast feed, the newsletter archive feed and the events calendar.

Each feed is built and written on its own: a podcast feed that cannot be built (no cover, a
validator error) is reported and left as it was, and the newsletter Atom feed and the events
calendar are still written. `feed build` only reads the database and the workspace; transcript
exports are written by `review accept`, `transcript publish` and transcription. The podcast feed
itself is gathered in `feed.podcast`.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import FeedError
from outreach.feed import ical
from outreach.feed import render as feed
from outreach.feed.podcast import PODCAST_FEED, build_podcast_feed, local_image_fetcher
from outreach.feed.report import BuildReport, FeedFailure, FeedInvalidError
from outreach.feed.validate import Problem, validate_feed
from outreach.fetch import fetch_image, read_source
from outreach.fsutil import atomic_write_bytes
from outreach.models import Edition, Event
from outreach.newsletter.edition import archive_entry
from outreach.workspace import Workspace

__all__ = [
    "EVENTS_FEED",
    "NEWSLETTER_FEED",
    "PODCAST_FEED",
    "BuildReport",
    "FeedInvalidError",
    "build_feeds",
    "local_image_fetcher",
    "validate_source",
]

NEWSLETTER_FEED = "nyhetsbrev.xml"
EVENTS_FEED = "evenemang.ics"
NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TAG_AUTHORITY = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def build_newsletter_feed(
    session: Session, workspace: Workspace, now: dt.datetime
) -> tuple[bytes, int]:
    """Atom feed of sent editions, newest first, linking to the archive pages; and their count."""
    settings = workspace.settings.newsletter
    base = settings.public_url.rstrip("/")
    editions = list(
        session.scalars(
            select(Edition)
            .where(Edition.status == "sent", Edition.sent_at.is_not(None))
            .order_by(Edition.sent_at.desc(), Edition.id.desc())
        )
    )
    entries = []
    for edition in editions:
        assert edition.sent_at is not None
        link = f"{base}/nyhetsbrev/{urllib.parse.quote(edition.slug)}/"
        entry_id = (
            f"tag:{settings.list_id},{edition.edition_date.isoformat()}:nyhetsbrev/{edition.slug}"
            if _TAG_AUTHORITY.match(settings.list_id)
            else link
        )
        summary, content_html = archive_entry(workspace, edition.slug)
        entries.append(
            feed.AtomEntry(
                id=entry_id,
                title=edition.subject,
                link=link,
                updated=edition.sent_at,
                summary=summary or "",
                content_html=content_html or "",
            )
        )
    atom = feed.AtomFeed(
        id=f"{base}/nyhetsbrev/",
        title=settings.name,
        subtitle="Nyhetsbrevets utskick",
        link=f"{base}/nyhetsbrev/",
        self_url=f"{base}/feeds/{NEWSLETTER_FEED}",
        language="sv",
        author=settings.name,
        # With nothing sent yet, a fixed instant keeps the bytes the same from build to build.
        updated=entries[0].updated if entries else NEVER,
        entries=entries,
    )
    return feed.render_atom(atom), len(entries)


def build_events_feed(
    session: Session, workspace: Workspace, now: dt.datetime
) -> tuple[bytes, int]:
    """iCalendar of events that have not ended yet, and how many there are."""
    events = [
        event
        for event in session.scalars(select(Event).order_by(Event.starts, Event.id))
        if (event.ends or event.starts) >= now
    ]
    settings = workspace.settings.newsletter
    host = settings.list_id if _TAG_AUTHORITY.match(settings.list_id) else "outreach.invalid"
    return ical.render_events(events, name=settings.name, uid_domain=host), len(events)


def _write_podcast(
    session: Session, workspace: Workspace, now: dt.datetime, report: BuildReport
) -> None:
    podcast_path = workspace.feeds_dir / PODCAST_FEED
    podcast = build_podcast_feed(session, workspace, now, report)
    if podcast is None:
        report.warnings.append(
            "no published episode has audio yet, so feeds/podcast.xml is not written "
            "(Apple accepts a show only with at least one episode)"
        )
        if podcast_path.exists():
            podcast_path.unlink()
            report.removed.append(podcast_path)
        return
    atomic_write_bytes(podcast_path, podcast)
    report.written.append(podcast_path)


def _write_newsletter(
    session: Session, workspace: Workspace, now: dt.datetime, report: BuildReport
) -> None:
    data, report.editions = build_newsletter_feed(session, workspace, now)
    atomic_write_bytes(workspace.feeds_dir / NEWSLETTER_FEED, data)
    report.written.append(workspace.feeds_dir / NEWSLETTER_FEED)


def _write_events(
    session: Session, workspace: Workspace, now: dt.datetime, report: BuildReport
) -> None:
    data, report.events = build_events_feed(session, workspace, now)
    atomic_write_bytes(workspace.feeds_dir / EVENTS_FEED, data)
    report.written.append(workspace.feeds_dir / EVENTS_FEED)


FeedWriter = Callable[[Session, Workspace, dt.datetime, BuildReport], None]
FEEDS: tuple[tuple[str, FeedWriter], ...] = (
    (PODCAST_FEED, _write_podcast),
    (NEWSLETTER_FEED, _write_newsletter),
    (EVENTS_FEED, _write_events),
)


def build_feeds(
    session: Session, workspace: Workspace, now: dt.datetime | None = None
) -> BuildReport:
    """Build and write all three feeds, each on its own. A feed that cannot be built is left as
    it was and named in `report.failed`; the others are still written."""
    now = now or dt.datetime.now(dt.UTC)
    report = BuildReport()
    workspace.feeds_dir.mkdir(parents=True, exist_ok=True)
    for name, write in FEEDS:
        try:
            write(session, workspace, now, report)
        except FeedInvalidError as exc:
            report.problems = exc.problems
            report.failed.append(FeedFailure(name, str(exc)))
        except FeedError as exc:
            report.failed.append(FeedFailure(name, f"feeds/{name} not written: {exc}"))
    return report


def validate_source(
    workspace: Workspace | None, source: str | None, *, fetch_images: bool = True
) -> tuple[str, list[Problem]]:
    """(what was checked, its problems) for `feed validate`: SOURCE (a file or URL), or the
    workspace's built podcast feed. Cover art is read from the workspace when it is ours,
    else fetched (unless `fetch_images` is false)."""
    if source is None:
        if workspace is None:
            raise FeedError("no feed given and no workspace: give a FILE or URL")
        built = workspace.feeds_dir / PODCAST_FEED
        if not built.is_file():
            raise FeedError(f"{built} does not exist yet: run 'outreach feed build' first")
        source = str(built)
    data = read_source(source)
    fetch = None
    if fetch_images:
        local = local_image_fetcher(workspace) if workspace is not None else None

        def fetch(url: str) -> bytes | None:
            found = local(url) if local is not None else None
            return found if found is not None else fetch_image(url)

    return source, validate_feed(data, fetch=fetch)
