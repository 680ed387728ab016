"""Who is in an episode: hosts and guests as given on the command line, speakers per track,
and the publication date as typed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from outreach.addresses import normalize_email
from outreach.errors import ValidationError


@dataclass(frozen=True)
class PersonSpec:
    """A host or guest as given on the command line: "Namn <e-post>" or just "Namn"."""

    name: str
    email: str | None = None
    role: str = "guest"
    consent_named: bool = False


def parse_person(text: str, role: str = "guest", consent_named: bool = False) -> PersonSpec:
    text = text.strip()
    if "<" in text:
        name, address = parseaddr(text)
        if not address:
            raise ValidationError(f'cannot read {text!r}: write it as "Namn <e-post>"')
        email: str | None = normalize_email(address)
    elif "@" in text:
        name, email = "", normalize_email(text)
    else:
        name, email = text, None
    name = " ".join(name.split())
    if not name:
        raise ValidationError(
            f'{text!r}: a {role} needs a name, e.g. "Karin Ek <karin@example.se>"'
        )
    return PersonSpec(name=name, email=email, role=role, consent_named=consent_named)


def parse_published(value: str, timezone: str) -> dt.datetime:
    """YYYY-MM-DD (06:00 local time, so no feed shows the day before) or an ISO date and time."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(6, 0), ZoneInfo(timezone)).astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"invalid date {value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[+01:00]"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(dt.UTC)


def from_options(
    hosts: tuple[str, ...],
    guests: tuple[str, ...],
    named: tuple[str, ...],
    default_hosts: list[str],
) -> tuple[list[PersonSpec], list[PersonSpec]]:
    """Hosts (default: [show] hosts) and guests from the options; --named (a guest's name or
    e-mail) marks the guests who agreed to be named in the feed."""
    host_specs = [parse_person(h, "host", consent_named=True) for h in (hosts or default_hosts)]
    guest_specs = [parse_person(g, "guest") for g in guests]
    for key in named:
        wanted = key.strip().lower()
        matches = [
            i
            for i, g in enumerate(guest_specs)
            if wanted in (g.name.lower(), (g.email or "").lower())
        ]
        if not matches:
            raise ValidationError(f"--named {key!r} matches no --guest (give the name or e-mail)")
        for i in matches:
            g = guest_specs[i]
            guest_specs[i] = PersonSpec(g.name, g.email, g.role, consent_named=True)
    return host_specs, guest_specs


def assign_speakers(
    count: int, speakers: Sequence[str], people: Sequence[PersonSpec]
) -> list[str | None]:
    """One speaker name per track: --speaker in order, else the hosts then the guests in order."""
    if speakers:
        if len(speakers) != count:
            raise ValidationError(
                f"{count} audio file(s) but {len(speakers)} --speaker name(s): give one per file"
            )
        return [" ".join(s.split()) or None for s in speakers]
    if count == 1:
        return [None]
    names = [p.name for p in people]
    if len(names) < count:
        raise ValidationError(
            f"{count} tracks but only {len(names)} host/guest name(s) to label them: pass "
            "--speaker NAME once per file, in the order of the files"
        )
    return list(names[:count])
