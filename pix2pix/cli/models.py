"""``pix2pix models``: list the pretrained models, a line each, and whether each is cached."""

from __future__ import annotations

import argparse

from pix2pix.pretrained import cache_dir, get_pretrained, is_cached, list_pretrained


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser(
        "models",
        help="list the pretrained models (name, direction, dataset, cached)",
        description=(
            "List the official pretrained generators that 'pix2pix translate --model NAME' and "
            "Translator.from_pretrained(NAME) download on first use, with the direction and "
            "dataset each was trained on and whether it is already in the cache "
            "(PIX2PIX_HOME)."
        ),
    )
    parser.add_argument(
        "--kind", choices=("pix2pix", "cyclegan"), default=None, help="only this kind"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per registry entry."""
    names = list_pretrained(args.kind)
    width = max((len(name) for name in names), default=4)
    print(f"{'name':<{width}}  {'kind':<8}  {'direction':<9}  {'dataset':<14}  cached  task")
    for name in names:
        entry = get_pretrained(name)
        direction = entry.direction or "-"
        if "direction" in entry.inferred:
            direction += "*"
        cached = "yes" if is_cached(name) else "no"
        print(
            f"{name:<{width}}  {entry.kind:<8}  {direction:<9}  {entry.dataset or '-':<14}  "
            f"{cached:<6}  {entry.task}"
        )
    print(f"* inferred, not confirmed by the canonical repo. Cache: {cache_dir()}")
    return 0
