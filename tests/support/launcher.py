"""Real processes on 127.0.0.1, for the end-to-end tests and the benchmark: free ports, bounded
waits, stops (SIGTERM, then SIGKILL) of exactly the processes started here, and `alertbridge
serve` itself. No pytest here: tests/bench runs where only the `bench` extra is installed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import yaml

from tests.support.paths import ROOT

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_SECONDS = 30.0
# Readiness is polled finely: the benchmark reports start-up time from spawn to the first 200.
READY_POLL_SECONDS = 0.005
READY_REQUEST_TIMEOUT_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1
HTTP_TIMEOUT_SECONDS = 5.0
LOG_TAIL_CHARS = 6000
# A port picked by free_port() can be taken before the process binds it; start again this often.
BIND_ATTEMPTS = 3
BIND_FAILURE = re.compile(r"address already in use|bind: |error while attempting to bind", re.I)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")
ArgvFor = Callable[[int], list[str]]  # the command line, given the port to listen on


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port_url() -> str:
    """The base URL of a loopback port nobody listens on: a connection to it is refused."""
    return f"http://{LOOPBACK}:{free_port()}"


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- one process -----------------------------------------------------------------------------


@dataclass
class Process:
    """One child process; stdout and stderr both go to `log_path` (a file never fills up)."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    spawned: float  # time.monotonic() just before the spawn

    @property
    def pid(self) -> int:
        return self.popen.pid

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

    def memory_kb(self, key: str = "VmRSS") -> int:
        """VmRSS (resident now) or VmHWM (peak resident) from /proc, in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_seconds(self) -> float:
        """User and system CPU time so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ProcessDied(AssertionError):
    pass


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
    poll: float = POLL_SECONDS,
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
        time.sleep(poll)


def wait_http_ok(url: str, process: Process, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    with httpx.Client(timeout=READY_REQUEST_TIMEOUT_SECONDS) as client:

        def answers() -> bool:
            try:
                return client.get(url).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(
            answers,
            timeout=timeout,
            what=f"{process.name} to answer 200 at {url}",
            watch=[process],
            details=lambda: f"{process.name} log:\n{tail(process.log())}",
            poll=READY_POLL_SECONDS,
        )


# -- a server on a loopback port ---------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """How a server was started: enough to start it again."""

    name: str
    argv_for: ArgvFor
    ready_path: str
    env: dict[str, str] | None = None


@dataclass
class Service:
    """A process serving HTTP on a loopback port."""

    process: Process
    url: str
    launch: Launch
    ready_seconds: float  # from the spawn to the first 200 at launch.ready_path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=HTTP_TIMEOUT_SECONDS)

    def status(self) -> dict[str, Any]:
        response = self.get("/status")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def metric(self, name: str) -> float:
        """The sum of every sample of `name` in /metrics (0 when absent)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            head = line.split(" ", 1)[0]
            if head == name or head.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


@dataclass
class Processes:
    """Starts processes and stops every one of them when the block ends, whatever happened."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> Process:
        log_path = self._new_log_path(name)
        with log_path.open("wb") as log_file:
            spawned = time.monotonic()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        process = Process(name, argv, log_path, popen, spawned)
        self.started.append(process)
        return process

    def _new_log_path(self, name: str) -> Path:
        """name.log, or name-1.log, name-2.log… where another start wrote one already."""
        index = 0
        while (path := self.log_dir / (f"{name}-{index}.log" if index else f"{name}.log")).exists():
            index += 1
        return path

    def start_listening(
        self,
        name: str,
        argv_for: ArgvFor,
        ready_path: str,
        *,
        env: dict[str, str] | None = None,
    ) -> Service:
        """Start a server on a free port and wait until `ready_path` answers 200; a lost race
        for the port is retried on a new one."""
        launch = Launch(name, argv_for, ready_path, env)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            port = free_port()
            process = self.start(name, argv_for(port), env=env)
            url = f"http://{LOOPBACK}:{port}"
            try:
                wait_http_ok(url + ready_path, process)
            except ProcessDied:
                if attempt == BIND_ATTEMPTS or not BIND_FAILURE.search(process.log()):
                    raise
                continue
            return Service(process, url, launch, time.monotonic() - process.spawned)
        raise AssertionError("unreachable")

    def restart(self, service: Service) -> Service:
        """Stop `service` (if it still runs) and start it again as it was started, on a new
        free port; its data stays where its command line put it."""
        service.process.stop()
        launch = service.launch
        return self.start_listening(launch.name, launch.argv_for, launch.ready_path, env=launch.env)

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


# -- alertbridge -----------------------------------------------------------------------------


def alertbridge_argv(
    config: Path | None,
    data_dir: Path,
    *,
    module: str = "app",
    log_level: str | None = None,
) -> ArgvFor:
    """`python -m app serve ...` (no --config: the embedded default config); `module` may name
    a wrapper that takes the same arguments (tests/bench/unthrottled.py)."""

    def argv(port: int) -> list[str]:
        line = [sys.executable, "-m", module, "serve"]
        if config is not None:
            line += ["--config", str(config)]
        line += ["--host", LOOPBACK, "--port", str(port), "--data-dir", str(data_dir)]
        if log_level is not None:
            line += ["--log-level", log_level]
        return line

    return argv


def start_alertbridge(
    processes: Processes,
    config: Path | None,
    data_dir: Path,
    *,
    name: str = "alertbridge",
    module: str = "app",
    log_level: str | None = None,
    env: dict[str, str] | None = None,
) -> Service:
    """The real `python -m app serve`, from the repository root, on a free loopback port, ready
    once /status answers 200. `env` replaces the environment (default: this one's)."""
    argv = alertbridge_argv(config, data_dir, module=module, log_level=log_level)
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    return processes.start_listening(name, argv, "/status", env=env)
