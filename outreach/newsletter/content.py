"""Newsletter content: funding calls (utlysningar), events and recordings of past events.

Local times are read in the workspace's time zone (Europe/Stockholm by default) and stored in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import NotFoundError, ValidationError
from outreach.models import Call, Event, Recording
from outreach.timeutil import parse_date
from outreach.timeutil import parse_local_datetime as parse_datetime

KINDS: dict[str, type[Call] | type[Event] | type[Recording]] = {
    "call": Call,
    "event": Event,
    "recording": Recording,
}
_YAML_SECTIONS = {"calls": "call", "events": "event", "recordings": "recording"}


def _text(value: Any, field_name: str, *, required: bool = False, limit: int = 1000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{field_name}: required")
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValidationError(f"{field_name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > limit:
        raise ValidationError(f"{field_name}: longer than {limit} characters")
    return text


def _url(value: Any, field_name: str, *, required: bool = False) -> str | None:
    text = _text(value, field_name, required=required)
    if text is not None and not text.startswith(("https://", "http://")):
        raise ValidationError(f"{field_name}: {text!r} is not an http(s) URL")
    return text


_FIELDS = {
    "call": {"title", "funder", "opens", "closes", "amount", "url", "audience", "summary"},
    "event": {"title", "starts", "ends", "location", "online_url", "registration_url", "summary"},
    "recording": {"title", "url", "recorded", "summary"},
}


def build_item(kind: str, values: Mapping[str, Any], tz: ZoneInfo) -> Call | Event | Recording:
    """Validate raw values (from YAML or the CLI) into an unsaved row."""
    unknown = set(values) - _FIELDS[kind]
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_FIELDS[kind]))})"
        )
    title = _text(values.get("title"), "title", required=True, limit=300)
    assert title is not None
    summary = _text(values.get("summary"), "summary", limit=5000)
    if kind == "call":
        opens = parse_date(values["opens"], "opens") if values.get("opens") else None
        closes = parse_date(values["closes"], "closes") if values.get("closes") else None
        if opens and closes and closes < opens:
            raise ValidationError(f"closes: {closes} is before opens {opens}")
        return Call(
            title=title,
            funder=_text(values.get("funder"), "funder"),
            opens=opens,
            closes=closes,
            amount=_text(values.get("amount"), "amount", limit=100),
            url=_url(values.get("url"), "url"),
            audience=_text(values.get("audience"), "audience", limit=300),
            summary=summary,
        )
    if kind == "event":
        if not values.get("starts"):
            raise ValidationError("starts: required")
        starts = parse_datetime(values["starts"], "starts", tz)
        ends = parse_datetime(values["ends"], "ends", tz) if values.get("ends") else None
        if ends and ends < starts:
            raise ValidationError(f"ends: {values['ends']} is before starts {values['starts']}")
        location = _text(values.get("location"), "location", limit=300)
        online_url = _url(values.get("online_url"), "online_url")
        if not location and not online_url:
            raise ValidationError("location: give a location or an online_url")
        return Event(
            title=title,
            starts=starts,
            ends=ends,
            location=location,
            online_url=online_url,
            registration_url=_url(values.get("registration_url"), "registration_url"),
            summary=summary,
        )
    url = _url(values.get("url"), "url", required=True)
    assert url is not None
    recorded = parse_date(values["recorded"], "recorded") if values.get("recorded") else None
    return Recording(title=title, url=url, recorded=recorded, summary=summary)


def add_item(
    session: Session, kind: str, values: Mapping[str, Any], tz: ZoneInfo
) -> Call | Event | Recording:
    item = build_item(kind, values, tz)
    session.add(item)
    session.flush()
    return item


def list_items(session: Session, kind: str) -> Sequence[Any]:
    model = KINDS[kind]
    order = {
        "call": (Call.closes, Call.id),
        "event": (Event.starts, Event.id),
        "recording": (Recording.recorded, Recording.id),
    }[kind]
    return session.scalars(select(model).order_by(*order)).all()


def remove_item(session: Session, kind: str, item_id: int) -> Any:
    item = session.get(KINDS[kind], item_id)
    if item is None:
        raise NotFoundError(f"no {kind} with id {item_id}")
    session.delete(item)
    return item


@dataclass
class ContentImportReport:
    added: dict[str, int]
    unchanged: dict[str, int]


def _same(existing: Any, item: Any, kind: str) -> bool:
    return all(getattr(existing, f) == getattr(item, f) for f in _FIELDS[kind])


def import_content(session: Session, path: Path, tz: ZoneInfo) -> ContentImportReport:
    """Import calls, events and recordings from one YAML file; nothing is written if any item fails.

    An item identical to one already stored is not added again, so re-importing is harmless.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"{path}:{where}: invalid YAML") from None
    if not isinstance(document, dict):
        raise ValidationError(f"{path}: expected a mapping with calls, events and/or recordings")
    unknown = set(document) - set(_YAML_SECTIONS)
    if unknown:
        raise ValidationError(f"{path}: unknown section(s) {', '.join(sorted(map(str, unknown)))}")
    built: list[tuple[str, Any]] = []
    for section, kind in _YAML_SECTIONS.items():
        entries = document.get(section) or []
        if not isinstance(entries, list):
            raise ValidationError(f"{path}: {section} must be a list")
        for index, entry in enumerate(entries, start=1):
            label = entry.get("title") if isinstance(entry, dict) else None
            where = f"{path}: {section}[{index}]" + (f" ({label!r})" if label else "")
            if not isinstance(entry, dict):
                raise ValidationError(f"{where}: expected a mapping of fields")
            try:
                built.append((kind, build_item(kind, entry, tz)))
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}") from None
    report = ContentImportReport(added={k: 0 for k in KINDS}, unchanged={k: 0 for k in KINDS})
    for kind, item in built:
        model = KINDS[kind]
        candidates = session.scalars(select(model).where(model.title == item.title)).all()
        if any(_same(existing, item, kind) for existing in candidates):
            report.unchanged[kind] += 1
            continue
        session.add(item)
        report.added[kind] += 1
    session.flush()
    return report
