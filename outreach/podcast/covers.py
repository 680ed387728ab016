"""Episode cover art: check it with the shared rules in `outreach.images` before it is copied in.

Apple Podcasts wants square JPEG or PNG art in the RGB colour space, 1400 to 3000 pixels a side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outreach.errors import ValidationError
from outreach.podcast.images import cover_problems, image_info

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png"}


@dataclass(frozen=True)
class CoverInfo:
    path: Path
    format: str
    size: int
    suffix: str


def check_cover(path: Path) -> CoverInfo:
    """Refuse art that Apple would refuse; the error names every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    info = image_info(data)
    problems = cover_problems(info)
    if info is not None and info.mode not in ("RGB", "L") and not problems:
        problems.append(f"uses the {info.mode} mode; save it as RGB without transparency")
    if problems or info is None:
        raise ValidationError(f"{path}: cover art {'; '.join(problems)}")
    return CoverInfo(path=path, format=info.format, size=info.width, suffix=SUFFIXES[info.format])
