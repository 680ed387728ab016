"""Numbers in form fields: ASCII digits that fit the database's 64-bit integers, or nothing.

`str.isdigit()` accepts "²" and "٣" and `int()` has no upper bound, so a forged form once reached
SQLite with a 40-digit number (OverflowError, a 500). Views parse with `form_int` and answer 400.
"""

from __future__ import annotations

import re

MAX_DATABASE_INTEGER = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def form_int(text: str | None) -> int | None:
    """`text` as a non-negative integer the database can store, else None."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_DATABASE_INTEGER else None
