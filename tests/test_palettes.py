"""The CMP facade label colours: how they are derived, and that the real label maps use them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pix2pix.palettes import CMP_FACADE_COLOURS
from pix2pix.pretrained.registry import CMP_FACADE_PALETTE

FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades"
CMP_ORDER = (
    "background",
    "facade",
    "window",
    "door",
    "cornice",
    "sill",
    "balcony",
    "blind",
    "deco",
    "molding",
    "pillar",
    "shop",
)


def _matlab_jet(m: int) -> np.ndarray:
    """MATLAB's ``jet(m)``, ``m x 3`` in [0, 1], as its ``jet.m`` builds it."""
    n = -(-m // 4)
    u = np.concatenate([np.arange(1, n + 1) / n, np.ones(n - 1), np.arange(n, 0, -1) / n])
    g = -(-n // 2) - (m % 4 == 1) + np.arange(1, len(u) + 1)
    table = np.zeros((m, 3))
    for channel, rows in enumerate((g + n, g, g - n)):
        kept = (rows >= 1) & (rows <= m)
        table[rows[kept] - 1, channel] = u[kept]
    return table


def test_the_colours_are_rows_5c_of_jet64_in_the_cmp_label_order():
    names = [name for name, _ in CMP_FACADE_COLOURS]
    assert names == list(CMP_ORDER)
    rows = np.floor(255 * _matlab_jet(64)[[5 * c for c in range(1, 13)]] + 0.5)
    assert np.array_equal(np.array([c for _, c in CMP_FACADE_COLOURS]), rows)
    # the registry's palette is the same table
    assert [(c.name, c.color) for c in CMP_FACADE_PALETTE] == list(CMP_FACADE_COLOURS)


def _distances(split: str, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the label pixels (B, the right half) of every ``every``-th pair.

    Returns:
        Each pixel's distance to the nearest palette colour, and per colour the number of
        pixels within 4 RGB units of it.
    """
    files = sorted((FACADES / split).glob("*.jpg"))[::every]
    assert files, f"no images in {FACADES / split}"
    palette = np.array([c for _, c in CMP_FACADE_COLOURS], dtype=np.float32)
    nearest, close = [], np.zeros(len(palette), dtype=np.int64)
    for path in files:  # one image at a time: 65536 x 12 distances, not millions
        labels = np.asarray(Image.open(path).convert("RGB"))[:, 256:].reshape(-1, 3)
        distance = np.linalg.norm(labels[:, None, :].astype(np.float32) - palette, axis=-1)
        nearest.append(distance.min(axis=1))
        close += (distance <= 4).sum(axis=0)
    return np.concatenate(nearest), close


@pytest.mark.skipif(not (FACADES / "train").is_dir(), reason="no ../shared facades")
def test_the_facades_label_maps_are_drawn_in_these_colours():
    nearest, close = _distances("train", every=4)  # 100 of the 400 label maps
    # JPEG moves flat regions by 1-2 units and blurs the edges between them: measured 5.5 on
    # all 400 (a jet(12) table guessed before: 37)
    assert np.median(nearest) < 8, np.median(nearest)
    # and every class's colour is really there: many pixels within 4 units of each
    assert (close > 500).all(), dict(zip(CMP_ORDER, close.tolist()))
