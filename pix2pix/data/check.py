"""A pre-flight check of a paired dataset: every file decoded, every pair and size checked.

:func:`check_data` finds the pairs the way :class:`~pix2pix.data.PairedImageDataset` does
(``"aligned"`` ``A|B`` files, or ``A/`` and ``B/`` folders matched by name), decodes every file
*fully* with :func:`~pix2pix.data.io.read_image` (the dataset's own reader, so a truncated JPEG
body, which a header read misses, is found), and collects every problem instead of stopping at
the first. Decoding runs in worker processes with a tqdm progress bar.

Two kinds of findings:

* **problems**: the dataset would fail on that item (``on_error="raise"``) or skip it
  (``"skip"``): an unreadable file, an unpaired or duplicate name, A and B of different sizes, an
  aligned file too narrow to split, a channel count the model cannot take, an image smaller than
  ``crop_size`` with ``preprocess="crop"``.
* **warnings**: the item loads but may not be what was meant: an odd-width aligned file (its last
  column is dropped), an image whose mode (channels, bit depth) differs from the rest of its
  folder, files the dataset ignores because of their extension.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pix2pix._checks import check_choice, check_positive_int
from pix2pix.constants import DIRECTION_CHOICES
from pix2pix.data.io import IMAGE_EXTENSIONS, list_images, natural_sort_key, read_image
from pix2pix.data.palette_scan import Summary, colour_summary, merge_summaries
from pix2pix.data.transforms import PairTransform, match_channels

LAYOUT_CHOICES = ("auto", "aligned", "folders")
_MAX_WORKERS = 8
_MAX_NAMES = 5
_CHANNEL_NAMES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}
_BITS = {"uint8": "8-bit", "uint16": "16-bit"}

# (height, width, channels, dtype name) of a decoded file, or None with the error message.
# (shape, error, the colours of the source side when that side is a lossless label map)
_Probe = tuple[tuple[int, int, int, str] | None, str | None, Summary | None]


@dataclass(frozen=True)
class DataProblem:
    """One finding about one file.

    Attributes:
        path: The file (for a pair, the file the finding is about; for a folder, the folder).
        message: One line that names the file and, where there is one, the fix.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class DataReport:
    """What :func:`check_data` found.

    Attributes:
        root: The dataset folder.
        layout: The layout checked, ``"aligned"`` or ``"folders"``.
        pairs: How many pairs were found (for ``"folders"``, names in both A/ and B/).
        files: How many files were decoded.
        seconds: Wall time of the check.
        problems: Findings that would make the dataset fail on (or skip) an item.
        warnings: Findings that load but may not be what was meant.
        modes: How many files have each mode, e.g. ``{"RGB 8-bit": 400}``.
        palette: The colours of the source images when they are all lossless label maps (a
            few exact colours each), most frequent first; ``None`` otherwise.

    Examples:
        >>> report = check_data("facades/train")  # doctest: +SKIP
        >>> report.ok, report.files  # doctest: +SKIP
        (True, 400)
    """

    root: Path
    layout: str
    pairs: int = 0
    files: int = 0
    seconds: float = 0.0
    problems: list[DataProblem] = field(default_factory=list)
    warnings: list[DataProblem] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    palette: list[tuple[int, int, int]] | None = None

    @property
    def ok(self) -> bool:
        """Whether there are no problems (warnings do not count)."""
        return not self.problems

    @property
    def bad_paths(self) -> list[str]:
        """The files with a problem, each once, in natural order."""
        return sorted({p.path for p in self.problems}, key=natural_sort_key)

    def headline(self) -> str:
        """One line: what was checked, how fast, and how many findings."""
        rate = self.files / self.seconds if self.seconds > 0 else float("inf")
        modes = ", ".join(f"{mode} x{count}" for mode, count in self.modes.items()) or "none"
        return (
            f"{self.root}: {self.pairs} pair(s), {self.files} file(s) decoded in "
            f"{self.seconds:.1f} s ({rate:.0f} files/s); {len(self.problems)} problem(s), "
            f"{len(self.warnings)} warning(s); modes: {modes}"
            + (f"; label maps of {len(self.palette)} colours" if self.palette else "")
        )

    def summary(self) -> str:
        """One line per problem and per warning, then :meth:`headline`."""
        lines = [f"problem: {p.message}" for p in self.problems]
        lines += [f"warning: {w.message}" for w in self.warnings]
        return "\n".join([*lines, self.headline()])


