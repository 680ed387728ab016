"""Podcasting 2.0 JSON chapters (`chapters.json`): read and validate.

Format: https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/examples/chapters/jsonChapters.md
`{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}, ...]}`; `startTime` is
required (seconds), `title`, `endTime`, `url`, `img` and `toc` are optional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach.errors import ValidationError


@dataclass(frozen=True)
class Chapter:
    start: float
    title: str
    end: float | None = None
    url: str | None = None
    toc: bool = True


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{where}: expected a number of seconds, got {value!r}")
    if value < 0:
        raise ValidationError(f"{where}: must not be negative ({value})")
    return float(value)


def parse_chapters(data: Any, source: str = "chapters") -> list[Chapter]:
    """Validate parsed JSON chapters; times must be non-negative and in order."""
    if not isinstance(data, dict):
        raise ValidationError(f"{source}: expected a JSON object with 'version' and 'chapters'")
    if not isinstance(data.get("version"), str):
        raise ValidationError(f"{source}: 'version' must be a string such as \"1.2.0\"")
    items = data.get("chapters")
    if not isinstance(items, list) or not items:
        raise ValidationError(f"{source}: 'chapters' must be a non-empty list")
    chapters: list[Chapter] = []
    for index, item in enumerate(items, start=1):
        where = f"{source}: chapter {index}"
        if not isinstance(item, dict):
            raise ValidationError(f"{where}: expected an object")
        if "startTime" not in item:
            raise ValidationError(f"{where}: 'startTime' is required")
        start = _seconds(item["startTime"], f"{where} startTime")
        end = _seconds(item["endTime"], f"{where} endTime") if "endTime" in item else None
        if end is not None and end <= start:
            raise ValidationError(f"{where}: endTime ({end}) must be after startTime ({start})")
        title = item.get("title", "")
        if not isinstance(title, str):
            raise ValidationError(f"{where}: 'title' must be text")
        url = item.get("url")
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise ValidationError(f"{where}: 'url' must be an http(s) address")
        toc = item.get("toc", True)
        if not isinstance(toc, bool):
            raise ValidationError(f"{where}: 'toc' must be true or false")
        if chapters and start < chapters[-1].start:
            raise ValidationError(
                f"{where}: startTime {start} comes before the previous chapter's "
                f"({chapters[-1].start}); chapters must be in order"
            )
        chapters.append(Chapter(start=start, title=title.strip(), end=end, url=url, toc=toc))
    return chapters


def load_chapters(path: Path, duration_seconds: float | None = None) -> list[Chapter]:
    """Read and validate a chapters file; with a duration, no chapter may start after the end."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: invalid JSON: {exc}") from None
    chapters = parse_chapters(data, str(path))
    if duration_seconds is not None:
        for chapter in chapters:
            if chapter.start >= duration_seconds:
                raise ValidationError(
                    f"{path}: chapter {chapter.title!r} starts at {chapter.start:g} s, after the "
                    f"end of the audio ({duration_seconds:.1f} s)"
                )
    return chapters
