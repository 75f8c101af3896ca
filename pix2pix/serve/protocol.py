"""uvicorn's HTTP/1.1 protocol with deadlines for receiving each request (slow-client defence).

uvicorn has no timeout while a request arrives: ``timeout_keep_alive`` covers only the idle
time between requests, and every byte received cancels it, so a client that trickles a byte a
second holds a connection (and the body read so far) for as long as it likes (uvicorn issue
#157 lists the missing ``--timeout-request-start`` and ``--timeout-request-complete``; h11 is
sans-IO and keeps no time). Here each request gets two deadlines, counted from its first byte
(or from the connection's opening, for its first request):

* its head (request line and headers) must be complete within ``header_timeout`` seconds;
* its body must be complete within ``body_timeout`` seconds of the head.

A request that misses one gets ``408 Request Timeout`` (the API's JSON error shape) if
nothing was answered yet, and the connection is closed. A connection that never sent a byte
is closed without an answer, as browsers open spare connections they may not use.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from pix2pix.serve.errors import error_body

logger = logging.getLogger(__name__)

_DONE = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR, h11.SWITCHED_PROTOCOL)


def _timeout_response(message: str) -> bytes:
    body = json.dumps(error_body(408, message)).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _DeadlineH11Protocol(H11Protocol):
    """:class:`H11Protocol` closing a connection whose request arrives too slowly."""

    header_timeout = 10.0
    body_timeout = 60.0

    def connection_made(self, transport: Any) -> None:
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # "head", "body", or None between requests
        self._heard = False  # whether the request in its head phase has sent a byte
        super().connection_made(transport)
        self._enter("head")

    def data_received(self, data: bytes) -> None:
        if self._phase is None:  # the first bytes of the next request on this connection
            self._enter("head")
        if self._phase == "head":
            self._heard = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # a pipelined request may have been read meanwhile

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Move to the phase h11's view of the client's side says the request is in."""
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._phase != "body":
            self._enter("body")
        elif state in _DONE or (state is h11.IDLE and self._phase == "body"):
            self._cancel()  # received whole: the model's time is no concern of these deadlines

    def _enter(self, phase: str) -> None:
        self._cancel()
        self._phase = phase
        self._heard = False if phase == "head" else self._heard
        seconds = self.header_timeout if phase == "head" else self.body_timeout
        self._timer = self.loop.call_later(seconds, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._phase = None

    def _expire(self) -> None:
        phase, heard = self._phase, self._heard
        self._timer = None
        self._phase = None
        if self.transport.is_closing():
            return
        if phase == "head":
            what, seconds = "request line and headers", self.header_timeout
        else:
            what, seconds = "body", self.body_timeout
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info("closing the connection from %s: its %s took over %g s", client, what, seconds)
        answered = self.cycle is not None and self.cycle.response_started and phase == "body"
        if (phase == "body" or heard) and not answered:
            self.transport.write(
                _timeout_response(
                    f"The request's {what} did not arrive within {seconds:g} s; send it "
                    "faster, or ask for a server started with a longer timeout."
                )
            )
        self.transport.close()


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with these deadlines (pass it as ``uvicorn.Config(http=)``).

    Args:
        header_timeout: Seconds for a request's line and headers, from its first byte.
        body_timeout: Seconds for its body, from the end of its headers.
    """
    return type(
        "DeadlineH11Protocol",
        (_DeadlineH11Protocol,),
        {"header_timeout": float(header_timeout), "body_timeout": float(body_timeout)},
    )
