"""Plumbing for the end-to-end tests: free ports, binaries, real processes with bounded waits and
guaranteed cleanup, a metric the test can flip, and reading what the fake bots received."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.fakes.chatbots import FakeBots

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1
HTTP_TIMEOUT_SECONDS = 5.0
LOG_TAIL_CHARS = 6000
# A port picked by free_port() can be taken before the process binds it; start again this often.
BIND_ATTEMPTS = 3
BIND_FAILURE = re.compile(r"address already in use|bind: |error while attempting to bind", re.I)

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    """The path of `name`; skip without it, except under CI=true, where its absence fails."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires every end-to-end binary", pytrace=False)
    pytest.skip(reason)


# -- processes -------------------------------------------------------------------------------


@dataclass
class Process:
    """One child process; stdout and stderr both go to `log_path` (a file never fills up)."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bounded wait; only this process, by its pid."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_SECONDS)


@dataclass
class Processes:
    """Starts processes and stops every one of them at teardown, whatever happened."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> Process:
        index = sum(p.name == name for p in self.started)
        log_path = self.log_dir / (f"{name}.log" if index == 0 else f"{name}-{index}.log")
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=env,
            )
        process = Process(name, argv, log_path, popen)
        self.started.append(process)
        return process

    def start_listening(
        self, name: str, argv_for: Callable[[int], list[str]], ready_path: str, **kwargs: Any
    ) -> tuple[Process, str]:
        """Start a server on a free port and wait until `ready_path` answers 200; a lost race
        for the port is retried on a new one."""
        for attempt in range(1, BIND_ATTEMPTS + 1):
            port = free_port()
            process = self.start(name, argv_for(port), **kwargs)
            url = f"http://{LOOPBACK}:{port}"
            try:
                wait_http_ok(url + ready_path, process)
            except ProcessDied:
                if attempt == BIND_ATTEMPTS or not BIND_FAILURE.search(process.log()):
                    raise
                continue
            return process, url
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for process in reversed(self.started):
            try:
                process.stop()
            except Exception as exc:  # stop the others anyway, report at the end
                errors.append(exc)
        if errors:
            raise errors[0]

    def report(self) -> list[tuple[str, str]]:
        """(title, log tail) per process, for attaching to a failed test's report."""
        sections = []
        for process in self.started:
            code = process.exit_code()
            state = "running" if code is None else f"exited with {code}"
            sections.append((f"log of {process.name} ({state})", tail(process.log())))
        return sections


class ProcessDied(AssertionError):
    pass


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def check_alive(process: Process) -> None:
    code = process.exit_code()
    if code is not None:
        raise ProcessDied(f"{process.name} exited with {code}; its log:\n{tail(process.log())}")


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    watch: Sequence[Process] = (),
    details: Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy, for at most `timeout` seconds; fail
    early when a watched process dies, and say what was awaited (plus `details()`) on timeout."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for process in watched:
            check_alive(process)
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(POLL_SECONDS)


def wait_http_ok(url: str, process: Process, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=HTTP_TIMEOUT_SECONDS).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(
        answers,
        timeout=timeout,
        what=f"{process.name} to answer 200 at {url}",
        watch=[process],
        details=lambda: f"{process.name} log:\n{tail(process.log())}",
    )


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_check(argv: list[str]) -> None:
    """A config checker (promtool, amtool); its output is the assertion message on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"


# -- alertbridge -----------------------------------------------------------------------------


@dataclass
class Service:
    process: Process
    url: str

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=HTTP_TIMEOUT_SECONDS)

    def status(self) -> dict[str, Any]:
        response = self.get("/status")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def start_alertbridge(processes: Processes, config: Path, data_dir: Path) -> Service:
    """The real `python -m app serve`, from the repository root, on a free loopback port."""

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--config",
            str(config),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process, url = processes.start_listening("alertbridge", argv, "/status", env=env)
    return Service(process, url)


# -- fake bots -------------------------------------------------------------------------------


@dataclass
class Bots:
    """The fake bot server on a loopback port, and the webhook URLs of its bots."""

    fake: FakeBots
    url: str

    def feishu_url(self, token: str) -> str:
        return f"{self.url}/open-apis/bot/v2/hook/{token}"

    def dingtalk_url(self, token: str) -> str:
        return f"{self.url}/robot/send?access_token={token}"

    def wecom_url(self, key: str) -> str:
        return f"{self.url}/cgi-bin/webhook/send?key={key}"

    def texts(self, token: str) -> list[str]:
        return [card_text(body) for body in self.fake.messages(token)]

    def summary(self) -> str:
        """Every request the fake saw, without tokens: platform, HTTP status, platform code."""
        lines = [
            f"  {a.platform}: http={a.http_status} code={a.code} {tail(card_text(a.body), 160)!r}"
            for a in list(self.fake.attempts)
        ]
        return "fake bot attempts:\n" + ("\n".join(lines) or "  (none)")


def card_text(body: Any) -> str:
    """Every string inside a message body, one per line: what the group can read (and links)."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        return "\n".join(card_text(v) for v in body.values())
    if isinstance(body, list):
        return "\n".join(card_text(v) for v in body)
    return ""


_MARKDOWN_ESCAPE = re.compile(r"\\(.)", re.S)


def shows(text: str, needle: str) -> bool:
    """`needle` appears in `text`, as is or once the cards' markdown backslash-escapes are
    undone (Feishu turns `_` into `\\_`, every dialect doubles a backslash)."""
    return needle in text or needle in _MARKDOWN_ESCAPE.sub(r"\1", text)


def json_bytes(data: Any) -> bytes:
    return json.dumps(data).encode()


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
