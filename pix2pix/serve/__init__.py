"""``pix2pix serve``: a drawing page and an HTTP API for one model (needs the serve extra).

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart). Build the
application with :func:`create_app` and run it with :func:`serve`, or use the command line:
``pix2pix serve --model MODEL``.
"""

from __future__ import annotations

from pix2pix.serve.app import create_app
from pix2pix.serve.server import serve
from pix2pix.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "serve"]
