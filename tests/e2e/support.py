"""What only the end-to-end tests need beside tests/support/launcher.py: the binaries (skipped
without them), their config checkers, and a metric the test can flip."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.launcher import LOOPBACK, STOP_TIMEOUT_SECONDS


def require_binary(name: str) -> str:
    """The path of `name`; skip without it, except under CI=true, where its absence fails."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires every end-to-end binary", pytrace=False)
    pytest.skip(reason)


def run_check(argv: list[str]) -> None:
    """A config checker (promtool, amtool); its output is the assertion message on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"


# -- a metric the test flips -----------------------------------------------------------------


class MetricSwitch:
    """A scrape target serving `e2e_switch <0|1>` on a loopback port, flipped by the test."""

    def __init__(self) -> None:
        self.value = 0
        switch = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE e2e_switch gauge\ne2e_switch {switch.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # Prometheus scrapes every second; the test output needs none of it

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.address = f"{LOOPBACK}:{self.server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[MetricSwitch]:
        thread = threading.Thread(target=self.server.serve_forever, name="e2e-switch", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(STOP_TIMEOUT_SECONDS)
