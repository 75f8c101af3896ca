"""The command-line flags of the test mode, shared by translate, evaluate, serve and export."""

from __future__ import annotations

import argparse

from pix2pix.inference.modes import DEFAULT_SEED, TEST_MODES

TEST_MODE_HELP = (
    "paper: dropout on and each image normalised with its own batch statistics, as the "
    "canonical test.py runs (the official pix2pix models' mode); eval: running statistics, no "
    "dropout (test.py --eval). Default: the mode the model records (eval if it records none; "
    "paper for a reference .pth)"
)
DROPOUT_HELP = (
    "for a reference .pth only: the U-Net's dropout, which its weights cannot show (0 for a "
    "model trained with --no_dropout; default the canonical 0.5). It matters in the paper mode"
)


def add_test_mode_arguments(parser: argparse.ArgumentParser, *, seed_help: str | None) -> None:
    """Add ``--test-mode``, ``--dropout`` and, with ``seed_help``, ``--seed`` (default 0)."""
    parser.add_argument("--test-mode", choices=TEST_MODES, default=None, help=TEST_MODE_HELP)
    if seed_help is not None:
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"{seed_help} (default {DEFAULT_SEED})"
        )
    parser.add_argument("--dropout", type=float, default=None, help=DROPOUT_HELP)
