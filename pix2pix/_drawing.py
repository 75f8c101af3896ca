"""Text on pictures: the font and the fitting that galleries, sample grids and the demo share."""

from __future__ import annotations

from typing import Any

from PIL import ImageDraw, ImageFont


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (its fixed bitmap font without FreeType).

    Examples:
        >>> font(11) is not None
        True
    """
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, font: Any) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels.

    Examples:
        >>> from PIL import Image
        >>> draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
        >>> fit_text(draw, "a long caption", 30, ImageFont.load_default()).endswith("...")
        True
    """
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."
