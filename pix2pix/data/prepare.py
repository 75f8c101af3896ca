"""Datasets that cannot be downloaded for you, prepared from the files you downloaded yourself.

Cityscapes' license forbids redistribution, so :func:`prepare_cityscapes` does what the canonical
repo's ``datasets/prepare_cityscapes_dataset.py`` does, from the two official zips as they are
(``gtFine_trainvaltest.zip``, ``leftImg8bit_trainvaltest.zip``; nothing is unzipped to disk):

* each photo (``leftImg8bit/SPLIT/CITY/ID_leftImg8bit.png``) is paired with its colour label map
  (``gtFine/SPLIT/CITY/ID_gtFine_color.png``) by ``ID``; a photo without its label map, or the
  reverse, is an error, as the canonical script's assertion is;
* both are converted to RGB and resized to 256 x 256 (bicubic: what that script's
  ``Image.resize`` does with Pillow 7 and later) and saved side by side, **photo left (A), label
  map right (B)**, as a JPEG of quality 100 without chroma subsampling;
* the ``train`` split goes to ``train/`` and the ``val`` split to ``test/``: the FCN-score
  protocol of the paper evaluates on Cityscapes val, and the canonical script saves it as
  ``test``. The ``test`` split (no public labels) is left out, as there.

Outputs are named ``ID.jpg`` (``aachen_000000_000019.jpg``) where the canonical script numbers
them ``0.jpg, 1.jpg, ...``: the canonical FCN-score script (``scripts/eval_cityscapes``) finds
each result by that ``ID``, which a number loses. The canonical script also writes ``trainA/``,
``trainB/`` ... copies for CycleGAN; pix2pix does not need them.

Everything is written into a temporary folder beside ``output`` and renamed into place at the
end, so a failure or a kill leaves no half dataset.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from pix2pix._files import atomic_directory
from pix2pix.data.download import COMPLETE_NAME
from pix2pix.pretrained.archive import DEFAULT_MAX_BYTES, UnsafeArchiveError, show_name
from pix2pix.pretrained.zip_reader import open_zip, read_member

logger = logging.getLogger(__name__)

CITYSCAPES_SIZE = 256
# The official photos are 2048 x 1024 PNGs of 2-3 MB; nothing in these zips comes near this.
MAX_IMAGE_BYTES = 64 << 20

# ID and CITY are restricted to the characters Cityscapes uses, so an output name built from
# them can hold no path separator, '..' or anything else a hostile archive might slip in.
_PHOTO = re.compile(r"leftImg8bit/(train|val)/[A-Za-z0-9_-]+/([A-Za-z0-9_-]+)_leftImg8bit\.png")
_LABEL = re.compile(r"gtFine/(train|val)/[A-Za-z0-9_-]+/([A-Za-z0-9_-]+)_gtFine_color\.png")
# the canonical script's save_phase: val becomes test
_SAVED_AS = {"train": "train", "val": "test"}

_Key = tuple[str, str]  # (split, ID)


def _members(
    archive: zipfile.ZipFile, pattern: re.Pattern[str], path: Path, expected: str
) -> dict[_Key, zipfile.ZipInfo]:
    found: dict[_Key, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        match = pattern.fullmatch(info.filename)
        if match is not None and not info.is_dir():
            found[(match.group(1), match.group(2))] = info
    if not found:
        raise ValueError(
            f"{path} holds no {expected} for train or val; is it the official "
            f"{'gtFine' if 'gtFine' in expected else 'leftImg8bit'}_trainvaltest.zip?"
        )
    return found


def _check_pairs(
    photos: Mapping[_Key, zipfile.ZipInfo],
    labels: Mapping[_Key, zipfile.ZipInfo],
    leftimg: Path,
    gtfine: Path,
) -> list[_Key]:
    no_label = sorted(set(photos) - set(labels))
    no_photo = sorted(set(labels) - set(photos))
    if no_label or no_photo:

        def examples(keys: list[_Key]) -> str:
            shown = ", ".join(f"{split}/{name}" for split, name in keys[:3])
            return f"{len(keys):,} ({shown}{', ...' if len(keys) > 3 else ''})"

        raise ValueError(
            f"The photos of {leftimg} and the label maps of {gtfine} do not pair up: "
            f"{examples(no_label) if no_label else 'no'} photos lack a label map and "
            f"{examples(no_photo) if no_photo else 'no'} label maps lack a photo. Use the "
            "trainvaltest zips of the same Cityscapes release."
        )
    return sorted(photos)


def _decode(data: bytes, where: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except Image.DecompressionBombError as error:
        raise ValueError(f"Could not read {where}: {error}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"Could not read {where}: {error} (a damaged PNG?).") from None


def _write_pair(photo: bytes, label: bytes, where: tuple[str, str], out: Path, size: int) -> None:
    a = _decode(photo, where[0]).resize((size, size), Image.Resampling.BICUBIC)
    b = _decode(label, where[1]).resize((size, size), Image.Resampling.BICUBIC)
    pair = Image.new("RGB", (2 * size, size))
    pair.paste(a, (0, 0))
    pair.paste(b, (size, 0))
    pair.save(out, format="JPEG", quality=100, subsampling=0)


def prepare_cityscapes(
    gtfine: str | os.PathLike[str],
    leftimg: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    size: int = CITYSCAPES_SIZE,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Write Cityscapes as aligned ``A|B`` pairs (photo | label map) the canonical way.

    Args:
        gtfine: ``gtFine_trainvaltest.zip`` as downloaded from cityscapes-dataset.com.
        leftimg: ``leftImg8bit_trainvaltest.zip``, likewise.
        output: The dataset folder to create (``output/train``, ``output/test``); it must not
            exist, or be empty.
        size: The side of each half, in pixels (the canonical 256).
        progress: Show a progress bar.
        workers: Threads that decode, resize and encode (default: up to 8).

    Returns:
        ``output`` as a ``Path``.

    Raises:
        FileExistsError: If ``output`` exists and is not an empty folder (nothing is read).
        FileNotFoundError: If a zip does not exist.
        ValueError: For a zip that is not the expected one, photos and label maps that do not
            pair up, or an unreadable image (nothing is written).
        pix2pix.pretrained.archive.UnsafeArchiveError: For an oversized zip directory, name
            or member.

    Examples:
        >>> prepare_cityscapes(  # doctest: +SKIP
        ...     "gtFine_trainvaltest.zip", "leftImg8bit_trainvaltest.zip", "cityscapes"
        ... )
        PosixPath('cityscapes')
    """
    gtfine, leftimg, output = Path(gtfine), Path(leftimg), Path(output)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size={size!r} must be a positive number of pixels (the canonical 256).")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers={workers!r} must be a positive integer (or None for auto).")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise FileExistsError(
            f"{output} already exists and is not an empty folder; choose a new output folder or "
            "remove it (nothing was read or written)."
        )
    with open_zip(gtfine) as labels_zip, open_zip(leftimg) as photos_zip:
        labels = _members(labels_zip, _LABEL, gtfine, "gtFine/SPLIT/CITY/*_gtFine_color.png")
        photos = _members(photos_zip, _PHOTO, leftimg, "leftImg8bit/SPLIT/CITY/*_leftImg8bit.png")
        keys = _check_pairs(photos, labels, leftimg, gtfine)
        total = sum(photos[k].file_size + labels[k].file_size for k in keys)
        if total > DEFAULT_MAX_BYTES:
            raise UnsafeArchiveError(
                f"{leftimg} and {gtfine} declare {total:,} bytes of images (the limit is "
                f"{DEFAULT_MAX_BYTES:,}); refused."
            )

        def write(tmp: Path) -> None:
            for folder in set(_SAVED_AS.values()):
                (tmp / folder).mkdir()
            threads = workers or min(8, os.cpu_count() or 1)
            bar = tqdm(total=len(keys), desc="cityscapes", unit="pair", disable=not progress)
            with bar, ThreadPoolExecutor(max_workers=threads) as pool:
                pending: set[Future[None]] = set()
                for split, name in keys:
                    photo, label = photos[(split, name)], labels[(split, name)]
                    # read here, one thread at a time; decoding and encoding go to the pool
                    job = pool.submit(
                        _write_pair,
                        read_member(photos_zip, photo, max_bytes=MAX_IMAGE_BYTES),
                        read_member(labels_zip, label, max_bytes=MAX_IMAGE_BYTES),
                        (
                            f"{leftimg}:{show_name(photo.filename)}",
                            f"{gtfine}:{show_name(label.filename)}",
                        ),
                        tmp / _SAVED_AS[split] / f"{name}.jpg",
                        size,
                    )
                    pending.add(job)
                    if len(pending) >= 2 * threads:  # bounded: a few decoded images in memory
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                            bar.update()
                for future in pending:
                    future.result()
                    bar.update()
            counts = {
                folder: sum(1 for k in keys if _SAVED_AS[k[0]] == folder)
                for folder in sorted(set(_SAVED_AS.values()))
            }
            record = {
                "name": "cityscapes",
                "splits": counts,
                "prepared_from": [gtfine.name, leftimg.name],
                "size": size,
                "a": "photo (leftImg8bit)",
                "b": "colour label map (gtFine_color)",
                "test": "the val split, as the canonical prepare_cityscapes_dataset.py saves it",
            }
            (tmp / COMPLETE_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

        atomic_directory(output, write)
    logger.info(
        "Wrote %s: train/ (%s pairs), test/ (%s pairs, the val split); photo A | label map B, "
        "%dx%d each.",
        output,
        f"{sum(1 for k in keys if k[0] == 'train'):,}",
        f"{sum(1 for k in keys if k[0] == 'val'):,}",
        size,
        size,
    )
    return output
