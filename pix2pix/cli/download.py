"""``pix2pix download NAME``: fetch and extract a standard paired dataset."""

from __future__ import annotations

import argparse

from pix2pix.data.download import DATASETS, download_dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``download`` subcommand."""
    names = ", ".join(DATASETS)
    parser = subparsers.add_parser(
        "download",
        help="download a standard dataset (facades, maps, edges2shoes, ...)",
        description=(
            f"Download NAME ({names}) from the official server (or the mirror in "
            "PIX2PIX_DOWNLOAD_URL) and extract it to ROOT/NAME/<split>/, aligned A|B images "
            "ready for 'pix2pix train'. A dataset already extracted and complete is not "
            "downloaded again; an interrupted download resumes. cityscapes cannot be "
            "redistributed: the command explains how to prepare it."
        ),
    )
    parser.add_argument("name", metavar="NAME", help=f"the dataset: {names}")
    parser.add_argument(
        "--root", default=".", metavar="DIR", help="parent folder (default: the current one)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="download again (even a kept archive) and extract, even if complete",
    )
    parser.add_argument(
        "--keep-archive", action="store_true", help="keep the .tar.gz in the cache afterwards"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Download the dataset and print where it is and its usual direction."""
    folder = download_dataset(
        args.name,
        args.root,
        progress=not args.quiet,
        force=args.force,
        keep_archive=args.keep_archive,
    )
    info = DATASETS[args.name]
    splits = sorted(p.name for p in folder.iterdir() if p.is_dir())
    # the one summary: where it is, and the usual task (the download logged only what it wrote)
    print(
        f"{args.name}: {folder} ({', '.join(f'{s}/' for s in splits)}); usual task: {info.task} "
        f"(--direction {info.direction}), e.g. pix2pix train --data {folder / 'train'} "
        f"--direction {info.direction} --output runs/{args.name}"
    )
    return 0
