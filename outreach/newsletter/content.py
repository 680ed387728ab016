"""Newsletter content: funding calls (utlysningar), events and recordings of past events.

Local times are read in the workspace's time zone (Europe/Stockholm by default) and stored in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import NotFoundError, ValidationError, ValidationProblems
from outreach.models import Call, Event, Recording
from outreach.newsletter.yamlfile import load_yaml
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


class _Checks:
    """Runs field checks, keeping every failure (so one run reports all of an item's mistakes)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValidationError as exc:
            self.problems.append(str(exc))
            return None

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def raise_any(self) -> None:
        if len(self.problems) == 1:
            raise ValidationError(self.problems[0])
        if self.problems:
            raise ValidationProblems(self.problems)


def _optional(parse: Callable[..., Any], values: Mapping[str, Any], name: str, *args: Any) -> Any:
    return parse(values[name], name, *args) if values.get(name) else None


def _call(check: _Checks, values: Mapping[str, Any], tz: ZoneInfo) -> Call:
    opens = check(_optional, parse_date, values, "opens")
    closes = check(_optional, parse_date, values, "closes")
    if opens and closes and closes < opens:
        check.fail(f"closes: {closes} is before opens {opens}")
    return Call(
        funder=check(_text, values.get("funder"), "funder"),
        opens=opens,
        closes=closes,
        amount=check(_text, values.get("amount"), "amount", limit=100),
        url=check(_url, values.get("url"), "url"),
        audience=check(_text, values.get("audience"), "audience", limit=300),
    )


def _event(check: _Checks, values: Mapping[str, Any], tz: ZoneInfo) -> Event:
    if not values.get("starts"):
        check.fail("starts: required")
    starts = check(_optional, parse_datetime, values, "starts", tz)
    ends = check(_optional, parse_datetime, values, "ends", tz)
    if starts and ends and ends < starts:
        check.fail(f"ends: {values['ends']} is before starts {values['starts']}")
    location = check(_text, values.get("location"), "location", limit=300)
    if not location and not values.get("online_url"):  # a bad online_url has its own line
        check.fail("location: give a location or an online_url")
    return Event(
        starts=starts,
        ends=ends,
        location=location,
        online_url=check(_url, values.get("online_url"), "online_url"),
        registration_url=check(_url, values.get("registration_url"), "registration_url"),
    )


def _recording(check: _Checks, values: Mapping[str, Any], tz: ZoneInfo) -> Recording:
    return Recording(
        url=check(_url, values.get("url"), "url", required=True),
        recorded=check(_optional, parse_date, values, "recorded"),
    )


_BUILDERS: dict[str, Callable[[_Checks, Mapping[str, Any], ZoneInfo], Any]] = {
    "call": _call,
    "event": _event,
    "recording": _recording,
}


def build_item(kind: str, values: Mapping[str, Any], tz: ZoneInfo) -> Call | Event | Recording:
    """Validate raw values (from YAML or the CLI) into an unsaved row; every problem is reported
    (ValidationProblems when there are several)."""
    check = _Checks()
    unknown = set(values) - _FIELDS[kind]
    if unknown:
        known = ", ".join(sorted(_FIELDS[kind]))
        check.fail(f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (known: {known})")
    title = check(_text, values.get("title"), "title", required=True, limit=300)
    summary = check(_text, values.get("summary"), "summary", limit=5000)
    item: Call | Event | Recording = _BUILDERS[kind](check, values, tz)
    item.title, item.summary = title, summary
    check.raise_any()
    return item


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


def _line_of(entry: Mapping[str, Any], problem: str) -> int:
    """The line of the field a problem names ("opens: ..."), else of the item."""
    field_name = problem.split(":", 1)[0]
    key_lines: dict[str, int] = getattr(entry, "key_lines", {})
    return key_lines.get(field_name) or int(getattr(entry, "line", 0))


def import_content(session: Session, path: Path, tz: ZoneInfo) -> ContentImportReport:
    """Import calls, events and recordings from one YAML file; nothing is written if any item fails.

    Every invalid item (and every mistake in it) is reported at once, each with its line
    (ValidationProblems). An item identical to one already stored is not added again, so
    re-importing is harmless.
    """
    problems: list[str] = []
    document = load_yaml(path, problems)
    if not isinstance(document, dict):
        raise ValidationError(f"{path}: expected a mapping with calls, events and/or recordings")
    unknown = set(document) - set(_YAML_SECTIONS)
    if unknown:
        line = getattr(document, "line", 1)
        names = ", ".join(sorted(map(str, unknown)))
        problems.append(
            f"{path}:{line}: unknown section(s) {names} (known: calls, events, recordings)"
        )
    built: list[tuple[str, Any]] = []
    for section, kind in _YAML_SECTIONS.items():
        entries = document.get(section) or []
        if not isinstance(entries, list):
            problems.append(f"{path}: {section} must be a list of items (each starting with -)")
            continue
        for index, entry in enumerate(entries, start=1):
            label = entry.get("title") if isinstance(entry, dict) else None
            item = f"{section}[{index}]" + (f" ({label!r})" if label else "")
            if not isinstance(entry, dict):
                problems.append(f"{path}: {item}: expected a mapping of fields (title: ..., ...)")
                continue
            try:
                built.append((kind, build_item(kind, entry, tz)))
            except ValidationError as exc:
                found = exc.problems if isinstance(exc, ValidationProblems) else [str(exc)]
                for problem in found:
                    problems.append(f"{path}:{_line_of(entry, problem)}: {item}: {problem}")
    if problems:
        raise ValidationProblems(problems)
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
