"""The standard pix2pix datasets, one call away: ``download_dataset("facades")``.

Each archive comes from ``{base}/datasets/NAME.tar.gz`` (``base`` is ``PIX2PIX_DOWNLOAD_URL`` or
the official server; source: the canonical repo's ``datasets/download_pix2pix_dataset.sh``) and
is extracted to ``ROOT/NAME/<split>/`` with the archive's own splits, aligned ``A|B`` images
ready for :class:`~pix2pix.data.PairedImageDataset`. Downloads use the shared downloader
(:mod:`pix2pix.pretrained.download`: resume, retries, disk-space check, sha256 recorded at
first download) and the safe extractor (:mod:`pix2pix.pretrained.archive`).

A dataset is *complete* when the completeness record written after its extraction
(``ROOT/NAME/.pix2pix-dataset.json``) still matches the files: the same splits with the same
number of images each. A complete dataset is never downloaded again.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pix2pix._files import atomic_write_text
from pix2pix.data.io import is_image_file
from pix2pix.pretrained.archive import safe_extract
from pix2pix.pretrained.cache import base_url, downloads_dir
from pix2pix.pretrained.download import Manifest, fetch

logger = logging.getLogger(__name__)

COMPLETE_NAME = ".pix2pix-dataset.json"

# Sources, by short name: ``script`` = the canonical repo's datasets/download_pix2pix_dataset.sh
# (names, URL, the cityscapes refusal); ``docs`` = its docs/datasets.md (contents and counts);
# ``readme`` = its README.md (facades is trained/tested with --direction BtoA, "as Facades
# dataset's A to B direction is photos to labels"); ``bicyclegan`` = junyanz/BicycleGAN, which
# downloads the same archives (datasets/download_dataset.sh) and states each one's direction in
# its scripts: test_maps.sh runs map -> aerial as BtoA, test_edges2shoes.sh,
# test_edges2handbags.sh and test_night2day.sh run AtoB (edges -> photo, night -> day); its
# datasets/bibtex/night2day.tex cites Transient Attributes.


@dataclass(frozen=True)
class DatasetInfo:
    """A standard paired dataset.

    Attributes:
        name: The archive name (``facades``).
        description: What the pairs are.
        a: What the left half (A) of each aligned image shows.
        b: What the right half (B) shows.
        direction: The direction of the usual task (``"BtoA"`` for facades labels -> photo).
        splits: The splits the archive is expected to hold; the first must be present.
        counts: Exact image counts per split, where a source states them.
        citation: What to cite.
        sources: Where each fact comes from.
        inferred: The facts not confirmed by a source.
    """

    name: str
    description: str
    a: str
    b: str
    direction: str
    splits: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    citation: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    inferred: tuple[str, ...] = ()

    def url(self) -> str:
        """The archive's URL under the current base URL."""
        return f"{base_url()}/datasets/{self.name}.tar.gz"

    @property
    def task(self) -> str:
        """The usual task in words (``"label map -> photo"``)."""
        source, target = (self.a, self.b) if self.direction == "AtoB" else (self.b, self.a)
        return f"{source} -> {target}"


