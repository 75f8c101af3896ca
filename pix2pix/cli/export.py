"""``pix2pix export``: write a trained generator as ONNX or TorchScript."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from pix2pix.cli.options import MODEL_HELP
from pix2pix.export import (
    DEFAULT_OPSET,
    EXPORT_FORMATS,
    TEST_MODE_NOTES,
    export_model,
    exported_test_mode,
)
from pix2pix.inference.modes import TEST_MODES

logger = logging.getLogger(__name__)

_SUFFIX_FORMATS = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript"}

# The ONNX exporter's passes (onnxscript's optimiser and rewriter, onnx_ir's cleanup) log every
# step at INFO, about 30 lines an export, which the command line's INFO logging would print.
_CHATTY_EXPORTER_LOGGERS = ("onnxscript", "onnx_ir")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export a generator to ONNX or TorchScript",
        description="Export a trained generator to one file, in the test mode the model records "
        "as far as a graph can (it has no dropout RNG): eval (running batch statistics, no "
        "dropout) or paper without its dropout (each image normalised with its own "
        "statistics). The graph takes float [N, C, H, W] in [-1, 1] and returns the "
        "translation in [-1, 1]; the batch size is free, and with --dynamic-size so are H and "
        "W: the graph pads them to the generator's size multiple (2**num_downs for a U-Net, 4 "
        "for ResNet) as Translator does and crops the output back.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help=MODEL_HELP,
    )
    parser.add_argument("--output", required=True, help="the file to write (.onnx, .pt)")
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default=None,
        help="default: from the --output suffix (.onnx: onnx, .pt/.ts: torchscript)",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs="+",
        metavar="N",
        default=None,
        help="example size: SIDE or HEIGHT WIDTH (default: the saved crop size, else 256); "
        "without --dynamic-size the only size the export accepts",
    )
    parser.add_argument(
        "--dynamic-size",
        action="store_true",
        help="accept any height and width (padded to the size multiple inside the graph)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=None,
        help=f"ONNX opset, {DEFAULT_OPSET} (default) up to the newest the installed onnx knows "
        "(ONNX only)",
    )
    parser.add_argument(
        "--test-mode",
        choices=TEST_MODES,
        default=None,
        help="eval, or paper without its dropout (each image normalised with its own batch "
        "statistics); default: the mode the model records (eval if it records none; paper for a "
        "reference .pth, whose dropout then does not matter)",
    )
    parser.set_defaults(func=run)


@contextlib.contextmanager
def _quiet_exporter_logs() -> Iterator[None]:
    """Hide the exporter's INFO step log for a block; its warnings and errors still show."""
    chatty = [logging.getLogger(name) for name in _CHATTY_EXPORTER_LOGGERS]
    levels = [each.level for each in chatty]
    for each in chatty:
        each.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for each, level in zip(chatty, levels):
            each.setLevel(level)


def run(args: argparse.Namespace) -> int:
    """Export the model; returns the exit code."""
    output = Path(args.output)
    export_format = args.format or _SUFFIX_FORMATS.get(output.suffix.lower())
    if export_format is None:
        raise ValueError(
            f"cannot tell the format from --output {output}; pass --format "
            f"{' or '.join(EXPORT_FORMATS)} (or name the file .onnx / .pt)."
        )
    if args.opset is not None and export_format != "onnx":
        raise ValueError(f"--opset applies to ONNX exports only; drop it for {export_format}.")
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    size = None
    if args.size is not None:
        if len(args.size) > 2:
            raise ValueError(f"--size takes SIDE or HEIGHT WIDTH; got {len(args.size)} numbers.")
        size = args.size[0] if len(args.size) == 1 else (args.size[0], args.size[1])
    try:
        with _quiet_exporter_logs():
            path = export_model(
                args.model,
                output,
                format=export_format,
                size=size,
                dynamic_size=args.dynamic_size,
                opset=opset,
                test_mode=args.test_mode,
            )
    except ImportError as error:
        # a missing optional dependency is a user-fixable error: one line, like the others
        raise RuntimeError(str(error)) from error
    what = f"onnx, opset {opset}" if export_format == "onnx" else export_format
    mode = exported_test_mode(path, export_format)
    logger.info("wrote %s (%s; %s)", path, what, TEST_MODE_NOTES[mode])
    return 0
