"""Time zones, local date-time parsing and clock formatting, shared by every domain.

Local times are read in the workspace's time zone (Europe/Stockholm by default) and stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.errors import ConfigError, ValidationError


def zone(name: str) -> ZoneInfo:
    """The named IANA time zone, or a ConfigError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}") from None


def parse_date(value: Any, field_name: str) -> dt.date:
    """A date from YAML/CLI input ("2023-05-04", or a date object)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field_name}: {value!r} is not a date (use YYYY-MM-DD)") from None


def parse_local_datetime(value: Any, field_name: str, tz: ZoneInfo) -> dt.datetime:
    """A local date-time ("2023-05-04 10:00") or one with an offset, returned in UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip().replace(" ", "T", 1)
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"{field_name}: {value!r} is not a date and time (use YYYY-MM-DD HH:MM)"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


def clock(
    seconds: float, *, always_hours: bool = False, pad_minutes: bool = False, tenths: bool = False
) -> str:
    """A media position: M:SS, H:MM:SS from an hour on (or always), MM with `pad_minutes`,
    and a tenth of a second with `tenths` (review diffs)."""
    value = max(0.0, float(seconds))
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    fraction = f"{secs + (value - whole):04.1f}" if tenths else f"{secs:02d}"
    if hours or always_hours:
        return f"{hours}:{minutes:02d}:{fraction}"
    return f"{minutes:02d}:{fraction}" if pad_minutes else f"{minutes}:{fraction}"
