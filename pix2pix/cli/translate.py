"""``pix2pix translate``: translate image files or folders with a trained model."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from pix2pix.cli.options import MODEL_HELP
from pix2pix.cli.test_mode import add_test_mode_arguments, refuse_seed_without_dropout, seed_of
from pix2pix.data.io import is_image_file, read_image, write_image
from pix2pix.data.tools import refuse_existing_outputs

logger = logging.getLogger(__name__)

BIT_DEPTH_CHOICES = ("input", "8", "16")

# The largest image translated whole. Activations grow with the pixels: about 440 bytes a pixel
# for unet_256 and 940 for resnet_9blocks in fp32 (measured on CPU), so 4096x4096 needs about
# 7 and 16 GB, and a 12000x12000 image 63 and 135 GB. Larger images go through --tile.
DEFAULT_MAX_PIXELS = 4096 * 4096


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``translate`` subcommand."""
    parser = subparsers.add_parser(
        "translate",
        help="translate images with a trained model",
        description="Translate image files (or every image in the given folders) and write one "
        "PNG per input, named by the input's stem, to --output (a file named twice is translated "
        "once; two inputs with one stem, such as a/x.png and b/x.jpg, are refused). A 16-bit "
        "input gives a 16-bit PNG. Existing outputs are not replaced without --overwrite.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument(
        "--model",
        required=True,
        help=MODEL_HELP,
    )
    parser.add_argument("--output", required=True, help="folder for the translated PNGs")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument(
        "--bit-depth",
        choices=BIT_DEPTH_CHOICES,
        default="input",
        help="bits per channel of the PNGs: input (default: 16-bit inputs give 16-bit PNGs, "
        "others 8-bit), 8 or 16",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--dtype",
        default="fp32",
        choices=["fp32", "bf16", "fp16"],
        help="precision of the generator: fp32 (default), or bf16 / fp16, which run a "
        "half-precision copy of the weights (faster and lighter where the device supports it, "
        "results differ slightly)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator (slow first image, faster for many same-sized ones)",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="translate in overlapping tiles of this many pixels a side, so memory depends on "
        "the tile, not the image (needed above --max-pixels)",
    )
    parser.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        help="with --tile: pixels neighbouring tiles share, blended with linear ramps so no "
        "seams show (default 32, less than the tile)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"the largest image (width x height) translated whole, default {DEFAULT_MAX_PIXELS} "
        "(4096x4096, about 7 GB for unet_256); larger ones need --tile. Images above Pillow's "
        f"decompression-bomb limit ({Image.MAX_IMAGE_PIXELS} pixels) are refused unless this "
        "covers them",
    )
    parser.add_argument(
        "--aligned",
        action="store_true",
        help="inputs are A|B side-by-side pairs: translate the source half chosen by --direction",
    )
    parser.add_argument(
        "--direction",
        choices=["AtoB", "BtoA"],
        default=None,
        help="with --aligned: which half is the source (default: the model's training "
        "direction, else AtoB)",
    )
    add_test_mode_arguments(
        parser, seed_help="dropout seed of the paper mode (every image is translated with it)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="translate up to this many same-sized images at once in the eval mode (faster, "
        "more memory); with --tile and in the paper mode images run one at a time",
    )
    parser.set_defaults(func=run)


def collect_images(inputs: list[str]) -> list[Path]:
    """Expand files and folders into a list of image files, each file once.

    A file named twice (given twice, or given and inside a given folder) is translated once,
    with a note: writing it twice would report more images than files written.

    Raises:
        FileNotFoundError: If an input does not exist.
        ValueError: If nothing to translate is found.
    """
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.is_file() and is_image_file(p)))
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"Input not found: {item}")
    if not files:
        raise ValueError(f"No images found in {', '.join(inputs)}.")
    first: dict[Path, Path] = {}
    repeats: Counter[Path] = Counter()
    for path in files:
        # the same path however spelt (./x.png, a/../x.png); a link is a name of its own, whose
        # output the user asked for under that name
        absolute = Path(os.path.abspath(path))
        if absolute in first:
            repeats[first[absolute]] += 1
        else:
            first[absolute] = path
    for path, count in repeats.items():
        logger.warning(
            "note: %s is named %d times in the inputs; translating it once", path, count + 1
        )
    return list(first.values())


def _output_paths(files: list[Path], output: Path, overwrite: bool) -> dict[Path, Path]:
    """Each input's output file ``output/STEM.png``, after refusing clashes and existing outputs.

    Raises:
        NotADirectoryError: If ``output`` is a file.
        ValueError: If two inputs would be written to one output (``a/x.png`` and ``b/x.png``,
            or ``x.jpg`` and ``x.png``; names that differ only in case clash too, as they do on
            macOS and Windows).
        FileExistsError: If an output exists and ``overwrite`` is false, or an output would
            replace one of the inputs.
    """
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(
            f"--output {output} is a file; pass a folder for the translated PNGs."
        )
    targets = {path: output / f"{path.stem}.png" for path in files}
    owners: dict[str, Path] = {}
    for path, target in targets.items():
        other = owners.setdefault(target.name.casefold(), path)
        if other != path:
            raise ValueError(
                f"{other} and {path} would both be written to {targets[other]}; translate them "
                "into separate --output folders, or rename one."
            )
    inputs = {path.resolve() for path in files}
    for path, target in targets.items():
        if target.resolve() in inputs:
            raise FileExistsError(
                f"Translating {path} would write {target}, one of the inputs; choose an "
                "--output folder that does not hold the inputs."
            )
    refuse_existing_outputs(targets.values(), overwrite, how="--overwrite")
    return targets


