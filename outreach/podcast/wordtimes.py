"""Word timings for the web pages, as one compact JSON block instead of markup around every word.

Pages print each segment's text as plain text (`<span class="segment" data-start=…>`) and this block
once: a list with one entry per segment, in page order, of whole centiseconds
`[gap, length, gap, length, …]`, where a word's gap is measured from the end of the word before it
(the first word's from the segment's start, as printed in `data-start`). `static/player.js` splits
the text into words in the browser and gives them these times, or leaves a segment whole when its
word count does not match. For a one-hour episode this is about 45 KB instead of about 900 KB of spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def centiseconds(seconds: float) -> int:
    return round(float(seconds) * 100)


def segment_start_text(seconds: float) -> str:
    """A segment's start as printed in `data-start`: the same rounding the timings are relative to."""
    return f"{centiseconds(seconds) / 100:.2f}"


def segment_timings(segment: Mapping[str, Any]) -> list[int]:
    """One segment's `[gap, length, …]` list (empty when it has no word timings)."""
    previous_end = centiseconds(segment["start"])
    out: list[int] = []
    append = out.append
    for word in segment.get("words") or ():
        start = round(word["start"] * 100)
        length = max(0, round(word["end"] * 100) - start)
        append(start - previous_end)
        append(length)
        previous_end = start + length
    return out


def timings_json(segments: Iterable[Mapping[str, Any]]) -> str:
    """The JSON block for `segments` (in page order), safe inside `<script type="application/json">`."""
    data = [segment_timings(segment) for segment in segments]
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
