"""The flat colours of label maps: found in the data, so a model trained on them can say how to
draw for it (``pix2pix serve`` offers them as the pen's classes).

A label map saved losslessly (PNG, BMP...) is a few exact colours; a photo is thousands. An
image whose :data:`MAX_COLOURS` most frequent exact colours cover nearly all of it counts as a
label map, and a folder whose every source image does has the colours they share as its
palette. JPEG label maps (the pix2pix facades, for one) smear each colour over dozens of values
and are not recognised: their palette comes from the dataset's record (``pix2pix download``)
or from ``--palette FILE``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Exact colours an image may mostly consist of and still count as a label map.
MAX_COLOURS = 64
#: ...the share of its pixels they must cover (the rest: anti-aliased edges).
MIN_COVERAGE = 0.98
#: A class is a colour holding at least this share of all the pixels seen.
MIN_SHARE = 0.002

Summary = dict[tuple[int, int, int], int]  # colour -> pixels


def colour_summary(image: np.ndarray) -> Summary | None:
    """The exact colours of an ``H x W x 3`` uint8 image and their pixel counts, or ``None``
    for an image that is no lossless label map.

    Examples:
        >>> flat = np.zeros((4, 4, 3), np.uint8); flat[:2] = (0, 0, 223)
        >>> colour_summary(flat)
        {(0, 0, 223): 8, (0, 0, 0): 8}
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return None
    pixels = image.reshape(-1, 3).astype(np.int64)
    keys = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    order = np.argsort(counts)[::-1][:MAX_COLOURS]
    if counts[order].sum() < MIN_COVERAGE * len(keys):
        return None
    return {
        (int(v >> 16), int(v >> 8 & 255), int(v & 255)): int(c)
        for v, c in zip(values[order], counts[order])
    }


def merge_summaries(summaries: list[Summary | None]) -> list[tuple[int, int, int]] | None:
    """The palette of a folder: the colours its label maps use, most frequent first; ``None``
    unless every image was a label map.

    Examples:
        >>> a = colour_summary(np.full((4, 4, 3), (0, 0, 223), np.uint8))
        >>> merge_summaries([a, a])
        [(0, 0, 223)]
    """
    if not summaries or any(summary is None for summary in summaries):
        return None
    total: dict[tuple[int, int, int], int] = {}
    for summary in summaries:
        for colour, count in summary.items():  # type: ignore[union-attr]
            total[colour] = total.get(colour, 0) + count
    pixels = sum(total.values())
    kept = [colour for colour, count in total.items() if count >= MIN_SHARE * pixels]
    if not 1 <= len(kept) <= MAX_COLOURS:
        return None
    return sorted(kept, key=lambda colour: -total[colour])


def as_inference_palette(colours: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """``inference["palette"]`` of colours without names: ``class 1``, ``class 2``...

    Examples:
        >>> as_inference_palette([(0, 0, 223)])
        [{'name': 'class 1', 'color': [0, 0, 223]}]
    """
    return [{"name": f"class {i}", "color": list(c)} for i, c in enumerate(colours, start=1)]
