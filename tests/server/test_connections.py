"""uvicorn with app/server/connections.py's protocol, on a real loopback port: a request head
that never ends is answered 408 and closed at its deadline, a connection that never sends a
byte is closed at the keep-alive timeout, and a whole request is served as before.

Raw sockets, because an HTTP client library always finishes the requests it starts.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.server.connections import deadline_protocol
from tests.fakes.server import serve_in_thread

HEAD_TIMEOUT_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 1
LATE_SECONDS = 1.0  # a shared machine delays timers
REQUEST = b"GET /ping HTTP/1.1\r\nHost: alertbridge\r\n\r\n"


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    app = Starlette(routes=[Route("/ping", ping)])
    protocol = deadline_protocol(HEAD_TIMEOUT_SECONDS)
    with serve_in_thread(app, http=protocol, timeout_keep_alive=KEEP_ALIVE_SECONDS) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection (within `limit`), and what it sent."""
    started, answer = time.monotonic(), bytearray()
    while select.select([sock], [], [], limit)[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return time.monotonic() - started, bytes(answer)
        answer += chunk
    raise AssertionError(f"still open after {limit} s; it sent {bytes(answer)!r}")


def test_a_request_head_that_never_ends_gets_408_and_is_closed(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(REQUEST[:12])
        took, answer = closed_after(sock, HEAD_TIMEOUT_SECONDS + LATE_SECONDS)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert took >= HEAD_TIMEOUT_SECONDS - 0.1


def test_a_connection_that_never_sends_a_byte_is_closed_at_the_keep_alive_timeout(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        took, answer = closed_after(sock, KEEP_ALIVE_SECONDS + LATE_SECONDS)
    assert (answer, took >= KEEP_ALIVE_SECONDS - 0.1) == (b"", True)


def test_whole_requests_on_one_connection_are_served_past_the_head_deadline(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        for _ in range(2):
            assert answer_to(sock, REQUEST).startswith(b"HTTP/1.1 200 ")
            time.sleep(HEAD_TIMEOUT_SECONDS + 0.2)  # idle, not mid-head: no deadline runs
        assert answer_to(sock, REQUEST).startswith(b"HTTP/1.1 200 ")


def answer_to(sock: socket.socket, request: bytes) -> bytes:
    """The whole answer to `request` (head and body arrive in separate writes)."""
    sock.sendall(request)
    answer = bytearray()
    while not answer.endswith(b"pong"):
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-answer: {bytes(answer)!r}"
        answer += chunk
    return bytes(answer)
