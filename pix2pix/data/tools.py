"""Dataset tools: combine ``A/`` and ``B/`` folders into aligned ``A|B`` files, and split them.

Both run over the files in parallel threads (Pillow and zlib release the GIL while decoding and
encoding), show a tqdm progress bar, and return a report of what was written and what was
skipped and why, instead of stopping at the first bad file.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pix2pix.data.io import IMAGE_EXTENSIONS, list_images, natural_sort_key, read_image, write_image

logger = logging.getLogger(__name__)

_MAX_EXISTING_IN_ERRORS = 3


@dataclass
class SkippedFile:
    """A file a tool did not write, and why."""

    path: str
    reason: str


@dataclass
class ToolReport:
    """What :func:`combine_folders` or :func:`split_folder` did.

    Attributes:
        output: The output folder.
        written: How many inputs (pairs for combine, files for split) were written.
        skipped: The inputs that were not, with the reason for each.

    Examples:
        >>> report = combine_folders("photos", "labels", "aligned")  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
        wrote 400 to aligned; skipped 0
    """

    output: Path
    written: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)

    def summary(self) -> str:
        """One line per skipped file after a headline, for logs and the command line."""
        lines = [f"wrote {self.written} to {self.output}; skipped {len(self.skipped)}"]
        lines += [f"  skipped {item.path}: {item.reason}" for item in self.skipped]
        return "\n".join(lines)


def _normalise_ext(ext: str | None) -> str | None:
    if ext is None:
        return None
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"ext={ext!r} is not supported; choose one of {IMAGE_EXTENSIONS}.")
    return ext


def _check_folder(folder: Path, argument: str) -> None:
    if not folder.exists():
        raise FileNotFoundError(f"{argument} folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{argument} {folder} is a file; expected a folder of images.")


def refuse_existing_outputs(
    outputs: Iterable[Path], overwrite: bool, *, how: str = "overwrite=True (--overwrite)"
) -> None:
    """Raise ``FileExistsError`` listing outputs that exist, unless ``overwrite``.

    The one wording for every command that writes files (combine, split, translate); ``how``
    names the way to allow it in the caller's terms.
    """
    if overwrite:
        return
    existing = [str(path) for path in outputs if path.exists()]
    if existing:
        shown = ", ".join(existing[:_MAX_EXISTING_IN_ERRORS])
        hidden = len(existing) - _MAX_EXISTING_IN_ERRORS
        more = f" and {hidden} more" if hidden > 0 else ""
        raise FileExistsError(
            f"{len(existing)} output file(s) already exist ({shown}{more}); pass {how} to "
            "replace them, or choose an empty output folder."
        )


def _run_parallel(
    jobs: Sequence[tuple[str, Callable[[], str | None]]],
    report: ToolReport,
    *,
    workers: int | None,
    progress: bool,
    description: str,
) -> None:
    """Run ``(name, job)`` pairs; a job returns ``None`` when done or the reason it skipped."""
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers={workers!r} must be a positive integer (or None for auto).")
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(job): name for name, job in jobs}
        for future in tqdm(
            as_completed(futures), total=len(futures), desc=description, disable=not progress
        ):
            try:
                reason = future.result()
            except (ValueError, OSError) as error:
                reason = str(error)
            if reason is None:
                report.written += 1
            else:
                report.skipped.append(SkippedFile(futures[future], reason))
    report.skipped.sort(key=lambda item: natural_sort_key(item.path))
    for item in report.skipped:
        logger.warning("skipped %s: %s", item.path, item.reason)


def _match_pixels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give two images the same dtype and channel count so they can sit side by side."""
    if a.dtype != b.dtype:  # 8-bit with 16-bit: widen the 8-bit one (x257 maps 255 to 65535)
        a, b = (x.astype(np.uint16) * 257 if x.dtype == np.uint8 else x for x in (a, b))
    if a.shape[2] != b.shape[2]:
        has_alpha = a.shape[2] in (2, 4) or b.shape[2] in (2, 4)
        a, b = (_to_colour(x, alpha=has_alpha) for x in (a, b))
    return a, b


def _to_colour(image: np.ndarray, *, alpha: bool) -> np.ndarray:
    """Gray -> RGB by replication; add an opaque alpha when ``alpha`` (and drop none)."""
    channels = image.shape[2]
    colour = np.repeat(image[:, :, :1], 3, axis=2) if channels in (1, 2) else image[:, :, :3]
    if not alpha:
        return colour
    opaque = np.full((*image.shape[:2], 1), np.iinfo(image.dtype).max, image.dtype)
    alpha_channel = image[:, :, -1:] if channels in (2, 4) else opaque
    return np.concatenate([colour, alpha_channel], axis=2)


