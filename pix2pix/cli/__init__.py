"""The ``pix2pix`` command line: one module per subcommand, each with a ``register`` function.

A subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func=<callable taking the parsed namespace and returning an exit code>``. Errors a user can fix
(bad values, missing files) print one line; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pix2pix.version import __version__

# Each name is a module in this package; order is the order shown in --help.
SUBCOMMAND_MODULES = (
    "translate",
    "evaluate",
    "train",
    "report",
    "demo",
    "serve",
    "models",
    "download",
    "prepare",
    "check_data",
    "export",
    "combine",
    "split",
)


_EXAMPLES = """examples:
  pix2pix demo                                   train on built-in data, show the result
  pix2pix download facades                       the standard dataset, ready to train on
  pix2pix check-data facades/train               decode every pair, report every problem
  pix2pix train --data facades/train --direction BtoA --output runs/facades
  pix2pix train --resume runs/facades            continue bit-exactly
  pix2pix models                                 the official pretrained generators
  pix2pix translate --model facades_label2photo labels/ --output results/
  pix2pix serve --model runs/facades/final       draw in the browser, get the photo
  pix2pix evaluate --model runs/facades/final --data facades/test --direction BtoA
  pix2pix export --model runs/facades/final --output facades.onnx --dynamic-size

'pix2pix COMMAND --help' describes each command."""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``pix2pix`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="pix2pix",
        description="Paired image-to-image translation with conditional GANs (pix2pix).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pix2pix {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"pix2pix.cli.{name}").register(subparsers)
    return parser


def _one_line(error: BaseException) -> str:
    """The user's line of an error; a DataLoader worker's re-raise carries a whole traceback."""
    text = str(error)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.strip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
        pix2pix 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    # OSError covers a full disk, a read-only folder and a missing file: all name the path
    except (ValueError, OSError, RuntimeError) as e:
        if args.debug:
            raise
        print(f"pix2pix {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pix2pix {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pix2pix models | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