_SIDES = "bicyclegan (scripts/test_{}.sh, DIRECTION={!r} for {})"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "facades",
            "400 training images from the CMP Facade Database",
            a="photo",
            b="label map",
            direction="BtoA",
            splits=("train", "val", "test"),
            counts={"train": 400},
            citation="Tylecek, Sara. Spatial Pattern Templates for Recognition of Objects with "
            "Regular Structure. GCPR 2013.",
            sources={
                "a/b/direction": "readme",
                "counts.train": "docs ('400 images'), and the Torch pix2pix README ('trained on "
                "just 400 images')",
                "splits": "issue 14 and a third-party tutorial listing train/val/test",
            },
        ),
        DatasetInfo(
            "maps",
            "1,096 training pairs scraped from Google Maps",
            a="aerial photo",
            b="map",
            direction="AtoB",
            splits=("train", "val"),
            counts={"train": 1096},
            sources={
                "counts.train": "docs ('1096 training images')",
                "a/b/direction": _SIDES.format("maps", "BtoA", "map -> aerial photo"),
            },
        ),
        DatasetInfo(
            "edges2shoes",
            "about 50k shoe photos from UT Zappos50K with HED edges",
            a="edge map",
            b="shoe photo",
            direction="AtoB",
            splits=("train", "val"),
            citation="Yu, Grauman. Fine-Grained Visual Comparisons with Local Learning. CVPR 2014.",
            sources={
                "description": "docs",
                "a/b/direction": _SIDES.format("edges2shoes", "AtoB", "edges -> shoe photo"),
            },
        ),
        DatasetInfo(
            "edges2handbags",
            "about 137k Amazon handbag photos from the iGAN project with HED edges",
            a="edge map",
            b="handbag photo",
            direction="AtoB",
            splits=("train", "val"),
            citation="Zhu, Krahenbuhl, Shechtman, Efros. Generative Visual Manipulation on the "
            "Natural Image Manifold. ECCV 2016.",
            sources={
                "description": "docs",
                "a/b/direction": _SIDES.format("edges2handbags", "AtoB", "edges -> handbag photo"),
            },
        ),
        DatasetInfo(
            "night2day",
            "night and day photos of the same scenes (Transient Attributes)",
            a="night photo",
            b="day photo",
            direction="AtoB",
            splits=("train", "val", "test"),
            counts={"train": 17_823, "val": 10, "test": 2_287},
            citation="Laffont, Ren, Tao, Qian, Hays. Transient Attributes for High-Level "
            "Understanding and Editing of Outdoor Scenes. SIGGRAPH 2014.",
            sources={
                "name": "script",
                "description": "bicyclegan (datasets/bibtex/night2day.tex); not in the canonical "
                "docs/datasets.md",
                "a/b/direction": _SIDES.format("night2day", "AtoB", "night -> day photo"),
                "splits/counts": "issue 31 (the archive holds train/val/test with 17,823 / 10 / "
                "2,287 pairs)",
            },
        ),
    )
}

CITYSCAPES_MESSAGE = (
    "The Cityscapes dataset cannot be redistributed (its license requires each user to register "
    "at https://www.cityscapes-dataset.com and accept its terms), so pix2pix does not download "
    "it. Download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip there yourself, then "
    "prepare them as the canonical prepare_cityscapes_dataset.py does (photo left as A, colour "
    "label map right as B, each resized to 256x256; the val split saved as test/, which the "
    "FCN-score protocol evaluates on): pix2pix prepare cityscapes --gtfine "
    "gtFine_trainvaltest.zip --leftimg leftImg8bit_trainvaltest.zip --output cityscapes (then "
    "train labels -> photo with --direction BtoA)."
)


def list_datasets() -> list[str]:
    """The names :func:`download_dataset` accepts."""
    return list(DATASETS)


def _info(name: str) -> DatasetInfo:
    if name == "cityscapes":
        raise ValueError(CITYSCAPES_MESSAGE)
    if name not in DATASETS:
        close = difflib.get_close_matches(name, list(DATASETS), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown dataset {name!r}.{hint} Standard datasets: {', '.join(DATASETS)} "
            "(cityscapes: its license forbids redistribution; see pix2pix prepare cityscapes)."
        )
    return DATASETS[name]


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file() and is_image_file(p))


def _split_counts(folder: Path) -> dict[str, int]:
    if not folder.is_dir():
        return {}
    return {p.name: _count_images(p) for p in sorted(folder.iterdir()) if p.is_dir()}


