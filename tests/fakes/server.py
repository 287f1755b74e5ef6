"""Run an ASGI app on a real loopback port, in a background thread, for the duration of a block."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_SECONDS = 10.0
# Requests still running when the block ends (a client-less "hang") are cancelled after this.
GRACEFUL_SHUTDOWN_SECONDS = 1
STOP_TIMEOUT_SECONDS = 10.0


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        # Signals belong to the main thread (the test runner). Current uvicorn already skips them
        # off the main thread; older releases called this hook instead.
        pass


@contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Yield the base URL ("http://127.0.0.1:54321") of `app` served on a free port; `options`
    override uvicorn.Config's arguments (`http=`, `timeout_keep_alive=`)."""
    # Binding the socket ourselves and handing it over avoids the pick-a-port-then-bind race.
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # without it every answer (head and body written apart) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    settings: dict[str, Any] = {
        "loop": "asyncio",
        "http": "h11",
        "ws": "none",  # no websockets import: its deprecation warnings would be errors here.
        "lifespan": "off",
        "log_config": None,  # leave the test runner's logging alone
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    config = uvicorn.Config(app, **{**settings, **options})
    server = _ThreadServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_SECONDS)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on port {port} did not stop")


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited during start-up")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"uvicorn did not start within {STARTUP_TIMEOUT_SECONDS} s")
        time.sleep(0.01)
