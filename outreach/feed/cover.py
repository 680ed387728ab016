"""The placeholder show cover `outreach init` makes, so a new workspace builds every feed.

A plain square in one colour with the show's title on it, 1400×1400 px PNG (Apple's smallest
size). It carries a marker in a PNG text chunk, which the validator recognises: the podcast feed
builds, but `feed validate` and `feed build` keep warning until a real cover is set.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from outreach.feed.spec import DEFAULT_COVER_MARKER
from outreach.fsutil import atomic_write_bytes

SIZE = 1400
BACKGROUND = (31, 58, 96)
FOREGROUND = (255, 255, 255)
FONT_SIZE = 120


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", FONT_SIZE)
    except OSError:
        # Pillow's own font scales from Pillow 10.1 on; no system font is needed.
        return ImageFont.load_default(size=FONT_SIZE)


def default_cover_png(title: str) -> bytes:
    """A square PNG with `title` centred on a plain colour."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    text = "\n".join(textwrap.wrap(title.strip() or "Podcast", width=14)[:5])
    draw.multiline_text(
        (SIZE / 2, SIZE / 2), text, font=_font(), fill=FOREGROUND, anchor="mm", align="center"
    )
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", DEFAULT_COVER_MARKER)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def ensure_default_cover(path: Path, title: str) -> bool:
    """Write the placeholder cover at `path` unless a file is there; True if it was written."""
    if path.exists():
        return False
    atomic_write_bytes(path, default_cover_png(title))
    return True