def _with_bit_depth(array: np.ndarray, bit_depth: str) -> np.ndarray:
    """``array`` (uint8 or uint16) at ``bit_depth`` bits: ``"input"`` keeps it."""
    if bit_depth == "8" and array.dtype == np.uint16:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if bit_depth == "16" and array.dtype == np.uint8:
        return array.astype(np.uint16) * 257
    return array


def _header_size(path: Path) -> tuple[int, int]:
    """Width and height from the file's header, nothing decoded.

    Pillow's decompression-bomb check is off for this read: :func:`_check_sizes` applies it
    with a message that names the file and the command line's fix.
    """
    try:
        with _pillow_pixel_limit(None), Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(
            f"Could not read image {path}: {error}. The file is corrupt or not an image."
        ) from None


@contextlib.contextmanager
def _pillow_pixel_limit(limit: int | None) -> Iterator[None]:
    """Set ``PIL.Image.MAX_IMAGE_PIXELS`` (``None``: no check) for a block, then restore it."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _check_sizes(files: list[Path], args: argparse.Namespace) -> int | None:
    """Refuse images above the limits, before the model loads; the Pillow limit to translate with.

    Raises:
        ValueError: For an image above Pillow's decompression-bomb limit that ``--max-pixels``
            does not cover, or, without ``--tile``, one whose translated part has more than
            ``--max-pixels`` pixels.
    """
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels {args.max_pixels} must be at least 1.")
    pillow = Image.MAX_IMAGE_PIXELS
    for path in files:
        width, height = _header_size(path)
        pixels = width * height
        if pillow is not None and pixels > max(pillow, args.max_pixels):
            raise ValueError(
                f"{path} is {width}x{height} ({pixels:,} pixels), more than Pillow's "
                f"decompression-bomb limit of {pillow:,} pixels; if you trust the file, pass "
                f"--max-pixels {pixels} (and --tile 1024 to translate it in tiles)."
            )
        if args.aligned:  # only the larger half is translated
            width -= width // 2
        if args.tile is None and width * height > args.max_pixels:
            what = "its source half is" if args.aligned else "is"
            raise ValueError(
                f"{path} {what} {width}x{height} ({width * height:,} pixels), more than "
                f"--max-pixels {args.max_pixels:,} for translating a whole image; pass --tile "
                "1024 to translate it in tiles, or raise --max-pixels."
            )
    # pixels the user vouched for with --max-pixels are not a bomb for Pillow either
    return None if pillow is None else max(pillow, args.max_pixels)


def _aligned_direction(args: argparse.Namespace, recorded: str | None) -> str:
    """The half of an A|B pair to translate, said once when ``--aligned`` (a wrong half gives a
    plausible but wrong picture, so the user should see which one was chosen and why)."""
    direction = args.direction or recorded or "AtoB"
    if args.aligned:
        half = "left (A)" if direction == "AtoB" else "right (B)"
        if args.direction:
            why = "--direction"
        elif recorded:
            why = "the model's training direction"
        else:
            why = "the model records no direction; --direction BtoA for the right half"
        logger.info("translating the %s half of each pair, %s (%s)", half, direction, why)
    return direction


def _source_half(path: Path, direction: str) -> np.ndarray:
    array = read_image(path)
    half = array.shape[1] // 2
    if half == 0:
        raise ValueError(f"{path} is too narrow to hold an A|B pair.")
    return np.ascontiguousarray(array[:, :half] if direction == "AtoB" else array[:, half:])


def _refuse_unused_flags(args: argparse.Namespace) -> None:
    """Refuse flags that would do nothing with the others given, before the model loads."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size} must be at least 1.")
    if args.direction is not None and not args.aligned:
        raise ValueError(
            f"--direction {args.direction} picks the half of A|B pairs, which only --aligned "
            "reads; without it each image is translated whole. Add --aligned, or drop "
            "--direction."
        )
    if args.tile_overlap is not None and args.tile is None:
        raise ValueError(
            f"--tile-overlap {args.tile_overlap} is for translating in tiles; add --tile SIZE "
            "(e.g. --tile 1024), or drop --tile-overlap."
        )
    refuse_seed_without_dropout(args, args.test_mode)


def run(args: argparse.Namespace) -> int:
    """Translate every input and write PNGs; returns the exit code.

    Inputs go to the model as arrays, so the outputs keep their bit depth (16-bit gray and
    colour included) and are written by :func:`~pix2pix.data.io.write_image`.
    """
    from pix2pix.inference import Translator

    _refuse_unused_flags(args)
    files = collect_images(args.inputs)
    output = Path(args.output)
    # refused before the model loads, which can take seconds
    targets = _output_paths(files, output, args.overwrite)
    pillow_limit = _check_sizes(files, args)
    translator = Translator.from_pretrained(
        args.model,
        device=args.device,
        dtype=args.dtype,
        compile=args.compile,
        test_mode=args.test_mode,
        dropout=args.dropout,
    )
    refuse_seed_without_dropout(args, args.test_mode or translator.test_mode)
    direction = _aligned_direction(args, translator.direction)
    # the Translator's own default overlap unless --tile-overlap says otherwise
    overlap = {} if args.tile_overlap is None else {"tile_overlap": args.tile_overlap}
    output.mkdir(parents=True, exist_ok=True)
    progress = tqdm(total=len(files), desc="translate", unit="img")
    with _pillow_pixel_limit(pillow_limit):
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            sources = [_source_half(p, direction) if args.aligned else read_image(p) for p in chunk]
            results = translator.translate(
                sources,
                tile=args.tile,
                **overlap,
                seed=seed_of(args),
                batch_size=args.batch_size,
            )
            for path, result in zip(chunk, results):
                write_image(targets[path], _with_bit_depth(result, args.bit_depth))
            progress.update(len(chunk))
    progress.close()
    logger.info("wrote %d image(s) to %s", len(files), output)
    return 0
