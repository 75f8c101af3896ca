"""``pix2pix serve``: a drawing page and an HTTP API for one model, on this machine by default.

The web stack (FastAPI, uvicorn, python-multipart) is the optional ``serve`` extra, imported
here only when the command runs, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import os
from pathlib import Path

from pix2pix._extras import install_command
from pix2pix.cli.options import MODEL_HELP
from pix2pix.cli.test_mode import add_test_mode_arguments
from pix2pix.constants import FINAL_DIR, PRECISION_CHOICES

logger = logging.getLogger(__name__)

TOKEN_ENV = "PIX2PIX_SERVE_TOKEN"
# import name -> distribution, for the message when the extra is missing
_STACK = {"fastapi": "fastapi", "uvicorn": "uvicorn", "python_multipart": "python-multipart"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="draw in the browser and watch the model translate it; an HTTP API for programs",
        description="Serve one model: a drawing page at http://HOST:PORT/ and an HTTP API "
        "(POST /api/translate, GET /api/info, GET /healthz). Listens on 127.0.0.1 (this "
        "machine only) unless --host says otherwise. Needs the serve extra (FastAPI, uvicorn).",
    )
    parser.add_argument(
        "--model",
        required=True,
        help=MODEL_HELP,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 picks a free one)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"require 'Authorization: Bearer TOKEN' on the API (or set {TOKEN_ENV}, which "
        "keeps it out of the process list)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests whose Host header names NAME (a machine or proxy name); "
        "repeatable",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", default="fp32", choices=list(PRECISION_CHOICES))
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator (slow first request, faster after)",
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=16.0, help="largest request body in MiB (16)"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=2048 * 2048,
        help="largest image in pixels, checked before decoding (4194304 = 2048x2048)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="run up to this many waiting eval-mode requests as one batch (8; 1: never)",
    )
    parser.add_argument(
        "--max-batch-pixels",
        type=int,
        default=None,
        help="... and of up to this many pixels in all (default: --max-pixels, so a batch "
        "never needs more memory than the largest single image)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request's line and headers must arrive within this, from its first byte (10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="its body must arrive within this after the headers (60); slower ones get 408",
    )
    # the mode of a request without ?test_mode=; paper requests are seeded (?seed=, else 0)
    add_test_mode_arguments(parser, seed_help=None)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.set_defaults(func=run)


def require_stack() -> None:
    """Check that the serve extra is installed.

    Raises:
        RuntimeError: Naming what is missing and the install command.
    """
    missing = [dist for name, dist in _STACK.items() if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"pix2pix serve needs {', '.join(missing)}: {install_command('serve')}")


def display_name(model: str) -> str:
    """How the page names the model: a folder's or file's name, never its full local path."""
    path = Path(model)
    if path.exists():
        resolved = path.resolve()
        # runs/NAME/final reads better as NAME/final
        if resolved.name == FINAL_DIR:
            return f"{resolved.parent.name}/{resolved.name}"
        return path.name
    return model


def token_from(args: argparse.Namespace) -> str | None:
    """The token to require: ``--token`` if given, else ``PIX2PIX_SERVE_TOKEN`` if set.

    Given but empty is an error, never "no token": ``--token "$UNSET"`` in a script must not
    serve without authentication.

    Raises:
        ValueError: Naming the flag or variable, for an empty or unusable token.
    """
    from pix2pix.serve.settings import token_problem

    if args.token is not None:
        token, source = args.token, "--token"
    elif TOKEN_ENV in os.environ:
        token, source = os.environ[TOKEN_ENV], TOKEN_ENV
    else:
        return None
    problem = token_problem(token)
    if problem is None:
        return token
    if not token.strip():
        fix = "leave out --token" if source == "--token" else f"unset {TOKEN_ENV}"
        problem += f"; give a token, or {fix} to serve without one"
    raise ValueError(f"{source} {problem}.")


def upload_limit(megabytes: float) -> int:
    """``--max-upload-mb`` in bytes.

    Raises:
        ValueError: For ``inf``, ``nan``, zero, a negative number, or less than a byte.
    """
    if not math.isfinite(megabytes) or megabytes <= 0:
        raise ValueError(
            f"--max-upload-mb {megabytes} must be a positive, finite number of MiB (16 by "
            "default; e.g. 64 for large photos)."
        )
    size = int(megabytes * 1024 * 1024)
    if size < 1:
        raise ValueError(f"--max-upload-mb {megabytes} is less than one byte; use at least 0.01.")
    return size


def check_limits(args: argparse.Namespace) -> None:
    """Refuse a count below 1 or a timeout that is not a positive number, naming the flag."""
    for flag in ("max_pixels", "max_batch", "max_batch_pixels"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} {value} must be at least 1.")
    for flag in ("header_timeout", "body_timeout"):
        value = getattr(args, flag)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"--{flag.replace('_', '-')} {value} must be a positive, finite number of seconds."
            )


def run(args: argparse.Namespace) -> int:
    """Load the model, bind the address, serve until Ctrl-C; returns the exit code."""
    require_stack()
    from pix2pix import Translator
    from pix2pix.serve import ServeSettings, create_app, serve
    from pix2pix.serve.server import bind, warn_if_exposed

    check_limits(args)
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        token=token_from(args),
        max_upload_bytes=upload_limit(args.max_upload_mb),
        max_pixels=args.max_pixels,
        max_batch=args.max_batch,
        max_batch_pixels=args.max_batch_pixels,
        allowed_hosts=tuple(args.allow_host),
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )
    translator = Translator.from_pretrained(
        args.model,
        device=args.device,
        dtype=args.dtype,
        compile=args.compile,
        test_mode=args.test_mode,
        dropout=args.dropout,
    )
    app = create_app(translator, settings, name=display_name(args.model))
    sock = bind(settings.host, settings.port)  # bound before printing, so the URL is right
    port = sock.getsockname()[1]
    settings = ServeSettings(**{**settings.__dict__, "port": port})
    warn_if_exposed(settings)
    where = f"{settings.url}#token=..." if settings.token else settings.url
    logger.info(
        "Serving %s (%s, %s, %s test mode) at %s  (Ctrl-C to stop)",
        args.model,
        translator.device,
        args.dtype,
        translator.test_mode,
        where,
    )
    serve(app, settings, sock=sock, log_level=args.log_level)
    return 0
