"""Subscriber CSV import: read a spreadsheet export (comma or semicolon, Swedish or English headers)
and add or update subscribers in one transaction, never bringing back anyone who left."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8
from outreach.errors import ValidationError
from outreach.models import Subscriber
from outreach.subscribers.store import (
    clean_text,
    is_suppressed,
    normalize_email,
    normalize_language,
    normalize_segment,
    record_consent,
    set_status,
)

_HEADER_ALIASES = {
    "email": "email",
    "e-post": "email",
    "epost": "email",
    "e-mail": "email",
    "e-postadress": "email",
    "mail": "email",
    "namn": "name",
    "name": "name",
    "organisation": "organisation",
    "organization": "organisation",
    "org": "organisation",
    "segment": "segment",
    "språk": "language",
    "sprak": "language",
    "language": "language",
    "lang": "language",
}


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _read_csv_text(path: Path) -> tuple[str, list[str]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    if not data.strip():
        raise ValidationError(f"{path}: the file is empty")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), [
            f"{path}: not UTF-8; read as Windows-1252 (save as 'CSV UTF-8' to avoid this)"
        ]


def parse_subscriber_csv(path: Path) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """Rows of a subscriber CSV as (line number, {email, name, organisation, segment, language})."""
    text, warnings = _read_csv_text(path)
    first_line = text.splitlines()[0] if text else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ValidationError(f"{path}: no header row ({exc})") from None
    columns: dict[int, str] = {}
    for index, raw_name in enumerate(header):
        key = _HEADER_ALIASES.get(raw_name.strip().lower())
        if key and key not in columns.values():
            columns[index] = key
        elif raw_name.strip():
            warnings.append(f"{path}: ignoring column {raw_name.strip()!r}")
    if "email" not in columns.values():
        raise ValidationError(
            f"{path}: no e-mail column (expected a header named 'e-post' or 'email'; found "
            f"{', '.join(repr(h) for h in header)})"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            row = {key: values[i] for i, key in columns.items() if i < len(values)}
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ValidationError(f"{path}: line {reader.line_num}: {exc}") from None
    return rows, warnings


def _update_existing(
    session: Session,
    existing: Subscriber,
    name: str | None,
    organisation: str | None,
    segment: str | None,
    *,
    confirmed: bool,
    source: str,
) -> bool:
    """Fill in what the row says about a known subscriber; True if anything changed."""
    changed = False
    for attribute, value in (("name", name), ("organisation", organisation), ("segment", segment)):
        if value is not None and getattr(existing, attribute) != value:
            setattr(existing, attribute, value)
            changed = True
    if confirmed and existing.status == "pending":
        set_status(session, existing, "confirmed", source)
        changed = True
    return changed


def import_subscribers(
    session: Session, path: Path, *, confirmed: bool = False, source: str | None = None
) -> ImportReport:
    """Import a CSV in one transaction. Invalid rows are reported; re-importing changes nothing.

    An address that unsubscribed, bounced or was erased is never brought back by an import.
    """
    rows, warnings = parse_subscriber_csv(path)
    report = ImportReport(warnings=warnings)
    source = source or f"import:{path.name}"
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            email = normalize_email(row.get("email", ""))
            segment = normalize_segment(row.get("segment"))
            language = normalize_language(row.get("language"))
        except ValidationError as exc:
            report.invalid.append((line, str(exc)))
            continue
        if email in seen:
            report.skipped.append((line, f"{email} repeats line {seen[email]}"))
            continue
        seen[email] = line
        if needs_smtputf8(email):
            report.warnings.append(f"line {line}: {email}: {SMTPUTF8_REQUIREMENT}")
        if is_suppressed(session, email):
            report.skipped.append((line, f"{email} is suppressed (erased or bounced)"))
            continue
        name, organisation = clean_text(row.get("name")), clean_text(row.get("organisation"))
        existing = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if existing is None:
            subscriber = Subscriber(
                email=email,
                name=name,
                organisation=organisation,
                segment=segment,
                language=language,
                status="confirmed" if confirmed else "pending",
            )
            session.add(subscriber)
            record_consent(
                session, subscriber, email, "confirmed" if confirmed else "added", source
            )
            report.added += 1
            continue
        if existing.status in ("unsubscribed", "bounced"):
            report.skipped.append((line, f"{email} has {existing.status} and is not re-added"))
            continue
        changed = _update_existing(
            session, existing, name, organisation, segment, confirmed=confirmed, source=source
        )
        if changed:
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    return report
