"""The one error type of the API: an HTTP status and a message a person can act on."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``{"error": message, "status": code}`` JSON.

    Args:
        status: The HTTP status code.
        message: What went wrong and what to do about it, in one or two sentences.
        headers: Extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response, so clients parse one shape."""
    return {"error": message, "status": status, **extra}
