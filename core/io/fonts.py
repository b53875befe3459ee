"""A scalable TrueType font for reports and charts: the bundled DejaVu font, else Pillow's built-in one."""

from __future__ import annotations

from functools import lru_cache

from PIL import ImageFont

from core.paths import resources_dir


@lru_cache(maxsize=16)
def load_font(size: int, bold: bool = False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for candidate in (resources_dir() / "fonts" / name, name):
        try:
            return ImageFont.truetype(str(candidate), size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)
