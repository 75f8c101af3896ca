"""Starter drawings: label maps like the synthetic generator's, in the model's own palette.

The synthetic facades (:mod:`pix2pix.data.synthetic`) have the classes sky, wall, cornice,
window, door and balcony. A palette that names them (or their CMP facade names: background,
facade) gets the layouts re-coloured class by class, so the drawings fit the model they are
served with, whatever its colours. A palette without sky, wall and window gets none.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from pix2pix.data.synthetic import CLASS_NAMES, LABEL_COLOURS, render_pair

STARTER_COUNT = 6
# synthetic class -> names it may have in a palette, preferred first
_ALIASES = {
    "sky": ("sky", "background"),
    "wall": ("wall", "facade"),
    "cornice": ("cornice", "molding"),
    "window": ("window",),
    "door": ("door",),
    "balcony": ("balcony",),
}
_REQUIRED = ("sky", "wall", "window")


def _colour_map(palette: list[dict[str, Any]]) -> np.ndarray | None:
    """``6x3`` colours, by synthetic class id, in the palette's colours; ``None`` if unfit."""
    by_name = {entry["name"].strip().lower(): entry["color"] for entry in palette}
    colours: dict[str, list[int]] = {}
    for cls, names in _ALIASES.items():
        found = next((by_name[n] for n in names if n in by_name), None)
        if found is not None:
            colours[cls] = found
    if any(cls not in colours for cls in _REQUIRED):
        return None
    # a class the model lacks is drawn as wall, so the layout stays a plausible facade
    return np.array([colours.get(cls, colours["wall"]) for cls in CLASS_NAMES], dtype=np.uint8)


class StarterDrawings:
    """The starter label maps for one model.

    Args:
        palette: The model's palette (see :func:`pix2pix.serve.model_info.read_palette`).
        size: ``(height, width)`` of the drawings: the model's canvas.
    """

    def __init__(self, palette: list[dict[str, Any]] | None, size: tuple[int, int]) -> None:
        self.colours = _colour_map(palette) if palette else None
        self.size = size

    def __len__(self) -> int:
        return STARTER_COUNT if self.colours is not None else 0

    @functools.lru_cache(maxsize=STARTER_COUNT)  # noqa: B019 (one instance per server)
    def drawing(self, index: int) -> np.ndarray:
        """Starter ``index`` as an ``HxWx3`` ``uint8`` label map.

        Raises:
            IndexError: If there is no such starter.
        """
        if not 0 <= index < len(self):
            raise IndexError(index)
        assert self.colours is not None
        # the held-out stream: layouts the demo model did not train on
        labels, _ = render_pair(index, seed=0, size=self.size, split="test")
        # back from the synthetic colours to class ids, then into the model's colours
        ids = np.zeros(labels.shape[:2], dtype=np.intp)
        for cls, colour in enumerate(LABEL_COLOURS):
            ids[(labels == colour).all(axis=-1)] = cls
        return self.colours[ids]