def combine_folders(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    ext: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ToolReport:
    """Write each pair ``a_dir/NAME.*``, ``b_dir/NAME.*`` as one aligned file ``output_dir/NAME``.

    A goes on the left and B on the right, the layout :class:`~pix2pix.data.PairedImageDataset`
    reads as ``"aligned"``. Files are paired by name without extension. A pair is skipped (and
    reported) when a partner is missing, a name is used twice, a file cannot be read, or the two
    sizes differ. If one image is gray and the other colour, the gray one is replicated to RGB;
    8-bit next to 16-bit is widened to 16 bits. EXIF orientation is applied before pairing.

    Args:
        a_dir: Folder of A images.
        b_dir: Folder of B images.
        output_dir: Folder for the combined images (created if needed).
        ext: Output extension (``"png"``, ``".jpg"``...); default: the A file's own.
        workers: Threads (default: up to 8, one per CPU).
        overwrite: Replace existing output files instead of refusing.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`ToolReport`.

    Raises:
        FileNotFoundError: If an input folder is missing.
        ValueError: If ``a_dir`` holds no images or ``ext`` is not an image extension.
        FileExistsError: If outputs exist and ``overwrite`` is false.

    Examples:
        >>> report = combine_folders("photos", "labels", "facades/train")  # doctest: +SKIP
        >>> report.written, report.skipped  # doctest: +SKIP
        (400, [])
    """
    a_dir, b_dir, output_dir = Path(a_dir), Path(b_dir), Path(output_dir)
    _check_folder(a_dir, "A")
    _check_folder(b_dir, "B")
    ext = _normalise_ext(ext)
    a_files, b_files = list_images(a_dir), list_images(b_dir)
    if not a_files:
        raise ValueError(
            f"No images found in {a_dir} (accepted extensions, any case: "
            f"{', '.join(IMAGE_EXTENSIONS)})."
        )
    report = ToolReport(output=output_dir)
    by_stem: list[dict[str, Path]] = [{}, {}]
    duplicates: set[Path] = set()
    for files, stems in zip((a_files, b_files), by_stem):
        for path in files:
            if path.stem in stems:
                duplicates.update((stems[path.stem], path))
            stems[path.stem] = path
    for path in sorted(duplicates, key=lambda p: natural_sort_key(str(p))):
        report.skipped.append(
            SkippedFile(str(path), "another image in the folder has the same name")
        )
    a_stems, b_stems = by_stem
    duplicate_stems = {path.stem for path in duplicates}
    pairs: list[tuple[Path, Path, Path]] = []
    for stem, a_path in a_stems.items():
        if stem in duplicate_stems:
            if a_path not in duplicates:
                reason = f"more than one image in {b_dir} is named {stem}.*"
                report.skipped.append(SkippedFile(str(a_path), reason))
            continue
        if stem not in b_stems:
            report.skipped.append(SkippedFile(str(a_path), f"no image named {stem}.* in {b_dir}"))
            continue
        pairs.append((a_path, b_stems[stem], output_dir / f"{stem}{ext or a_path.suffix}"))
    for stem in b_stems.keys() - a_stems.keys() - duplicate_stems:
        report.skipped.append(
            SkippedFile(str(b_stems[stem]), f"no image named {stem}.* in {a_dir}")
        )
    refuse_existing_outputs((out for _, _, out in pairs), overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)

    def combine(a_path: Path, b_path: Path, out_path: Path) -> str | None:
        a, b = read_image(a_path), read_image(b_path)
        if a.shape[:2] != b.shape[:2]:
            return (
                f"sizes differ: {a_path.name} is {a.shape[1]}x{a.shape[0]}, {b_path} is "
                f"{b.shape[1]}x{b.shape[0]} (width x height)"
            )
        a, b = _match_pixels(a, b)
        write_image(out_path, np.concatenate([a, b], axis=1))
        return None

    jobs = [(str(a), functools.partial(combine, a, b, out)) for a, b, out in pairs]
    _run_parallel(jobs, report, workers=workers, progress=progress, description="combine")
    return report


def split_folder(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    ext: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ToolReport:
    """Split each aligned ``A|B`` image in ``input_dir`` into ``output_dir/A`` and ``output_dir/B``.

    The inverse of :func:`combine_folders`: the left half goes to ``A/``, the right half to
    ``B/``, under the same name. For an odd width the last column is dropped, as
    :class:`~pix2pix.data.PairedImageDataset` does.

    Args:
        input_dir: Folder of aligned images.
        output_dir: Folder in which to create ``A/`` and ``B/``.
        ext: Output extension; default: the input file's own.
        workers: Threads (default: up to 8, one per CPU).
        overwrite: Replace existing output files instead of refusing.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`ToolReport`.

    Raises:
        FileNotFoundError: If ``input_dir`` is missing.
        ValueError: If it holds no images or ``ext`` is not an image extension.
        FileExistsError: If outputs exist and ``overwrite`` is false.

    Examples:
        >>> split_folder("facades/train", "facades_split").written  # doctest: +SKIP
        400
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_folder(input_dir, "input")
    ext = _normalise_ext(ext)
    files = list_images(input_dir)
    if not files:
        raise ValueError(
            f"No images found in {input_dir} (accepted extensions, any case: "
            f"{', '.join(IMAGE_EXTENSIONS)})."
        )
    names = [f"{path.stem}{ext or path.suffix}" for path in files]
    outputs = [output_dir / side / name for name in names for side in ("A", "B")]
    refuse_existing_outputs(outputs, overwrite)
    for side in ("A", "B"):
        (output_dir / side).mkdir(parents=True, exist_ok=True)
    report = ToolReport(output=output_dir)

    def split(path: Path, name: str) -> str | None:
        image = read_image(path)
        half = image.shape[1] // 2
        if half == 0:
            return f"{image.shape[1]} pixel(s) wide: too narrow to hold two halves"
        write_image(output_dir / "A" / name, image[:, :half])
        write_image(output_dir / "B" / name, image[:, half : 2 * half])
        return None

    jobs = [(str(path), functools.partial(split, path, name)) for path, name in zip(files, names)]
    _run_parallel(jobs, report, workers=workers, progress=progress, description="split")
    return report
