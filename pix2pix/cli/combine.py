"""``pix2pix combine``: pair ``A/`` and ``B/`` folders by name into aligned ``A|B`` images."""

from __future__ import annotations

import argparse

from pix2pix.data.tools import combine_folders


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``combine`` subcommand."""
    parser = subparsers.add_parser(
        "combine",
        help="combine A/ and B/ folders into aligned A|B images",
        description=(
            "Write each pair A_DIR/NAME.*, B_DIR/NAME.* (matched by name without extension) as "
            "one image with A on the left and B on the right, the 'aligned' layout pix2pix "
            "trains on. Pairs with a missing partner, different sizes or unreadable files are "
            "skipped and listed."
        ),
    )
    parser.add_argument("--a", required=True, metavar="DIR_A", help="folder of A images")
    parser.add_argument("--b", required=True, metavar="DIR_B", help="folder of B images")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--ext", default=None, help="output format, e.g. png or jpg (default: the A file's)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel threads (default: up to 8)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Combine the folders; exit code 1 when nothing could be written."""
    report = combine_folders(
        args.a,
        args.b,
        args.output,
        ext=args.ext,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(report.summary())
    return 0 if report.written else 1
