"""What uvicorn leaves open on a connection: a request head that never ends, and a connection
that never sends a byte. uvicorn's h11 protocol with a deadline on each request head and the
keep-alive timeout from the start.

uvicorn arms no timer until it has answered a request, and cancels its keep-alive timer at the
first byte of the next one: a client that opens a connection and sends nothing, or sends half a
request head and stops, holds that connection (a socket, a file descriptor, buffers) until the
process ends. The body has its own deadline (inbound.read_body answers 408).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# A minimal answer written straight to the socket: h11 cannot answer a request it has not read.
_REASON = b"request head not received within server.read_timeout_seconds"
HEAD_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_REASON), _REASON)
)


class DeadlineH11Protocol(H11Protocol):
    """H11Protocol with `head_timeout_seconds` for each request head, from its first byte."""

    head_timeout_seconds = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.head_deadline: asyncio.TimerHandle | None = None
        # Idle from the start, as after an answer: the same keep-alive timeout applies.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head and self.head_deadline is None:
            self.head_deadline = self.loop.call_later(
                self.head_timeout_seconds, self.head_timed_out
            )
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in: the body has its deadline
            self.cancel_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_head_deadline()
        super().connection_lost(exc)

    def cancel_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def head_timed_out(self) -> None:
        self.head_deadline = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.logger.warning("closed a connection whose request head did not arrive in time")
            self.transport.write(HEAD_TIMEOUT_ANSWER)
            self.transport.close()


def deadline_protocol(head_timeout_seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class for uvicorn's `http=`, with this deadline on request heads."""
    return type(
        "DeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {"head_timeout_seconds": head_timeout_seconds},
    )
