"""Run the application with uvicorn on a socket we bind ourselves (so port 0 works)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from pix2pix.serve.protocol import deadline_protocol
from pix2pix.serve.settings import ServeSettings, is_loopback

logger = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one).

    Raises:
        RuntimeError: If the address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def warn_if_exposed(settings: ServeSettings) -> None:
    """Log a warning when the server is reachable from other machines."""
    if is_loopback(settings.host):
        return
    where = "every network interface" if settings.host in ("0.0.0.0", "::") else settings.host
    advice = "" if settings.token else " Consider --token so only those you tell can use it."
    logger.warning(
        "WARNING: listening on %s: anyone who can reach this machine can use the model.%s",
        where,
        advice,
    )


def _config(app: Any, log_level: str, settings: ServeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # h11 with deadlines for each request's head and body: uvicorn has none of its own
        http=deadline_protocol(settings.header_timeout, settings.body_timeout),
        log_level=log_level,
        server_header=False,  # no version banner for scanners
        proxy_headers=False,  # X-Forwarded-* from a client are not trusted
        ws="none",
        lifespan="on",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )


def serve(
    app: Any,
    settings: ServeSettings,
    *,
    sock: socket.socket | None = None,
    log_level: str = "info",
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C, SIGTERM).

    Args:
        app: The application from :func:`pix2pix.serve.create_app`.
        settings: Where to listen (``host``, ``port``), used when ``sock`` is not given.
        sock: An already bound socket (see :func:`bind`).
        log_level: uvicorn's log level (``info`` logs each request).

    Examples:
        >>> from pix2pix import Translator
        >>> from pix2pix.serve import ServeSettings, create_app, serve
        >>> settings = ServeSettings(port=8000)
        >>> translator = Translator.from_pretrained("facades_label2photo")  # doctest: +SKIP
        >>> serve(create_app(translator, settings), settings)  # doctest: +SKIP
    """
    sock = sock or bind(settings.host, settings.port)
    uvicorn.Server(_config(app, log_level, settings)).run(sockets=[sock])


@contextlib.contextmanager
def running_server(
    app: Any,
    host: str = "127.0.0.1",
    *,
    settings: ServeSettings | None = None,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve ``app`` on a free port in a background thread; yields its base URL.

    For tests and benchmarks: the server stops (and its worker finishes) on exit. Of
    ``settings``, only the timeouts apply here (the app holds the rest).

    Examples:
        >>> with running_server(create_app(translator)) as url:  # doctest: +SKIP
        ...     requests.get(url + "healthz")
    """
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, log_level, settings or ServeSettings()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
    if not server.started:
        raise RuntimeError("the server did not start")
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
