"""The events calendar (`feeds/evenemang.ics`) with the icalendar package.

Times are written in UTC (`...Z`), which every calendar app converts to local time; UIDs are
stable (`event-<id>@<list domain>`) so a subscribed calendar updates events instead of adding
copies. DTSTAMP is the event's creation time, so the same events give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import icalendar

from outreach.models import Event

PRODID = "-//outreach//Kraftsamling evenemang//SV"


def render_events(events: Sequence[Event], *, name: str, uid_domain: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Stockholm")
    calendar.add("refresh-interval", dt.timedelta(hours=12), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT12H")
    for event in events:
        calendar.add_component(_event(event, uid_domain))
    data: bytes = calendar.to_ical()
    return data


def _event(event: Event, uid_domain: str) -> icalendar.Event:
    item = icalendar.Event()
    item.add("uid", f"event-{event.id}@{uid_domain}")
    item.add("dtstamp", event.created_at.astimezone(dt.UTC))
    item.add("summary", event.title)
    item.add("dtstart", event.starts.astimezone(dt.UTC))
    if event.ends is not None:
        item.add("dtend", event.ends.astimezone(dt.UTC))
    if event.location:
        item.add("location", event.location)
    elif event.online_url:
        item.add("location", event.online_url)
    url = event.registration_url or event.online_url
    if url:
        item.add("url", url)
    lines = [event.summary or ""]
    if event.online_url:
        lines.append(f"Länk: {event.online_url}")
    if event.registration_url:
        lines.append(f"Anmälan: {event.registration_url}")
    description = "\n\n".join(line for line in lines if line)
    if description:
        item.add("description", description)
    return item
