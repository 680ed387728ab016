"""Cover art checks (Pillow): Apple wants square JPEG or PNG, RGB, 1400 to 3000 pixels a side."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MIN_SIDE = 1400
MAX_SIDE = 3000


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str


def image_info(data: bytes) -> ImageInfo | None:
    """Format, size and colour mode of an image, or None if Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return ImageInfo(image.format or "", image.width, image.height, image.mode)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def cover_problems(info: ImageInfo | None) -> list[str]:
    """What is wrong with a cover for Apple Podcasts (empty when it is fine)."""
    if info is None:
        return ["is not a readable JPEG or PNG image"]
    problems = []
    if info.format not in ("JPEG", "PNG"):
        problems.append(f"is {info.format or 'an unknown format'}, not JPEG or PNG")
    if info.width != info.height:
        problems.append(f"is {info.width}×{info.height} px, not square")
    side = max(info.width, info.height)
    if not min(info.width, info.height) >= MIN_SIDE or side > MAX_SIDE:
        problems.append(
            f"is {info.width}×{info.height} px; Apple needs {MIN_SIDE} to {MAX_SIDE} px a side"
        )
    if info.mode in ("CMYK", "YCbCr", "LAB", "I", "F"):
        problems.append(f"uses the {info.mode} colour space; Apple needs RGB")
    return problems
