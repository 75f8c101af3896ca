"""A procedural labels -> facade task: the built-in demo data, generated on the fly.

Each pair is a label map of flat-coloured regions (sky, wall, cornice, windows, doors,
balconies), in the colours of the CMP facade labels of the pix2pix facades dataset (sky as its
background, wall as facade, the others as their namesakes), and a rendered "photo" of it. The
photo is not a per-pixel colour lookup of the labels, so a model needs spatial context to
produce it:

* the sky is a vertical gradient that reaches its lightest at the facade's top edge;
* the facade is lit from above: brightness falls linearly from its top to the ground;
* walls are brick, the pattern anchored at the facade's top-left corner (half-brick offset on
  alternate rows), with mortar joints;
* windows have a white frame and mullion at their borders and glass with a reflection that
  fades from the window's top-left corner;
* doors are planked wood with a frame; balconies are railings whose bars are anchored at the
  balcony's left edge; the cornice is stone with a shaded lower edge;
* windows, doors, balconies and the cornice cast a shadow onto the wall below and to the right.

Everything in the photo is a deterministic function of the label map and pixel positions (no
per-pixel noise), so the L1 optimum is a sharp image, and a small U-Net learns the coarse
appearance in a couple of CPU minutes at 64 px. The layout of pair ``i`` depends only on
``(seed, split, i)``; it is drawn in fractions of the image, so any size renders the same scene.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pix2pix._checks import check_choice, check_positive_int
from pix2pix.data.io import write_image
from pix2pix.data.transforms import match_channels, to_float
from pix2pix.palettes import CMP_FACADE_COLOURS

SPLITS = ("train", "test")
_SPLIT_STREAM = {"train": 0, "test": 1}
_MIN_SIZE = 16

SKY, WALL, CORNICE, WINDOW, DOOR, BALCONY = range(6)
CLASS_NAMES = ("sky", "wall", "cornice", "window", "door", "balcony")
#: The CMP facade class each synthetic class is drawn as: the one of the same meaning, so the
#: synthetic label maps are coloured as the pix2pix facades dataset's are.
CMP_CLASSES = {
    "sky": "background",
    "wall": "facade",
    "cornice": "cornice",
    "window": "window",
    "door": "door",
    "balcony": "balcony",
}
#: Label colour of each class (index = class id), RGB: its CMP class's facades colour.
LABEL_COLOURS = np.array(
    [dict(CMP_FACADE_COLOURS)[CMP_CLASSES[name]] for name in CLASS_NAMES], dtype=np.uint8
)


def synthetic_palette() -> list[dict[str, Any]]:
    """The synthetic classes as the ``inference["palette"]`` a label-map model records.

    Examples:
        >>> synthetic_palette()[0]
        {'name': 'sky', 'color': [0, 0, 223]}
    """
    return [
        {"name": name, "color": [int(c) for c in colour]}
        for name, colour in zip(CLASS_NAMES, LABEL_COLOURS)
    ]


_SKY_TOP = np.array([0.33, 0.52, 0.88])
_SKY_HORIZON = np.array([0.80, 0.87, 0.97])
_BRICK = np.array([0.70, 0.38, 0.28])
_MORTAR = np.array([0.86, 0.82, 0.76])
_STONE = np.array([0.88, 0.84, 0.74])
_FRAME = np.array([0.95, 0.95, 0.92])
_GLASS = np.array([0.14, 0.20, 0.28])
_WOOD = np.array([0.45, 0.27, 0.14])
_RAIL_BAR = np.array([0.16, 0.16, 0.18])
_RAIL_GAP = np.array([0.55, 0.57, 0.62])


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if min(height, width) < _MIN_SIZE:
        raise ValueError(f"size={size!r} is too small; each side must be at least {_MIN_SIZE}.")
    return int(height), int(width)


def _draw_layout(rng: np.random.Generator) -> dict[str, Any]:
    """The scene in fractions of the image: independent of the resolution."""
    floors = int(rng.integers(2, 5))
    columns = int(rng.integers(2, 5))
    margins = rng.uniform(0.0, 0.14, size=2) if rng.random() < 0.6 else np.zeros(2)
    return {
        "top": rng.uniform(0.06, 0.24),
        "margins": margins,
        "cornice": rng.uniform(0.025, 0.05),
        "floors": floors,
        "columns": columns,
        "window_width": rng.uniform(0.42, 0.66),
        "window_height": rng.uniform(0.45, 0.62),
        "window_top": rng.uniform(0.14, 0.28),
        "door_column": int(rng.integers(columns)),
        "balconies": rng.random(floors) < 0.4,
    }


def render_pair(
    index: int, *, seed: int = 0, size: int | tuple[int, int] = 128, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Render pair ``index`` of the synthetic facade task.

    Args:
        index: Which pair (any non-negative integer).
        seed: Seed of the whole set; pair ``(seed, split, index)`` is always the same.
        size: ``H`` (square) or ``(H, W)``; at least 16.
        split: ``"train"`` or ``"test"``: independent random streams, so the test split is
            held out.

    Returns:
        ``(labels, photo)``: two ``HxWx3`` ``uint8`` arrays.

    Examples:
        >>> labels, photo = render_pair(0, size=64)
        >>> labels.shape, photo.dtype
        ((64, 64, 3), dtype('uint8'))
    """
    check_choice("split", split, SPLITS)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index={index!r} must be a non-negative integer.")
    height, width = _size_pair(size)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _SPLIT_STREAM[split], int(index)])
    scene = _draw_layout(rng)
    classes = np.full((height, width), SKY, dtype=np.uint8)
    photo = np.zeros((height, width, 3), dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]

    top = round(scene["top"] * height)
    left = round(scene["margins"][0] * width)
    right = width - round(scene["margins"][1] * width)
    cornice_bottom = top + max(1, round(scene["cornice"] * height))
    floor_height = (height - cornice_bottom) / scene["floors"]
    cell_width = (right - left) / scene["columns"]

    # Sky: a vertical gradient, lightest at the horizon formed by the facade's top edge.
    t = np.clip(ys / max(top, 1), 0.0, 1.0)[..., None]
    photo[:] = _SKY_TOP * (1 - t) + _SKY_HORIZON * t

    # Wall: bricks anchored at the facade's top-left corner, half-brick offset per row.
    brick_height = max(2, round(height / 32))
    brick_width = 2 * brick_height
    row = np.floor_divide(ys - top, brick_height)
    mortar = ((ys - top) % brick_height == 0) | (
        (xs - left + (row % 2) * (brick_width // 2)) % brick_width == 0
    )
    wall_colour = np.where(mortar[..., None], _MORTAR, _BRICK)
    classes[top:, left:right] = WALL
    photo[top:, left:right] = wall_colour[top:, left:right]

    # Cornice: stone, darker along its lower edge.
    classes[top:cornice_bottom, left:right] = CORNICE
    photo[top:cornice_bottom, left:right] = _STONE
    photo[cornice_bottom - 1, left:right] = _STONE * 0.7

    def frame(y0: int, y1: int, x0: int, x1: int, thickness: int, bottom: bool) -> None:
        photo[y0 : y0 + thickness, x0:x1] = _FRAME
        photo[y0:y1, x0 : x0 + thickness] = _FRAME
        photo[y0:y1, x1 - thickness : x1] = _FRAME
        if bottom:
            photo[y1 - thickness : y1, x0:x1] = _FRAME

    for floor in range(scene["floors"]):
        floor_top = cornice_bottom + floor * floor_height
        y0 = round(floor_top + scene["window_top"] * floor_height)
        y1 = max(y0 + 2, round(y0 + scene["window_height"] * floor_height))
        ground_floor = floor == scene["floors"] - 1
        for column in range(scene["columns"]):
            cell_left = left + column * cell_width
            x0 = round(cell_left + (1 - scene["window_width"]) / 2 * cell_width)
            x1 = max(x0 + 2, round(x0 + scene["window_width"] * cell_width))
            thickness = max(1, round(0.1 * min(y1 - y0, x1 - x0)))
            if ground_floor and column == scene["door_column"]:
                classes[y0:, x0:x1] = DOOR
                plank = max(2, (x1 - x0) // 4)
                planks = (xs[:, x0:x1] - x0) % plank == 0
                photo[y0:, x0:x1] = np.where(planks[..., None], _WOOD * 0.65, _WOOD)
                frame(y0, height, x0, x1, thickness, bottom=False)
                continue
            classes[y0:y1, x0:x1] = WINDOW
            # Reflection: brightest at the window's top-left corner.
            u = (xs[:, x0:x1] - x0) / (x1 - x0)
            v = (ys[y0:y1] - y0) / (y1 - y0)
            photo[y0:y1, x0:x1] = _GLASS + 0.34 * (1 - (u + v) / 2)[..., None]
            frame(y0, y1, x0, x1, thickness, bottom=True)
            if x1 - x0 >= 6:  # a central mullion on windows wide enough to show it
                middle = (x0 + x1) // 2
                photo[y0:y1, middle - thickness // 2 : middle - thickness // 2 + thickness] = _FRAME
            if scene["balconies"][floor] and not ground_floor:
                pad = max(1, round(0.12 * (x1 - x0)))
                b0 = y1 - max(2, round(0.3 * (y1 - y0)))
                b1 = min(height, y1 + max(1, round(0.06 * floor_height)))
                bx0, bx1 = max(left, x0 - pad), min(right, x1 + pad)
                classes[b0:b1, bx0:bx1] = BALCONY
                bars = (xs[:, bx0:bx1] - bx0) % 3 == 0
                photo[b0:b1, bx0:bx1] = np.where(bars[..., None], _RAIL_BAR, _RAIL_GAP)
                photo[b0, bx0:bx1] = _STONE
                photo[b1 - 1, bx0:bx1] = _RAIL_BAR

    # Shadows: light from the upper left, so occluders darken the wall below and to the right.
    shift = max(1, round(height / 48))
    occluder = np.isin(classes, (CORNICE, WINDOW, DOOR, BALCONY))
    shadow = np.zeros_like(occluder)
    shadow[shift:, shift:] = occluder[:-shift, :-shift]
    photo[shadow & (classes == WALL)] *= 0.55

    # Lighting from above: the facade darkens linearly from its top to the ground.
    facade = classes != SKY
    light = 1.12 - 0.34 * np.clip((ys - top) / max(height - top, 1), 0.0, 1.0)
    photo *= np.where(facade, light, 1.0)[..., None]

    labels = LABEL_COLOURS[classes]
    return labels, np.clip(photo * 255.0 + 0.5, 0, 255).astype(np.uint8)


class SyntheticPairs(Dataset):
    """The synthetic labels -> facade task as a map-style dataset, generated on the fly.

    Items are ``{"source": labels, "target": photo, "path": "synthetic/000042"}`` with float32
    ``[C, H, W]`` tensors in [-1, 1], exactly like :class:`~pix2pix.data.PairedImageDataset`.
    Item ``i`` is the same for the same ``(seed, split, i)``, whatever the size, count or worker;
    nothing is random at load time (no jitter: the set can be made as large as needed).

    Args:
        length: Number of pairs.
        size: ``H`` (square) or ``(H, W)``, at least 16.
        seed: Seed of the set.
        in_channels: Channels of ``source``: 3, or 1 for the BT.601 luminance.
        out_channels: Channels of ``target``: 3, or 1.
        split: ``"train"`` or ``"test"`` (a held-out stream; see :meth:`splits`).

    Examples:
        >>> train, test = SyntheticPairs.splits(train_length=8, test_length=4, size=64)
        >>> item = train[0]
        >>> item["source"].shape, item["path"]
        (torch.Size([3, 64, 64]), 'synthetic/000000')
    """

    def __init__(
        self,
        length: int = 400,
        size: int | tuple[int, int] = 128,
        seed: int = 0,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        split: str = "train",
    ) -> None:
        check_positive_int(length=length)
        check_choice("in_channels", in_channels, (1, 3))
        check_choice("out_channels", out_channels, (1, 3))
        check_choice("split", split, SPLITS)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} must be an integer.")
        self.length = length
        self.size = _size_pair(size)
        self.seed = seed
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.split = split

    @classmethod
    def splits(
        cls,
        train_length: int = 400,
        test_length: int = 100,
        size: int | tuple[int, int] = 128,
        seed: int = 0,
        **kwargs: Any,
    ) -> tuple[SyntheticPairs, SyntheticPairs]:
        """A training set and a held-out test set (independent random streams).

        Examples:
            >>> train, test = SyntheticPairs.splits(16, 4, size=32)
            >>> len(train), len(test)
            (16, 4)
        """
        return (
            cls(train_length, size, seed, split="train", **kwargs),
            cls(test_length, size, seed, split="test", **kwargs),
        )

    @property
    def config(self) -> dict[str, Any]:
        """Settings as JSON values; ``direction``/``preprocess`` describe :meth:`write`'s files."""
        height, width = self.size
        return {
            "dataset": "synthetic",
            "direction": "BtoA",
            "preprocess": "none",
            "load_size": height,
            "crop_size": height,
            "size": [height, width],
            "seed": self.seed,
            "split": self.split,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "palette": synthetic_palette(),  # the label maps' classes, for pix2pix serve
        }

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(length={self.length}, size={self.size}, seed={self.seed}, "
            f"split={self.split!r})"
        )

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, photo)`` of item ``index`` as ``HxWx3`` ``uint8`` arrays."""
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} is out of range for {self.length} pairs")
        return render_pair(index % self.length, seed=self.seed, size=self.size, split=self.split)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        labels, photo = self.pair(index)
        source = match_channels(
            torch.from_numpy(labels).permute(2, 0, 1), self.in_channels, argument="in_channels"
        )
        target = match_channels(
            torch.from_numpy(photo).permute(2, 0, 1), self.out_channels, argument="out_channels"
        )
        prefix = "synthetic/" if self.split == "train" else "synthetic/test/"
        return {
            "source": to_float(source),
            "target": to_float(target),
            "path": f"{prefix}{index % self.length:06d}",
        }

    def write(
        self, folder: str | os.PathLike[str], *, layout: str = "aligned", ext: str = ".png"
    ) -> Path:
        """Write the pairs as image files that :class:`~pix2pix.data.PairedImageDataset` reads.

        As in the facades dataset, A is the photo and B the label map, so read them back with
        ``direction="BtoA"``. ``"aligned"`` writes ``folder/{i}{ext}`` (A left, B right);
        ``"folders"`` writes ``folder/A/{i}{ext}`` and ``folder/B/{i}{ext}``.

        Returns:
            ``folder``.

        Examples:
            >>> SyntheticPairs(4, size=32).write("/tmp/synthetic")
            PosixPath('/tmp/synthetic')
        """
        check_choice("layout", layout, ("aligned", "folders"))
        folder = Path(folder)
        targets = [folder] if layout == "aligned" else [folder / "A", folder / "B"]
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
        for index in range(self.length):
            labels, photo = self.pair(index)
            name = f"{index}{ext}"
            if layout == "aligned":
                write_image(folder / name, np.concatenate([photo, labels], axis=1))
            else:
                write_image(folder / "A" / name, photo)
                write_image(folder / "B" / name, labels)
        return folder
