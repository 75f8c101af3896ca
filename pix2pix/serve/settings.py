"""What a server is allowed to do: limits, the bound address and the token, in one place."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

#: 16 MiB: a 2048x2048 PNG of a photo fits, a multi-gigabyte body is refused early.
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: 2048 x 2048: a U-Net at this size needs a few GiB of activations; beyond it, use --tile.
DEFAULT_MAX_PIXELS = 2048 * 2048


def token_problem(token: str) -> str | None:
    """What makes ``token`` unusable as a bearer token, or ``None`` if it is fine.

    An empty token is refused, never read as "no token": a script passing ``--token "$UNSET"``
    must not end up serving without authentication. A token must be printable ASCII without
    spaces: servers read header bytes as Latin-1 and browsers refuse to send anything beyond
    it, so a token with other characters could never be presented. The message does not
    repeat the token (it is a secret), only where the bad character is.
    """
    if not token.strip():
        return "is empty, which would serve without authentication"
    bad = next((i for i, c in enumerate(token) if not "!" <= c <= "~"), None)
    if bad is not None:
        return (
            f"has a space or a character outside printable ASCII (character {bad + 1}); use "
            "letters, digits and punctuation only, which an HTTP header carries unchanged"
        )
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server.

    Args:
        host: The address the server binds (``127.0.0.1`` by default: this machine only).
        port: The port it binds.
        token: If set, every ``/api`` request needs ``Authorization: Bearer <token>``.
        max_upload_bytes: Larger request bodies are refused with 413 before being read.
        max_pixels: Images with more pixels are refused with 413 before being decoded.
        max_batch: Deterministic requests for same-sized images that wait together are run
            as one batch of up to this many; 1 runs every request alone.
        max_batch_pixels: ... and of up to this many pixels in all (``None``: ``max_pixels``,
            so a batch never holds more than the largest image allowed alone; memory grows
            with the pixels, not the count). A larger image still runs, alone.
        max_queue: Requests waiting for the model beyond this are refused with 503.
        allowed_hosts: Host names accepted in the ``Host`` header besides the bound address
            (for a machine name or a reverse proxy's public name).
        header_timeout: Seconds a request's line and headers may take to arrive, from its
            first byte; a slower one gets 408 and its connection is closed.
        body_timeout: Seconds its body may take to arrive after the headers (60 s lets a
            16 MiB upload come at 280 KB/s); a slower one gets 408 and is closed.

    Examples:
        >>> ServeSettings(port=8080, max_batch=4).port
        8080
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = 8
    max_queue: int = 64
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    max_batch_pixels: int | None = None
    header_timeout: float = 10.0
    body_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_batch", "max_queue"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1.")
        pixels = self.max_batch_pixels
        if pixels is not None and (
            isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1
        ):
            raise ValueError(f"max_batch_pixels={pixels!r} must be an integer >= 1, or None.")
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"{name}={value!r} must be a positive, finite number of seconds.")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port={self.port} must be in 0..65535.")
        problem = None if self.token is None else token_problem(self.token)
        if problem is not None:
            raise ValueError(f"token {problem}; leave it unset (None) for no token.")

    @property
    def batch_pixels(self) -> int:
        """The pixel budget of one batch: ``max_batch_pixels``, else ``max_pixels``."""
        return self.max_pixels if self.max_batch_pixels is None else self.max_batch_pixels

    @property
    def url(self) -> str:
        """The address to open in a browser (a wildcard bind is shown as 127.0.0.1)."""
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"
