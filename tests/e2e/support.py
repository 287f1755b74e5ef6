"""What only the end-to-end tests need beside tests/support/launcher.py: the binaries (skipped
without them), their config checkers, a metric the test can flip, and one-alert notifications
named Crash<n> with what the bots received of them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.bots import Bots
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


# -- one-alert notifications and what reached the bots ------------------------------------------

ALERTNAME = re.compile(r"Crash\d+")


def body(name: str) -> bytes:
    """An Alertmanager notification of one firing alert `name` (Crash<n>), its own group."""
    alert = {
        "status": "firing",
        "labels": {"alertname": name, "severity": "critical"},
        "annotations": {"summary": f"{name} fired"},
        "startsAt": "2024-01-01T00:00:00Z",
        "fingerprint": name.lower(),
    }
    return json.dumps({"version": "4", "groupKey": f"{{}}:{name}", "alerts": [alert]}).encode()


def names_in(message: dict[str, Any]) -> list[str]:
    return ALERTNAME.findall(json.dumps(message, ensure_ascii=False))


def delivered_counts(bots: Bots) -> Counter[str]:
    """How many messages the bots accepted per alertname (a name a card repeats counts once)."""
    return Counter(name for r in list(bots.fake.received) for name in set(names_in(r.body)))


def received_names(bots: Bots) -> set[str]:
    """Every alertname some bot received."""
    return set(delivered_counts(bots))


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
