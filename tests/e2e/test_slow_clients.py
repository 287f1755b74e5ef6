"""Slow clients against the real `python -m app serve`: a body that stalls or trickles is answered
408 at server.read_timeout_seconds and its connection closed, and neither it nor a crowd of idle
or half-sent connections holds up /status or an alert from a well-behaved sender.

Raw sockets, because an HTTP client library always finishes the requests it starts.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.launcher import (
    HTTP_TIMEOUT_SECONDS,
    LOOPBACK,
    Processes,
    Service,
    start_alertbridge,
    write_yaml,
)

pytestmark = pytest.mark.e2e

READ_TIMEOUT_SECONDS = 2.0
# The 408 may come this much after the deadline (a shared CI machine delays timers); a per-chunk
# idle timeout would answer the trickling client only READ_TIMEOUT_SECONDS after its last byte,
# which TRICKLE_UNTIL_SECONDS puts beyond this bound.
LATE_SECONDS = 1.5
TRICKLE_UNTIL_SECONDS = 1.8
TRICKLE_EVERY_SECONDS = 0.1
PROMPT_SECONDS = 1.0  # /status takes milliseconds; blocked behind a slow client it would take 2 s
CLOSE_WAIT_SECONDS = 2.0
IDLE_CONNECTIONS = 300
ALERT = b'{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "Slow"}}]}'
# Headers that promise a body; each test sends only its first bytes.
HEAD = (
    b"POST /alertmanager HTTP/1.1\r\nHost: alertbridge\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(ALERT)
)


@pytest.fixture
def service(processes: Processes, tmp_path: Path) -> Service:
    config = {
        "server": {"read_timeout_seconds": READ_TIMEOUT_SECONDS},
        "receivers": [{"name": "console", "platform": "console"}],
        "routes": [{"receivers": ["console"]}],
    }
    path = write_yaml(tmp_path / "alertbridge.yaml", config)
    return start_alertbridge(processes, path, tmp_path / "data")


def connect(service: Service) -> socket.socket:
    port = urlsplit(service.url).port
    assert port is not None
    return socket.create_connection((LOOPBACK, port), HTTP_TIMEOUT_SECONDS)


def readable(sock: socket.socket, wait: float) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    sock.settimeout(CLOSE_WAIT_SECONDS)
    answer = bytearray()
    while chunk := sock.recv(65536):
        answer += chunk
    return bytes(answer)


def status_took(service: Service) -> float:
    started = time.monotonic()
    response = service.get("/status")
    assert response.status_code == 200, response.text
    return time.monotonic() - started


@pytest.mark.parametrize("trickles", [False, True], ids=["stalls", "trickles"])
def test_a_slow_body_gets_408_at_the_deadline_while_status_answers(
    service: Service, trickles: bool
) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        sock.sendall(HEAD + ALERT[:5])
        sent, probes = 5, []
        while not readable(sock, TRICKLE_EVERY_SECONDS):
            elapsed = time.monotonic() - started
            assert elapsed < READ_TIMEOUT_SECONDS + LATE_SECONDS, "no answer to the slow body"
            if trickles and elapsed < TRICKLE_UNTIL_SECONDS:
                sock.sendall(ALERT[sent : sent + 1])
                sent += 1
            probes.append(status_took(service))
        answered = time.monotonic() - started
        answer = read_until_closed(sock)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    assert b"server.read_timeout_seconds" in body
    assert READ_TIMEOUT_SECONDS <= answered < READ_TIMEOUT_SECONDS + LATE_SECONDS
    assert len(probes) >= 5
    assert max(probes) < PROMPT_SECONDS, f"/status took {max(probes):.2f} s"
    metrics = service.get("/metrics").text
    assert 'rejected_total{source="alertmanager",status="408"} 1.0' in metrics


@pytest.mark.parametrize("trickles", [False, True], ids=["stalls", "trickles"])
def test_a_request_head_that_never_ends_gets_408_and_is_closed_at_the_deadline(
    service: Service, trickles: bool
) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        sock.sendall(HEAD[:20])
        sent = 20
        while not readable(sock, TRICKLE_EVERY_SECONDS):
            elapsed = time.monotonic() - started
            assert elapsed < READ_TIMEOUT_SECONDS + LATE_SECONDS, "the half head is still open"
            if trickles and elapsed < TRICKLE_UNTIL_SECONDS:  # a byte at a time, never the end
                sock.sendall(HEAD[sent : sent + 1])
                sent += 1
        answered = time.monotonic() - started
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer.lower()
    assert READ_TIMEOUT_SECONDS - 0.1 <= answered < READ_TIMEOUT_SECONDS + LATE_SECONDS
    assert status_took(service) < PROMPT_SECONDS


# What each idle connection sent before going quiet; the half-sent kinds get 408 at the deadline.
OPENINGS = {"nothing": b"", "half-headers": HEAD[:20], "half-body": HEAD + ALERT[:5]}


@pytest.fixture
def idle_connections(service: Service) -> Iterator[list[tuple[str, socket.socket]]]:
    """IDLE_CONNECTIONS open connections, of each kind in OPENINGS in turn."""
    kinds = list(OPENINGS)
    connections: list[tuple[str, socket.socket]] = []
    try:
        for i in range(IDLE_CONNECTIONS):
            kind = kinds[i % len(kinds)]
            connections.append((kind, connect(service)))
            connections[-1][1].sendall(OPENINGS[kind])
        yield connections
    finally:
        for _, sock in connections:
            sock.close()


def test_many_idle_connections_hold_up_neither_status_nor_alerts(
    service: Service, idle_connections: list[tuple[str, socket.socket]]
) -> None:
    probes = [status_took(service) for _ in range(10)]
    assert max(probes) < PROMPT_SECONDS, f"/status took {max(probes):.2f} s"
    started = time.monotonic()
    response = httpx.post(service.url + "/alertmanager", content=ALERT, timeout=PROMPT_SECONDS)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < PROMPT_SECONDS
    # Those that sent nothing were still open throughout: the server had not simply dropped them.
    assert not any(readable(sock, 0) for kind, sock in idle_connections if kind == "nothing")


UVICORN_DEFAULT_KEEP_ALIVE_SECONDS = 5.0
STATUS_REQUEST = b"GET /status HTTP/1.1\r\nHost: alertbridge\r\n\r\n"


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send `request` and return the head of the answer, its body read by Content-Length."""
    sock.sendall(request)
    answer = bytearray()
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-answer: {bytes(answer)!r}"
        answer += chunk
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")[1:]
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_an_idle_connection_outlives_uvicorns_default_keep_alive(service: Service) -> None:
    # Senders keep idle connections for minutes (cli.KEEP_ALIVE_SECONDS says why we outlast
    # them); uvicorn's default would close this one after five seconds.
    with connect(service) as sock:
        assert exchange(sock, STATUS_REQUEST).startswith(b"HTTP/1.1 200 ")
        assert not readable(sock, UVICORN_DEFAULT_KEEP_ALIVE_SECONDS + 1.0)
        assert exchange(sock, STATUS_REQUEST).startswith(b"HTTP/1.1 200 ")
