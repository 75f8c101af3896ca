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
        # None when not given, so a seed given for the eval mode (which has no randomness) is
        # refused rather than ignored (refuse_seed_without_dropout)
        parser.add_argument(
            "--seed", type=int, default=None, help=f"{seed_help} (default {DEFAULT_SEED})"
        )
    parser.add_argument("--dropout", type=float, default=None, help=DROPOUT_HELP)


def seed_of(args: argparse.Namespace) -> int:
    """``--seed``, else the default seed."""
    return DEFAULT_SEED if args.seed is None else args.seed


def refuse_seed_without_dropout(args: argparse.Namespace, mode: str | None) -> None:
    """Refuse ``--seed`` with the eval mode, whose results it cannot change.

    Called before the model loads with ``--test-mode`` (``mode=args.test_mode``), and again
    with the mode the model records once it has loaded.

    Raises:
        ValueError: If ``--seed`` was given and ``mode`` is ``"eval"``.
    """
    if args.seed is not None and mode == "eval":
        source = "--test-mode eval" if args.test_mode == "eval" else "the model's test mode (eval)"
        raise ValueError(
            f"--seed {args.seed} seeds the paper mode's dropout, but {source} has no dropout "
            "and no randomness; drop --seed, or pass --test-mode paper."
        )
