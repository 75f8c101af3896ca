"""Who may talk to the server: the Host header, the Origin of API calls, and the bearer token.

A server on 127.0.0.1 is reachable from every web page the user opens: a page elsewhere can
POST to it (a cross-site request) or, by pointing its own DNS name at 127.0.0.1, read from it
(DNS rebinding). Both are stopped here, before any route runs:

* the ``Host`` header must name the bound address (for a loopback bind also ``localhost``;
  for a wildcard bind any IP literal, since rebinding needs a DNS name, plus the names given
  with ``--allow-host``). A rebinding page sends its own name and is refused;
* an ``/api`` request that carries an ``Origin`` (browsers send it on every cross-site and
  every POST request) must come from this server's own origin, and ``Sec-Fetch-Site:
  cross-site`` is refused too. Programs (curl, Python) send no Origin and pass;
* with a token, every ``/api`` request needs ``Authorization: Bearer <token>`` (compared in
  constant time). ``/healthz``, the page and its assets stay open: they hold no model output.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from pix2pix.serve.errors import error_body
from pix2pix.serve.settings import ServeSettings, is_loopback

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WILDCARDS = ("0.0.0.0", "::", "")


def host_name(host_header: str) -> str | None:
    """The name part of a ``Host`` header (``[::1]:80`` gives ``::1``), lowercased.

    Returns:
        ``None`` for a malformed header.
    """
    value = host_header.strip().lower()
    if not value or any(c in value for c in "/@?#\\ "):
        return None
    if value.startswith("["):  # an IPv6 literal, maybe with a port
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end]
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_host(name: str | None, settings: ServeSettings) -> bool:
    """Whether a request naming ``name`` in its Host header is for this server."""
    if name is None:
        return False
    extra = {h.lower() for h in settings.allowed_hosts}
    if name in extra:
        return True
    bound = settings.host.lower().strip("[]")
    if bound in _WILDCARDS:
        # any of the machine's addresses may be used; DNS rebinding needs a name, not an IP
        return _is_ip(name) or name == "localhost"
    if is_loopback(bound):
        return is_loopback(name)
    return name == bound


def check_origin(headers: dict[str, str]) -> str | None:
    """Refuse a browser request from another site; returns the reason, or ``None`` if fine.

    Args:
        headers: Lowercased request headers (``host`` already checked).
    """
    if headers.get("sec-fetch-site") == "cross-site":
        return "cross-site requests are refused"
    origin = headers.get("origin")
    if origin is None:
        return None  # not sent by a browser script: a program, which the token (if any) guards
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"requests from origin {origin!r} are refused"
    if parts.netloc.lower() != headers.get("host", "").lower():
        return f"requests from origin {origin!r} are refused; use the page this server serves"
    return None


def check_token(headers: dict[str, str], token: str) -> bool:
    """Whether the ``Authorization`` header carries ``Bearer <token>``.

    The header was decoded as Latin-1 (see :func:`_headers`), so encoding it back gives the
    bytes the client sent; they are compared with the token's bytes (printable ASCII, see
    :func:`~pix2pix.serve.settings.token_problem`) in constant time.
    """
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("latin-1"), token.encode("utf-8"))


def _headers(scope: Scope) -> dict[str, str]:
    raw: Iterable[tuple[bytes, bytes]] = scope.get("headers", [])
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


async def _refuse(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps(error_body(status, message)).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    pairs += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    """An ASGI middleware applying the Host, Origin and token checks to every request.

    Refusals are JSON errors: 400 for a foreign Host, 403 for a foreign Origin, 401 for a
    missing or wrong token (with ``WWW-Authenticate: Bearer``).

    Args:
        app: The application to protect.
        settings: The bound address, extra host names and token.
    """

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        name = host_name(headers.get("host", ""))
        if not allowed_host(name, self.settings):
            logger.warning("refused a request for host %r", headers.get("host"))
            await _refuse(
                send,
                400,
                f"Host header {headers.get('host')!r} does not name this server; open "
                f"{self.settings.url} (or start it with --allow-host NAME).",
                {},
            )
            return
        if scope["path"].startswith("/api/"):
            reason = check_origin(headers)
            if reason is not None:
                await _refuse(send, 403, f"{reason.capitalize()}.", {})
                return
            token = self.settings.token
            if token is not None and not check_token(headers, token):
                await _refuse(
                    send,
                    401,
                    "This server needs a token: send 'Authorization: Bearer TOKEN' (the page "
                    "asks for it, or open the URL with #token=TOKEN).",
                    {"www-authenticate": "Bearer"},
                )
                return
        await self.app(scope, receive, send)
