"""``pix2pix prepare cityscapes``: the canonical preparation of data you downloaded yourself."""

from __future__ import annotations

import argparse

from pix2pix.data.prepare import CITYSCAPES_SIZE, prepare_cityscapes


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prepare`` subcommand."""
    parser = subparsers.add_parser(
        "prepare",
        help="prepare cityscapes from its official zips (its license forbids a download)",
        description=(
            "Prepare NAME from files you downloaded yourself, as the canonical repo's "
            "datasets/prepare_cityscapes_dataset.py does: each photo and its colour label map "
            "resized to 256x256 and saved side by side, photo left (A), label map right (B); "
            "the train split in OUTPUT/train, the val split in OUTPUT/test (the FCN-score "
            "protocol evaluates on val). Register at https://www.cityscapes-dataset.com and "
            "download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip; they are read "
            "as they are, nothing is unzipped."
        ),
    )
    parser.add_argument("name", choices=["cityscapes"], metavar="NAME", help="cityscapes")
    parser.add_argument(
        "--gtfine", required=True, metavar="ZIP", help="gtFine_trainvaltest.zip (label maps)"
    )
    parser.add_argument(
        "--leftimg", required=True, metavar="ZIP", help="leftImg8bit_trainvaltest.zip (photos)"
    )
    parser.add_argument(
        "--output", "-o", required=True, metavar="DIR", help="a new (or empty) dataset folder"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=CITYSCAPES_SIZE,
        help=f"side of each half in pixels (default: {CITYSCAPES_SIZE}, the canonical size)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel threads (default: up to 8)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the dataset and print where it is and its usual direction."""
    folder = prepare_cityscapes(
        args.gtfine,
        args.leftimg,
        args.output,
        size=args.size,
        progress=not args.quiet,
        workers=args.workers,
    )
    print(f"cityscapes: {folder} (train/, test/ = the val split; photo A | label map B)")
    print(
        "usual task: label map -> photo (--direction BtoA); e.g. "
        f"pix2pix train --data {folder / 'train'} --direction BtoA --output runs/cityscapes"
    )
    return 0
