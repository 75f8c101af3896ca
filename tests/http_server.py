"""A local HTTP server for download tests: 127.0.0.1 only, in a thread, nothing from outside.

It serves bytes from a dict, honours ``Range: bytes=N-`` (206 with ``Content-Range``), answers
404 for anything else, counts requests per path, and can drop the connection part-way through a
file (``drop_after``) or ignore ``Range`` (``ignore_range``) to exercise the client's recovery.
Each file has a strong ``ETag`` (from its content) and ``If-Range`` is honoured: a validator that
no longer matches gets the whole file with 200, as a real server sends.

Examples:
    with LocalServer({"/models-pytorch/x.pth": data}) as server:
        url = server.url + "/models-pytorch/x.pth"
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class LocalServer:
    """Serve ``files`` (path -> bytes) on an ephemeral port of 127.0.0.1.

    Attributes:
        files: What is served; tests may change it while the server runs.
        requests: Every request as ``(path, range header or None)``, in order.
        drop_after: ``path -> n``: the next response for ``path`` announces the full length,
            sends only ``n`` bytes and closes the connection (once per entry; removed after).
        ignore_range: Answer 200 with the whole file even when a ``Range`` is asked.
        validators: Send an ``ETag``; without it a client cannot tell versions apart.
        ignore_if_range: Answer a ``Range`` with 206 even when ``If-Range`` names another
            version (a broken server, or a cache in between).
        if_ranges: The ``If-Range`` header of every request, in order.
    """

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.validators = True
        self.ignore_if_range = False
        self.if_ranges: list[str | None] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str) -> int:
        """How many requests asked for ``path``."""
        return sum(1 for p, _ in self.requests if p == path)

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                asked = self.headers.get("Range")
                with server._lock:
                    server.requests.append((path, asked))
                    server.if_ranges.append(self.headers.get("If-Range"))
                    data = server.files.get(path)
                    drop = server.drop_after.pop(path, None)
                if data is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = 0
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                if_range = self.headers.get("If-Range")
                changed = if_range is not None and if_range != etag
                match = _RANGE.match(asked or "")
                if changed and not server.ignore_if_range:
                    match = None  # RFC 9110 13.1.5: another version, so the whole file
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                if server.validators:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                if drop is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