def dataset_is_complete(name: str, root: str | os.PathLike[str] = ".") -> bool:
    """Whether ``ROOT/NAME`` holds the whole extracted dataset.

    With a completeness record (written by :func:`download_dataset`), every recorded split must
    still have its recorded number of images. Without one (extracted by hand or by the
    canonical script) every expected split must exist with images, and the counts a source
    states must match.
    """
    info = _info(name)
    folder = Path(root) / name
    counts = _split_counts(folder)
    record_path = folder / COMPLETE_NAME
    if record_path.is_file():
        try:
            recorded = json.loads(record_path.read_text(encoding="utf-8")).get("splits", {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return False
        return bool(recorded) and all(counts.get(s) == n for s, n in recorded.items())
    if not all(counts.get(split, 0) > 0 for split in info.splits):
        return False
    return all(counts.get(split) == n for split, n in info.counts.items())


def download_dataset(
    name: str,
    root: str | os.PathLike[str] = ".",
    *,
    progress: bool = True,
    force: bool = False,
    keep_archive: bool = False,
) -> Path:
    """Download and extract a standard dataset to ``ROOT/NAME`` unless it is already complete.

    Args:
        name: ``facades``, ``maps``, ``edges2shoes``, ``edges2handbags`` or ``night2day``.
        root: The parent folder (default: the current folder, so ``facades/train`` is where
            ``pix2pix train --data facades/train`` looks).
        progress: Show a progress bar.
        force: Download and extract again even if complete (a kept archive is downloaded
            again too).
        keep_archive: Keep the ``.tar.gz`` in the cache's ``downloads/`` folder (it is deleted
            after a successful extraction by default; its sha256 stays recorded).

    Returns:
        The dataset folder ``ROOT/NAME`` (holding ``train/`` and the other splits).

    Raises:
        ValueError: For an unknown name, ``cityscapes`` (license), a damaged or unsafe archive,
            or an archive without the expected splits.
        pix2pix.pretrained.download.DownloadError: When the download fails.

    Examples:
        >>> folder = download_dataset("facades")  # doctest: +SKIP
        >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
        ['test', 'train', 'val']
    """
    info = _info(name)
    folder = Path(root) / name
    if not force and dataset_is_complete(name, root):
        logger.info("%s is already complete in %s; nothing downloaded.", name, folder)
        return folder
    archive = downloads_dir() / f"{name}.tar.gz"

    def has_training_images(extracted: Path) -> None:
        counts = _split_counts(extracted)
        missing = [split for split in info.splits[:1] if counts.get(split, 0) == 0]
        if missing:
            kept = f"; {folder} is as it was" if folder.exists() else ""
            raise ValueError(
                f"The archive {info.url()} has no images in {', '.join(missing)}/ (it holds "
                f"{sorted(counts) or 'no split folders'}); nothing was extracted{kept}."
            )

    def extract(path: Path) -> None:
        # fetch's check: an archive that does not extract, or holds no training images, is
        # deleted and never recorded, so the next run (or --force) downloads it again; it is
        # checked before it replaces the folder, so a bad --force never costs the good copy
        safe_extract(path, folder, strip_prefix=name, check=has_training_images)

    fetch(
        info.url(),
        archive,
        what=f"{name}.tar.gz",
        progress=progress,
        manifest=Manifest(),
        check=extract,
        force=force,
    )
    counts = _split_counts(folder)
    record: dict[str, Any] = {"name": name, "url": info.url(), "splits": counts}
    atomic_write_text(folder / COMPLETE_NAME, json.dumps(record, indent=2) + "\n")
    if not keep_archive:
        archive.unlink(missing_ok=True)
    written = ", ".join(f"{split}/ ({n:,} images)" for split, n in counts.items())
    logger.info("Wrote %s: %s.", folder, written)
    return folder


def recorded_task(folder: str | os.PathLike[str]) -> DatasetInfo | None:
    """The standard dataset that ``folder`` (a split, or the dataset's own folder) belongs to,
    as its download recorded it (``.pix2pix-dataset.json``); ``None`` when nothing records it.

    Examples:
        >>> recorded_task("facades/train").direction  # doctest: +SKIP
        'BtoA'
    """
    folder = Path(folder)
    for candidate in (folder, folder.parent):
        record = candidate / COMPLETE_NAME
        if not record.is_file():
            continue
        try:
            name = json.loads(record.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            return None  # a damaged record says nothing
        return DATASETS.get(name) if isinstance(name, str) else None
    return None


D = TypeVar("D")


def open_standard_dataset(
    cls: type[D],
    name: str,
    root: str | os.PathLike[str] = ".",
    *,
    split: str = "train",
    direction: str | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> D:
    """Download ``name`` if needed and build ``cls(ROOT/NAME/split, direction=..., **kwargs)``.

    The implementation of ``PairedImageDataset.download``: the direction defaults to the usual
    task's, so ``PairedImageDataset.download("facades")`` yields label maps as sources.

    Raises:
        ValueError: For an unknown dataset, or a split the archive does not hold.
    """
    info = _info(name)
    folder = download_dataset(name, root, progress=progress)
    if not (folder / split).is_dir():
        have = sorted(_split_counts(folder))
        raise ValueError(f"{name} has no split {split!r}; it has {have}.")
    return cls(folder / split, direction=direction or info.direction, **kwargs)  # type: ignore[call-arg]
