"""``pix2pix serve`` against slow clients: raw sockets trickling requests into a real server.

Each request must arrive within its deadlines (head, then body), whatever the client does;
a request received whole is never cut off, however long the model takes. Every wait here is
bounded, so a server without the deadlines fails the test in seconds instead of hanging.
"""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

import httpx

from pix2pix import Translator
from pix2pix.models import UNetGenerator
from pix2pix.serve import ServeSettings, create_app
from pix2pix.serve.server import running_server

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 1.0
GIVE_UP = 6.0  # seconds: far beyond both deadlines; a server without them fails by then


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Translator:
    folder: Path = tmp_path_factory.mktemp("slow") / "model"
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(folder, inference={"crop_size": 32})
    return Translator.from_pretrained(folder, device="cpu")


@pytest.fixture()
def server(translator):
    settings = ServeSettings(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT)
    with running_server(create_app(translator, settings), settings=settings) as url:
        yield url


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class _Slow:
    """A client socket that sends ``start`` at once, then ``trickle`` a byte at a time."""

    def __init__(self, url: str, start: bytes, trickle: bytes) -> None:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.setblocking(False)
        if start:
            self.sock.sendall(start)
        self.trickle = trickle
        self.received = b""
        self.closed_after: float | None = None

    def step(self, elapsed: float) -> None:
        if self.closed_after is not None:
            return
        try:
            if self.trickle:
                self.sock.send(self.trickle[:1])
                self.trickle = self.trickle[1:]
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.closed_after = elapsed
                    return
                self.received += data
        except BlockingIOError:
            return
        except OSError:  # reset or broken pipe: closed by the server
            self.closed_after = elapsed

    def close(self) -> None:
        self.sock.close()


def _run(clients: list[_Slow]) -> None:
    start = time.monotonic()
    while time.monotonic() - start < GIVE_UP:
        elapsed = time.monotonic() - start
        for client in clients:
            client.step(elapsed)
        if all(c.closed_after is not None for c in clients):
            return
        time.sleep(0.05)


def test_trickling_clients_are_cut_off_and_others_are_served(server):
    body = _png()
    head = (
        "POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    endless = b"X-Padding: " + b"a" * 10_000  # a head that never ends
    silent = [_Slow(server, b"", b"") for _ in range(3)]
    slow_heads = [_Slow(server, b"GET /healthz HTTP/1.1\r\n", endless) for _ in range(3)]
    slow_bodies = [_Slow(server, head + body[:10], body[10:]) for _ in range(3)]
    clients = silent + slow_heads + slow_bodies
    try:
        _run(clients)
        # meanwhile and afterwards, a client that sends its request at once is served
        answer = httpx.post(server + "api/translate", content=body, timeout=10)
        assert answer.status_code == 200
    finally:
        for client in clients:
            client.close()
    for group, deadline in ((silent, HEADER_TIMEOUT), (slow_heads, HEADER_TIMEOUT)):
        for client in group:
            assert client.closed_after is not None, "a slow head kept its connection"
            assert client.closed_after < deadline + 2.0
    for client in slow_bodies:
        assert client.closed_after is not None, "a slow body kept its connection"
        assert client.closed_after < HEADER_TIMEOUT + BODY_TIMEOUT + 2.0
    # a silent connection is closed without an answer; a started request gets a JSON 408
    assert all(c.received == b"" for c in silent)
    for client in slow_heads + slow_bodies:
        status, _, rest = client.received.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", client.received[:200]
        error = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert error["status"] == 408 and "did not arrive within" in error["error"]


def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(server):
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    client = _Slow(server, first, b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"b" * 10_000)
    try:
        _run([client])
    finally:
        client.close()
    assert client.received.startswith(b"HTTP/1.1 200 OK")  # the first request was served
    assert b"HTTP/1.1 408 Request Timeout" in client.received
    assert client.closed_after is not None and client.closed_after < HEADER_TIMEOUT + 2.0


def test_a_request_received_whole_is_not_cut_off_while_the_model_runs(server, translator):
    original = translator.translate

    def slow(*args, **kwargs):  # the model takes longer than both deadlines together
        time.sleep(HEADER_TIMEOUT + BODY_TIMEOUT + 0.5)
        return original(*args, **kwargs)

    translator.translate = slow
    try:
        answer = httpx.post(server + "api/translate", content=_png(), timeout=10)
    finally:
        del translator.translate  # the class's method again
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"


def test_timeouts_are_checked():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="header_timeout"):
            ServeSettings(header_timeout=bad)
        with pytest.raises(ValueError, match="body_timeout"):
            ServeSettings(body_timeout=bad)
