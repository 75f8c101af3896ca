"""``pix2pix split``: split aligned ``A|B`` images into ``A/`` and ``B/`` folders."""

from __future__ import annotations

import argparse

from pix2pix.data.tools import split_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``split`` subcommand."""
    parser = subparsers.add_parser(
        "split",
        help="split aligned A|B images into A/ and B/ folders",
        description=(
            "Split every image in INPUT at the middle: the left half goes to OUTPUT/A, the "
            "right half to OUTPUT/B, under the same name (the inverse of 'pix2pix combine')."
        ),
    )
    parser.add_argument("input", metavar="INPUT", help="folder of aligned A|B images")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--ext", default=None, help="output format, e.g. png or jpg (default: the input's)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel threads (default: up to 8)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Split the folder; exit code 1 when nothing could be written."""
    report = split_folder(
        args.input,
        args.output,
        ext=args.ext,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(report.summary())
    return 0 if report.written else 1
