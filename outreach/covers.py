"""Cover art checks (the one module that imports Pillow).

Apple Podcasts wants square JPEG or PNG art in the RGB colour space, 1400 to 3000 pixels a side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outreach.errors import ValidationError

MIN_SIDE = 1400
MAX_SIDE = 3000
FORMATS = {"JPEG": ".jpg", "PNG": ".png"}


@dataclass(frozen=True)
class CoverInfo:
    path: Path
    format: str
    size: int
    suffix: str


def check_cover(path: Path) -> CoverInfo:
    """Open the image fully (a truncated file fails here) and check format, shape and size."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            fmt, (width, height), mode = image.format or "", image.size, image.mode
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValidationError(f"{path}: not an image Pillow can read ({exc})") from None
    if fmt not in FORMATS:
        raise ValidationError(f"{path}: cover must be JPEG or PNG, not {fmt or 'unknown'}")
    if width != height:
        raise ValidationError(f"{path}: cover must be square, it is {width}x{height} px")
    if not MIN_SIDE <= width <= MAX_SIDE:
        raise ValidationError(
            f"{path}: cover must be {MIN_SIDE}-{MAX_SIDE} px a side, it is {width} px"
        )
    if mode != "RGB":
        raise ValidationError(
            f"{path}: cover must be RGB without transparency or a palette, it is {mode}"
        )
    return CoverInfo(path=path, format=fmt, size=width, suffix=FORMATS[fmt])
