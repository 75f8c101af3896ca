"""``pix2pix check-data``: decode every file of a paired dataset and report every problem."""

from __future__ import annotations

import argparse

from pix2pix.constants import DIRECTION_CHOICES, PREPROCESS_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check-data`` subcommand."""
    parser = subparsers.add_parser(
        "check-data",
        help="check a paired dataset before training: decode every file, check pairs and sizes",
        description=(
            "Decode every image in each DIR fully (a truncated file is found now, not hours "
            "into training), check that A and B pair up by name and size (A/ and B/ folders) "
            "or split evenly (aligned A|B files), and, when given, that the channel counts and "
            "preprocessing suit the model. Prints one line per problem or warning, each naming "
            "its file, then a summary per DIR. Exit code 1 when a problem is found (with "
            "--strict, also a warning)."
        ),
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="dataset folders to check")
    parser.add_argument(
        "--layout", choices=("auto", "aligned", "folders"), default="auto", help="default: auto"
    )
    parser.add_argument(
        "--direction",
        choices=DIRECTION_CHOICES,
        default="AtoB",
        help="which side feeds the model, for the channel checks (default: AtoB)",
    )
    parser.add_argument("--in-channels", type=int, default=None, help="check the source side")
    parser.add_argument("--out-channels", type=int, default=None, help="check the target side")
    parser.add_argument(
        "--preprocess",
        choices=PREPROCESS_CHOICES,
        default=None,
        help="check sizes against this preprocessing (crop needs images >= --crop-size)",
    )
    parser.add_argument("--load-size", type=int, default=286)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="decoding processes (default: one per CPU, up to 8; 0: this process)",
    )
    parser.add_argument("--strict", action="store_true", help="warnings also fail the check")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check each folder, print the findings; exit code 1 when there are problems."""
    from pix2pix.data.check import check_data  # the data stack is only needed here

    failed = False
    for folder in args.dirs:
        report = check_data(
            folder,
            layout=args.layout,
            direction=args.direction,
            in_channels=args.in_channels,
            out_channels=args.out_channels,
            preprocess=args.preprocess,
            load_size=args.load_size,
            crop_size=args.crop_size,
            num_workers=args.workers,
            progress=not args.quiet,
        )
        print(report.summary(), flush=True)
        failed = failed or not report.ok or (args.strict and bool(report.warnings))
    return 1 if failed else 0
