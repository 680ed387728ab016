"""Reading a subscriber CSV strictly and as a stream: the encoding and delimiter are sniffed in one
pass over the bytes; then rows come one at a time, each checked against the header.

Spreadsheet exports are the usual input (comma or semicolon, UTF-8 with or without BOM, or
Windows-1252, Swedish or English headers). A quote left open, a row with more or fewer fields than
the header, or a field running over several lines stops the import with the row's line number:
guessing would put the next rows' data in the wrong columns.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from outreach.errors import ValidationError

HEADER_ALIASES = {
    "email": "email",
    "e-post": "email",
    "epost": "email",
    "e-mail": "email",
    "e-postadress": "email",
    "mail": "email",
    "namn": "name",
    "name": "name",
    "fullständigt namn": "name",
    "förnamn": "first_name",
    "fornamn": "first_name",
    "first name": "first_name",
    "firstname": "first_name",
    "efternamn": "last_name",
    "last name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "organisation": "organisation",
    "organization": "organisation",
    "org": "organisation",
    "segment": "segment",
    "segments": "segment",
    "språk": "language",
    "sprak": "language",
    "language": "language",
    "lang": "language",
}
_CHUNK = 1 << 20


@dataclass
class CsvShape:
    """What the sniffing pass found."""

    encoding: str
    delimiter: str
    lines: int
    warnings: list[str] = field(default_factory=list)


def sniff(path: Path) -> CsvShape:
    """Encoding (UTF-8, else Windows-1252 with a warning), delimiter and line count, in one pass."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    utf8, lines, first, any_text = True, 0, b"", False
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                lines += chunk.count(b"\n")
                any_text = any_text or bool(chunk.strip())
                if len(first) < 4096 and b"\n" not in first:
                    first += chunk[:4096]
                if utf8:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
            if utf8:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        utf8 = False
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    if not any_text:
        raise ValidationError(f"{path}: the file is empty")
    shape = CsvShape("utf-8-sig" if utf8 else "cp1252", ",", lines + 1)
    if not utf8:
        shape.warnings.append(
            f"{path}: not UTF-8; read as Windows-1252 (save as 'CSV UTF-8' to avoid this)"
        )
    header = first.split(b"\n", 1)[0]
    shape.delimiter = ";" if header.count(b";") > header.count(b",") else ","
    return shape


def header_columns(path: Path, header: list[str], warnings: list[str]) -> dict[int, str]:
    """Column index → field name; unknown columns are reported and ignored."""
    columns: dict[int, str] = {}
    for index, raw_name in enumerate(header):
        key = HEADER_ALIASES.get(" ".join(raw_name.split()).lower())
        if key and key not in columns.values():
            columns[index] = key
        elif raw_name.strip():
            warnings.append(f"{path}: ignoring column {raw_name.strip()!r}")
    if "email" not in columns.values():
        raise ValidationError(
            f"{path}: no e-mail column (expected a header named 'e-post' or 'email'; found "
            f"{', '.join(repr(h) for h in header)})"
        )
    return columns


def _row(values: list[str], columns: dict[int, str]) -> dict[str, str]:
    row = {key: values[i] for i, key in columns.items()}
    if "name" not in row and ("first_name" in row or "last_name" in row):
        row["name"] = f"{row.get('first_name', '')} {row.get('last_name', '')}"
    return row


def read_rows(
    path: Path, shape: CsvShape, warnings: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {email, name, organisation, segment, language}) for each non-empty row."""
    with path.open("r", encoding=shape.encoding, errors="replace", newline="") as stream:
        reader = csv.reader(stream, delimiter=shape.delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError(f"{path}: no header row") from None
        except csv.Error as exc:
            raise ValidationError(f"{path}: row 1 (the header): {exc}") from None
        columns = header_columns(path, header, warnings)
        width = len(header)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValidationError(f"{path}: row {start}: {_explain(exc)}") from None
            line = reader.line_num
            if line > start:
                raise ValidationError(
                    f'{path}: row {start} runs over lines {start}-{line}: a quote (") is not '
                    "closed, or a field holds a line break"
                )
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) != width:
                raise ValidationError(
                    f"{path}: row {start} has {len(values)} fields, the header {width} (a "
                    f"{'semicolon' if shape.delimiter == ';' else 'comma'} inside a value needs "
                    "quotes)"
                )
            yield start, _row(values, columns)


def _explain(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "newline inside string" in text:
        return 'a quote (") is not closed'
    return text
