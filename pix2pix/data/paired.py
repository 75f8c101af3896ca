"""The paired image dataset: aligned ``A|B`` files, or ``A/`` and ``B/`` folders matched by name."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pix2pix._checks import check_choice, check_positive_int
from pix2pix.constants import DIRECTION_CHOICES, PREPROCESS_CHOICES
from pix2pix.data.io import IMAGE_EXTENSIONS, list_images, natural_sort_key, read_image
from pix2pix.data.transforms import (
    PairTransform,
    match_channels,
)
from pix2pix.palettes import check_palette

logger = logging.getLogger(__name__)

LAYOUTS = ("auto", "aligned", "folders")
ON_ERROR_CHOICES = ("raise", "skip")
_MAX_NAMES_IN_ERRORS = 5


def _array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """``HxWxC`` uint8/uint16 array -> ``[C, H, W]`` tensor view (no copy)."""
    return torch.from_numpy(array).permute(2, 0, 1)


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES_IN_ERRORS])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_NAMES_IN_ERRORS else "")


class PairedImageDataset(Dataset):
    """Pairs of images for pix2pix, jittered jointly, as ``{"source", "target", "path"}`` dicts.

    Two layouts on disk:

    * ``"aligned"``: every image in ``root`` holds A and B side by side, A on the left; it is
      split at the middle (for an odd width the last column is dropped so the halves match).
    * ``"folders"``: ``root/A`` and ``root/B`` hold separate files paired by name without
      extension (``A/12.jpg`` with ``B/12.png``); paired images must have the same size.

    ``"auto"`` picks ``"folders"`` when ``root/A`` and ``root/B`` both exist, else ``"aligned"``.
    Only files directly in those folders count (not subfolders), with the extensions in
    :data:`~pix2pix.data.io.IMAGE_EXTENSIONS` in any case, in natural order (``2.jpg`` before
    ``10.jpg``).

    ``direction="AtoB"`` makes A the source (the generator's input) and B the target;
    ``"BtoA"`` swaps them. ``source`` gets ``in_channels`` and ``target`` ``out_channels`` by
    :func:`~pix2pix.data.transforms.match_channels` (gray -> RGB replicates; RGB -> gray is the
    BT.601 luminance; alpha is dropped, not composited). 16-bit PNGs keep their full range.
    EXIF orientation is applied. Values are float32 in [-1, 1].

    ``preprocess`` is the reference implementation's option of the same name (table in
    :mod:`pix2pix.data.transforms`). ``train=False`` is deterministic: resize to ``crop_size``
    instead of jittering, no flip. Random draws use ``torch``'s generator, so a ``DataLoader``
    with a seeded ``generator`` (and ``torch.manual_seed`` when ``num_workers=0``) gives the same
    batches every run.

    Args:
        root: The dataset folder (for facades: ``facades/train``).
        direction: ``"AtoB"`` or ``"BtoA"``.
        layout: ``"auto"``, ``"aligned"`` or ``"folders"``.
        preprocess: One of :data:`~pix2pix.data.transforms.PREPROCESS_CHOICES`.
        load_size: Resize size before the random crop (the paper's 286).
        crop_size: Crop size, the training resolution (the paper's 256).
        flip: Random horizontal mirroring while training.
        train: Random jitter (``True``) or the deterministic evaluation transform.
        in_channels: Channels of ``source``.
        out_channels: Channels of ``target``.
        size_multiple: With ``preprocess="none"`` each side is resized to the nearest multiple of
            this (at least one multiple); pass the generator's ``size_multiple`` (256 for the
            paper's U-Net, 4 for the ResNet generator).
        on_error: ``"raise"`` stops at an unreadable or unusable image, naming it; ``"skip"``
            warns, counts it in :attr:`skipped` and returns the next image instead.
        resize: ``"torch"`` (default: fast bicubic kernels, within 1-2 grey levels of Pillow)
            or ``"pil"`` (pixel-exact: Pillow's resize and torchvision's ``ToTensor`` +
            ``Normalize`` arithmetic, the canonical pipeline bit for bit; 8-bit images only,
            slower). See :mod:`pix2pix.data.transforms`.
        palette: For label-map sources, their classes ``[{"name": ..., "color": [r, g, b]},
            ...]`` (background first): recorded with a model trained on them, so
            ``pix2pix serve`` draws with them. ``pix2pix train`` finds it (a known dataset's,
            the lossless label maps' own colours, or ``--palette FILE``).

    Raises:
        FileNotFoundError: If ``root`` (or ``root/A``, ``root/B`` for ``"folders"``) is missing.
        ValueError: For bad argument values, a folder without images, unpaired names or
            duplicate names.

    Examples:
        >>> data = PairedImageDataset("facades/train", direction="BtoA")  # doctest: +SKIP
        >>> item = data[0]  # doctest: +SKIP
        >>> item["source"].shape, item["target"].shape  # doctest: +SKIP
        (torch.Size([3, 256, 256]), torch.Size([3, 256, 256]))
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        direction: str = "AtoB",
        layout: str = "auto",
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        train: bool = True,
        in_channels: int = 3,
        out_channels: int = 3,
        size_multiple: int = 256,
        on_error: str = "raise",
        resize: str = "torch",
        palette: list[dict[str, Any]] | None = None,
    ) -> None:
        check_choice("direction", direction, DIRECTION_CHOICES)
        check_choice("layout", layout, LAYOUTS)
        check_choice("preprocess", preprocess, PREPROCESS_CHOICES)
        check_choice("on_error", on_error, ON_ERROR_CHOICES)
        check_positive_int(in_channels=in_channels, out_channels=out_channels)
        self.transform = PairTransform(
            preprocess,
            load_size=load_size,
            crop_size=crop_size,
            flip=flip,
            train=train,
            size_multiple=size_multiple,
            resize=resize,
        )
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"Dataset folder not found: {self.root}")
        if not self.root.is_dir():
            raise NotADirectoryError(f"Dataset root {self.root} is a file; pass its folder.")
        self.layout = self._detect_layout() if layout == "auto" else layout
        self.direction = direction
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.on_error = on_error
        self.palette = None if palette is None else check_palette(palette, "palette")
        self.pairs: list[tuple[Path, Path | None]] = (
            self._find_aligned() if self.layout == "aligned" else self._find_folders()
        )
        # Shared memory, so skips counted inside DataLoader worker processes are seen here too.
        self._skipped = torch.zeros(1, dtype=torch.int64).share_memory_()

    # ----------------------------------------------------------------------------- discovery

    def _detect_layout(self) -> str:
        if (self.root / "A").is_dir() and (self.root / "B").is_dir():
            return "folders"
        return "aligned"

    def _no_images_error(self, folder: Path) -> ValueError:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        hint = (
            f" It has subfolders ({_some(subfolders)}): pass one of them as root, or use "
            "A/ and B/ subfolders for the 'folders' layout."
            if subfolders
            else ""
        )
        return ValueError(
            f"No images found in {folder} (accepted extensions, any case: "
            f"{', '.join(IMAGE_EXTENSIONS)}).{hint}"
        )

    def _find_aligned(self) -> list[tuple[Path, Path | None]]:
        files = list_images(self.root)
        if not files:
            raise self._no_images_error(self.root)
        return [(path, None) for path in files]

    def _find_folders(self) -> list[tuple[Path, Path | None]]:
        by_stem: list[dict[str, Path]] = []
        for side in ("A", "B"):
            folder = self.root / side
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"layout='folders' needs {folder}; put the A images in {self.root / 'A'} and "
                    f"their partners, with the same names, in {self.root / 'B'}."
                )
            files = list_images(folder)
            if not files:
                raise self._no_images_error(folder)
            stems: dict[str, Path] = {}
            for path in files:
                if path.stem in stems:
                    raise ValueError(
                        f"Two images in {folder} share the name {path.stem!r} "
                        f"({stems[path.stem].name} and {path.name}); pairs are matched by name "
                        "without extension, so names must be unique."
                    )
                stems[path.stem] = path
            by_stem.append(stems)
        a_stems, b_stems = by_stem
        only_a = sorted(a_stems.keys() - b_stems.keys(), key=natural_sort_key)
        only_b = sorted(b_stems.keys() - a_stems.keys(), key=natural_sort_key)
        if only_a or only_b:
            parts = []
            if only_a:
                parts.append(
                    f"{len(only_a)} in {self.root / 'A'} have no partner in B ({_some(only_a)})"
                )
            if only_b:
                parts.append(
                    f"{len(only_b)} in {self.root / 'B'} have no partner in A ({_some(only_b)})"
                )
            raise ValueError(
                f"Unpaired images: {'; '.join(parts)}. Pairs are matched by file name without "
                "extension; add the missing partners or remove the extra files."
            )
        names = sorted(a_stems, key=natural_sort_key)
        return [(a_stems[stem], b_stems[stem]) for stem in names]

    # ----------------------------------------------------------------------------- access

    @property
    def config(self) -> dict[str, Any]:
        """The settings that define what the model sees, as JSON values (for model configs)."""
        return {
            "direction": self.direction,
            "layout": self.layout,
            "preprocess": self.transform.preprocess,
            "load_size": self.transform.load_size,
            "crop_size": self.transform.crop_size,
            "flip": self.transform.flip,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "size_multiple": self.transform.size_multiple,
            # recorded only when on, so the configs of default datasets keep their keys
            **({"resize": self.transform.resize} if self.transform.resize != "torch" else {}),
            **({"palette": self.palette} if self.palette is not None else {}),
        }

    @property
    def preprocess(self) -> str:
        return self.transform.preprocess

    @property
    def load_size(self) -> int:
        return self.transform.load_size

    @property
    def crop_size(self) -> int:
        return self.transform.crop_size

    @property
    def train(self) -> bool:
        return self.transform.train

    @property
    def paths(self) -> list[str]:
        """The file of each item: the aligned file, or the A file for ``"folders"``."""
        return [str(a) for a, _ in self.pairs]

    @classmethod
    def download(
        cls,
        name: str,
        root: str | os.PathLike[str] = ".",
        *,
        split: str = "train",
        direction: str | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> PairedImageDataset:
        """Download a standard dataset if needed and open its ``split``.

        ``ROOT/NAME/SPLIT`` is opened once :func:`pix2pix.data.download_dataset` has made it
        complete (nothing is downloaded when it already is). ``direction`` defaults to the
        dataset's usual task (facades: labels -> photo, ``"BtoA"``).

        Examples:
            >>> train = PairedImageDataset.download("facades", "data")  # doctest: +SKIP
            >>> train.direction  # doctest: +SKIP
            'BtoA'
        """
        from pix2pix.data.download import open_standard_dataset  # downloads only on request

        return open_standard_dataset(
            cls, name, root, split=split, direction=direction, progress=progress, **kwargs
        )

    @property
    def skipped(self) -> int:
        """How many items were replaced because their image could not be used (``on_error``)."""
        return int(self._skipped.item())

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, {len(self)} pairs, "
            f"layout={self.layout!r}, direction={self.direction!r}, transform={self.transform})"
        )

    def _load(self, index: int) -> dict[str, torch.Tensor | str]:
        a_path, b_path = self.pairs[index]
        if b_path is None:
            image = read_image(a_path)
            width = image.shape[1]
            half = width // 2
            if half == 0:
                raise ValueError(
                    f"{a_path} is {width} pixel(s) wide; an aligned pair needs A and B side by "
                    "side. Use layout='folders' for separate A/ and B/ files."
                )
            tensor = _array_to_tensor(image)
            a, b = tensor[:, :, :half], tensor[:, :, half : 2 * half]
            a_name = b_name = str(a_path)
        else:
            a_image, b_image = read_image(a_path), read_image(b_path)
            if a_image.shape[:2] != b_image.shape[:2]:
                (ah, aw), (bh, bw) = a_image.shape[:2], b_image.shape[:2]
                raise ValueError(
                    f"Paired images differ in size: {a_path} is {aw}x{ah} but {b_path} is "
                    f"{bw}x{bh} (width x height). Resize one of them so the pixels line up."
                )
            a, b = _array_to_tensor(a_image), _array_to_tensor(b_image)
            a_name, b_name = str(a_path), str(b_path)
        if self.direction == "BtoA":
            a, b, a_name, b_name = b, a, b_name, a_name
        source = match_channels(a, self.in_channels, name=a_name, argument="in_channels")
        target = match_channels(b, self.out_channels, name=b_name, argument="out_channels")
        source, target = self.transform(source, target, name=a_name)
        return {"source": source, "target": target, "path": a_name}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        """The pair at ``index``: ``source`` and ``target`` ``[C, H, W]`` in [-1, 1], ``path``.

        With ``on_error="skip"``, an unusable image (unreadable, wrong size or channels) is
        skipped with a warning and the next one is returned instead.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} pairs")
        index %= len(self)
        for attempt in range(len(self)):
            try:
                return self._load((index + attempt) % len(self))
            except (ValueError, OSError) as error:
                if self.on_error == "raise":
                    raise
                self._skipped += 1
                # logged, so a run's log says which file; the trainer counts skips in its metrics
                logger.warning("Skipped an unusable pair (on_error='skip'): %s", error)
        raise RuntimeError(f"None of the {len(self)} pairs in {self.root} could be used.")