def _probe(task: tuple[str, str | None]) -> _Probe:
    """Decode a file fully, as the dataset would: its shape and dtype, or the error; and the
    colours of its source side (``"left"``/``"right"`` half, ``"whole"``, or ``None``)."""
    path, side = task
    try:
        array = read_image(path)
    except (ValueError, OSError) as error:
        return None, str(error), None
    height, width, channels = array.shape
    summary = None
    if side is not None:
        half = width // 2
        source = {"left": array[:, :half], "right": array[:, half:], "whole": array}[side]
        summary = colour_summary(source)
    return (height, width, channels, str(array.dtype)), None, summary


def _resolve_workers(num_workers: int | None, files: int) -> int:
    if num_workers is None:
        num_workers = min(_MAX_WORKERS, os.cpu_count() or 1)
    elif isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(
            f"num_workers={num_workers!r} must be 0 (decode in this process), a positive "
            "integer or None (one per CPU, up to 8)."
        )
    # a pool costs more than it saves on a few files
    return 0 if num_workers <= 1 or files < 4 * num_workers else num_workers


def _decode_all(
    tasks: list[tuple[str, str | None]], num_workers: int | None, progress: bool
) -> Iterator[_Probe]:
    """:func:`_probe` every path, in order, in worker processes when it pays."""
    workers = _resolve_workers(num_workers, len(tasks))
    bar = tqdm(total=len(tasks), desc="check-data", unit="file", disable=not progress)
    try:
        if workers == 0:
            for task in tasks:
                result = _probe(task)
                bar.update()  # before the yield: a consumer done with the last one never resumes
                yield result
            return
        # Fork on Linux: the workers start at once instead of each re-importing torch (seconds);
        # they only decode with Pillow, as DataLoader workers do. Elsewhere: the default method.
        context = None
        if sys.platform.startswith("linux"):
            import multiprocessing

            context = multiprocessing.get_context("fork")
        chunksize = max(1, min(16, len(tasks) // (workers * 8)))
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() in a process with threads (torch's, tqdm's)
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for result in pool.map(_probe, tasks, chunksize=chunksize):
                    bar.update()
                    yield result
    finally:
        bar.close()


def _mode(shape: tuple[int, int, int, str]) -> str:
    channels, dtype = shape[2], shape[3]
    return f"{_CHANNEL_NAMES.get(channels, f'{channels}-channel')} {_BITS.get(dtype, dtype)}"


class _Checker:
    """The per-pair rules, the same as :class:`~pix2pix.data.PairedImageDataset` applies."""

    def __init__(
        self,
        direction: str,
        in_channels: int | None,
        out_channels: int | None,
        transform: PairTransform | None,
    ) -> None:
        self.direction = direction
        self.channels = {"A": in_channels, "B": out_channels}
        self.arguments = {"A": "in_channels", "B": "out_channels"}
        if direction == "BtoA":
            self.channels = {"A": out_channels, "B": in_channels}
            self.arguments = {"A": "out_channels", "B": "in_channels"}
        self.transform = transform

    def channel_problem(self, path: str, side: str, channels: int) -> str | None:
        wanted = self.channels[side]
        if wanted is None:
            return None
        try:  # the dataset's own rule and message, on a 1x1 image of that channel count
            match_channels(
                torch.zeros(channels, 1, 1, dtype=torch.uint8),
                wanted,
                name=path,
                argument=self.arguments[side],
            )
        except ValueError as error:
            return str(error)
        return None

    def size_problem(self, path: str, height: int, width: int) -> str | None:
        if self.transform is None:
            return None
        try:
            self.transform.get_params(height, width, name=path)
        except ValueError as error:
            return str(error)
        return None


def _find_pairs(
    root: Path, layout: str, report: DataReport
) -> tuple[list[tuple[Path, Path | None]], list[str]]:
    """The pairs as the dataset finds them, and the files left without a partner.

    Unpaired files and duplicate names are reported as problems.
    """
    if layout == "aligned":
        _note_ignored(root, report)
        files = list_images(root)
        if not files:
            raise ValueError(_no_images(root))
        return [(path, None) for path in files], []
    by_stem: list[dict[str, Path]] = []
    for side in ("A", "B"):
        folder = root / side
        if not folder.is_dir():
            raise FileNotFoundError(
                f"layout='folders' needs {folder}; put the A images in {root / 'A'} and their "
                f"partners, with the same names, in {root / 'B'}."
            )
        _note_ignored(folder, report)
        files = list_images(folder)
        if not files:
            raise ValueError(_no_images(folder))
        stems: dict[str, Path] = {}
        for path in files:
            if path.stem in stems:
                report.problems.append(
                    DataProblem(
                        str(path),
                        f"{path} has the same name without extension as {stems[path.stem]}; "
                        "pairs are matched by name, so rename or remove one of them.",
                    )
                )
                continue
            stems[path.stem] = path
        by_stem.append(stems)
    a_stems, b_stems = by_stem
    unpaired: list[str] = []
    for stems, partners, other in ((a_stems, b_stems, "B"), (b_stems, a_stems, "A")):
        for stem in sorted(stems.keys() - partners.keys(), key=natural_sort_key):
            unpaired.append(str(stems[stem]))
            report.problems.append(
                DataProblem(
                    str(stems[stem]),
                    f"{stems[stem]} has no partner in {root / other} (pairs are matched by name "
                    f"without extension); add {root / other / stem}.* or remove the file.",
                )
            )
    names = sorted(a_stems.keys() & b_stems.keys(), key=natural_sort_key)
    return [(a_stems[stem], b_stems[stem]) for stem in names], unpaired


def _no_images(folder: Path) -> str:
    return (
        f"No images found in {folder} (accepted extensions, any case: "
        f"{', '.join(IMAGE_EXTENSIONS)}); pass the folder that holds the images."
    )


def _note_ignored(folder: Path, report: DataReport) -> None:
    ignored = sorted(
        (
            entry.name
            for entry in folder.iterdir()
            if entry.is_file()
            and not entry.name.startswith(".")
            and entry.suffix.lower() not in IMAGE_EXTENSIONS
        ),
        key=natural_sort_key,
    )
    if ignored:
        shown = ", ".join(ignored[:_MAX_NAMES])
        more = f" and {len(ignored) - _MAX_NAMES} more" if len(ignored) > _MAX_NAMES else ""
        report.warnings.append(
            DataProblem(
                str(folder),
                f"{folder} holds {len(ignored)} file(s) the dataset ignores ({shown}{more}): "
                f"only {', '.join(IMAGE_EXTENSIONS)} are read; convert them if they are data.",
            )
        )


def check_data(
    root: str | os.PathLike[str],
    *,
    layout: str = "auto",
    direction: str = "AtoB",
    in_channels: int | None = None,
    out_channels: int | None = None,
    preprocess: str | None = None,
    load_size: int = 286,
    crop_size: int = 256,
    size_multiple: int = 256,
    num_workers: int | None = None,
    progress: bool = True,
) -> DataReport:
    """Decode every file of a paired dataset and check pairing, sizes and modes.

    The keyword arguments are :class:`~pix2pix.data.PairedImageDataset`'s, so the check of a
    training folder can take the dataset's own settings (``check_data(root, **dataset_args)``).
    Channel counts are checked only when given, the preprocessing (``"crop"`` needs images of
    at least ``crop_size``) only when ``preprocess`` is given.

    Args:
        root: The dataset folder (for facades: ``facades/train``).
        layout: ``"auto"``, ``"aligned"`` or ``"folders"``, as for the dataset.
        direction: ``"AtoB"`` or ``"BtoA"``: which side must have ``in_channels``.
        in_channels: The generator's input channels (``None``: not checked).
        out_channels: The generator's output channels (``None``: not checked).
        preprocess: The dataset's ``preprocess`` (``None``: sizes are checked for pairing only).
        load_size: The dataset's ``load_size``.
        crop_size: The dataset's ``crop_size``.
        size_multiple: The dataset's ``size_multiple``.
        num_workers: Decoding processes; ``None``: one per CPU, up to 8; ``0``: this process.
            A few files are always decoded here.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`DataReport` with every problem and warning, in file order.

    Raises:
        FileNotFoundError: If ``root`` (or ``root/A``, ``root/B`` for ``"folders"``) is missing.
        NotADirectoryError: If ``root`` is a file.
        ValueError: For bad argument values or a folder without images.

    Examples:
        >>> report = check_data("facades/train", direction="BtoA")  # doctest: +SKIP
        >>> print(report.headline())  # doctest: +SKIP
        facades/train: 400 pair(s), 400 file(s) decoded in 1.9 s (210 files/s); 0 problem(s), ...
    """
    started = time.perf_counter()
    check_choice("layout", layout, LAYOUT_CHOICES)
    check_choice("direction", direction, DIRECTION_CHOICES)
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value is not None:
            check_positive_int(**{name: value})
    transform = None
    if preprocess is not None:
        transform = PairTransform(
            preprocess,
            load_size=load_size,
            crop_size=crop_size,
            flip=False,
            train=False,
            size_multiple=size_multiple,
        )
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"Dataset folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"Dataset root {root} is a file; pass its folder.")
    if layout == "auto":
        layout = "folders" if (root / "A").is_dir() and (root / "B").is_dir() else "aligned"
    report = DataReport(root=root, layout=layout)
    pairs, unpaired = _find_pairs(root, layout, report)
    # unpaired files are decoded too, so a file that also fails to decode is reported now
    tasks = _tasks(pairs, unpaired, direction)
    checker = _Checker(direction, in_channels, out_channels, transform)
    shapes: dict[str, tuple[int, int, int, str]] = {}
    summaries: list[Summary | None] = []
    for (path, side), (shape, error, summary) in zip(
        tasks, _decode_all(tasks, num_workers, progress)
    ):
        if shape is None:
            report.problems.append(DataProblem(path, error or f"Could not read image {path}."))
        else:
            shapes[path] = shape
        if side is not None:
            summaries.append(summary)
    report.palette = merge_summaries(summaries)
    report.files = len(tasks)
    report.pairs = len(pairs)
    for a_path, b_path in pairs:
        _check_pair(str(a_path), None if b_path is None else str(b_path), shapes, checker, report)
    _check_modes(pairs, shapes, report)
    key = natural_sort_key
    report.problems.sort(key=lambda p: key(p.path))
    report.warnings.sort(key=lambda p: key(p.path))
    report.modes = dict(Counter(_mode(shape) for shape in shapes.values()).most_common())
    report.seconds = time.perf_counter() - started
    return report


def _tasks(
    pairs: list[tuple[Path, Path | None]], unpaired: list[str], direction: str
) -> list[tuple[str, str | None]]:
    """Every file to decode, with the side of it that is the model's input (for the palette)."""
    tasks: list[tuple[str, str | None]] = []
    for a, b in pairs:
        if b is None:  # an aligned pair: the source half
            tasks.append((str(a), "left" if direction == "AtoB" else "right"))
        else:
            tasks.append((str(a), "whole" if direction == "AtoB" else None))
            tasks.append((str(b), None if direction == "AtoB" else "whole"))
    return tasks + [(path, None) for path in unpaired]


def _check_pair(
    a_path: str,
    b_path: str | None,
    shapes: dict[str, tuple[int, int, int, str]],
    checker: _Checker,
    report: DataReport,
) -> None:
    def problem(path: str, message: str | None) -> None:
        if message is not None:
            report.problems.append(DataProblem(path, message))

    if b_path is None:
        if a_path not in shapes:
            return
        height, width, channels, _ = shapes[a_path]
        if width < 2:
            problem(
                a_path,
                f"{a_path} is {width} pixel(s) wide; an aligned pair needs A and B side by side. "
                "Use layout='folders' for separate A/ and B/ files.",
            )
            return
        if width % 2:
            report.warnings.append(
                DataProblem(
                    a_path,
                    f"{a_path} is {width} pixels wide, an odd width: its last column is dropped "
                    "so the A and B halves match. Check that it is an A|B pair.",
                )
            )
        problem(a_path, checker.size_problem(a_path, height, width // 2))
        for side in ("A", "B"):
            problem(a_path, checker.channel_problem(a_path, side, channels))
        return
    if a_path not in shapes or b_path not in shapes:
        return
    (ah, aw, a_channels, _), (bh, bw, b_channels, _) = shapes[a_path], shapes[b_path]
    if (ah, aw) != (bh, bw):
        problem(
            a_path,
            f"Paired images differ in size: {a_path} is {aw}x{ah} but {b_path} is {bw}x{bh} "
            "(width x height). Resize one of them so the pixels line up.",
        )
    else:
        problem(a_path, checker.size_problem(a_path, ah, aw))
    problem(a_path, checker.channel_problem(a_path, "A", a_channels))
    problem(b_path, checker.channel_problem(b_path, "B", b_channels))


def _check_modes(
    pairs: list[tuple[Path, Path | None]],
    shapes: dict[str, tuple[int, int, int, str]],
    report: DataReport,
) -> None:
    """Warn about files whose mode differs from most of their side's (A, B or aligned)."""
    sides = [[str(a) for a, _ in pairs], [str(b) for _, b in pairs if b is not None]]
    for paths in sides:
        modes = {path: _mode(shapes[path]) for path in paths if path in shapes}
        if len(modes) < 2:
            continue
        counts = Counter(modes.values())
        common, count = counts.most_common(1)[0]
        if count == len(modes):
            continue
        folder = Path(next(iter(modes))).parent
        for path, mode in modes.items():
            if mode != common:
                report.warnings.append(
                    DataProblem(
                        path,
                        f"{path} is {mode} while {count} of the {len(modes)} images in {folder} "
                        f"are {common}; it is converted like the others, but check it is the "
                        "right file.",
                    )
                )
