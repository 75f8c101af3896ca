"""Galleries: PNG grids of images side by side with captions, and an HTML page for each."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from pix2pix.inference.images import to_display

__all__ = ["GalleryRow", "write_gallery"]


@dataclass
class GalleryRow:
    """One row of a gallery: images side by side, with a name and a caption under them.

    Attributes:
        name: What the row shows (a file name); written before the caption.
        images: ``[C, H, W]`` tensors in [-1, 1], one per column (sizes may differ).
        caption: Extra text, e.g. the row's metrics.

    Example:
        >>> row = GalleryRow("1.jpg", [torch.zeros(3, 8, 8)] * 3, "L1 0.10")
    """

    name: str
    images: Sequence[torch.Tensor]
    caption: str = ""


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, font: Any) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _tile(image: torch.Tensor) -> Image.Image:
    array = to_display(image.unsqueeze(0))[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, mode="RGB")


def write_gallery(
    rows: Sequence[GalleryRow],
    path_png: str | os.PathLike[str],
    path_html: str | os.PathLike[str] | None = None,
    *,
    columns: Sequence[str] = ("source", "output", "target"),
    title: str = "pix2pix gallery",
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write a PNG grid of ``rows`` with column labels and captions, and an HTML page for it.

    Each cell is as large as the largest image; smaller images sit at its top-left corner.
    Gray images show as gray, extra channels (alpha) are not shown. The HTML page is
    self-contained apart from the PNG, which it references by a relative path; it lists each
    row's name and caption and the ``notes`` (e.g. the evaluation mode).

    Args:
        rows: The rows, each with one image per entry of ``columns``.
        path_png: Where to write the grid.
        path_html: Where to write the page (``None``: no page).
        columns: The column labels.
        title: Title of the page.
        notes: Lines shown on the page above the grid.

    Returns:
        ``{"png": path}``, plus ``"html"`` when a page was written.

    Raises:
        ValueError: If there are no rows or a row's image count differs from ``columns``.

    Example:
        >>> x = torch.zeros(3, 16, 16)
        >>> write_gallery([GalleryRow("a", [x, x, x])], "/tmp/g.png")  # doctest: +SKIP
        {'png': PosixPath('/tmp/g.png')}
    """
    if not rows:
        raise ValueError("write_gallery needs at least one row; got none.")
    for row in rows:
        if len(row.images) != len(columns):
            raise ValueError(
                f"Gallery row {row.name!r} has {len(row.images)} image(s) but there are "
                f"{len(columns)} columns {tuple(columns)}; give one image per column."
            )
    tiles = [[_tile(image) for image in row.images] for row in rows]
    cell_w = max(tile.width for row in tiles for tile in row)
    cell_h = max(tile.height for row in tiles for tile in row)
    pad, header, caption_h = 2, 14, 13
    width = len(columns) * (cell_w + pad) + pad
    row_h = cell_h + caption_h + pad
    canvas = Image.new("RGB", (width, header + len(rows) * row_h + pad), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(11)
    for j, label in enumerate(columns):
        x = pad + j * (cell_w + pad)
        draw.text((x + 2, 1), _fit_text(draw, label, cell_w - 4, font), fill="black", font=font)
    for i, (row, row_tiles) in enumerate(zip(rows, tiles)):
        y = header + i * row_h
        for j, tile in enumerate(row_tiles):
            canvas.paste(tile, (pad + j * (cell_w + pad), y))
        text = f"{row.name}  {row.caption}".strip()
        draw.text(
            (pad + 2, y + cell_h), _fit_text(draw, text, width - 8, font), fill="black", font=font
        )
    path_png = Path(path_png)
    path_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path_png)
    written = {"png": path_png}
    if path_html is not None:
        path_html = Path(path_html)
        path_html.parent.mkdir(parents=True, exist_ok=True)
        source = os.path.relpath(path_png, path_html.parent)
        items = "\n".join(
            f"<tr><td>{i}</td><td>{html.escape(row.name)}</td><td>{html.escape(row.caption)}"
            "</td></tr>"
            for i, row in enumerate(rows)
        )
        paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in notes)
        path_html.write_text(
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>\n<style>body{{font-family:sans-serif}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "</style></head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{paragraphs}\n"
            f"<p>Columns: {html.escape(' | '.join(columns))}</p>\n"
            f"<img src='{html.escape(source)}' alt='{html.escape(title)}'>\n"
            f"<table><tr><th>row</th><th>name</th><th>caption</th></tr>\n{items}\n</table>\n"
            "</body></html>\n"
        )
        written["html"] = path_html
    return written
