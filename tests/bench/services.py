"""The processes the benchmark measures, each a real child process on 127.0.0.1: `alertbridge
serve` (or the floor, tests/bench/floor.py) with --log-level warning, and the fake bots they
deliver to (in this process, on a thread: the load generator has a process of its own).
Start-up is timed from spawning the process to the first 200 from /status; /proc gives memory
and CPU time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import LOOPBACK, REPO_ROOT, free_port, write_yaml
from tests.fakes.chatbots import FakeBots
from tests.fakes.server import serve_in_thread

READY_TIMEOUT_SECONDS = 30.0
READY_POLL_SECONDS = 0.005
STOP_TIMEOUT_SECONDS = 10.0
LOG_LEVEL = "warning"
TOKENS = {"feishu": "bench-feishu", "dingtalk": "bench-dingtalk", "wecom": "bench-wecom"}
# Idle: the process used less than this share of a core over IDLE_WINDOW_SECONDS.
IDLE_CPU_FRACTION = 0.15
IDLE_WINDOW_SECONDS = 0.5
QUIESCE_TIMEOUT_SECONDS = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path
    ready_seconds: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def memory_kb(self, key: str = "VmRSS") -> int:
        """VmRSS (resident now) or VmHWM (peak resident) from /proc, in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10.0)

    def metric(self, name: str) -> float:
        """The sum of every sample of `name` in /metrics (0 when absent)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            head = line.split(" ", 1)[0]
            if head == name or head.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def quiesce(self, timeout: float = QUIESCE_TIMEOUT_SECONDS) -> float:
        """Wait (bounded) until the process is nearly idle: requests of an overloaded phase,
        or a storm digest, are not left to run into the next phase. Seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(IDLE_WINDOW_SECONDS)
            if (self.cpu_seconds() - before) / IDLE_WINDOW_SECONDS < IDLE_CPU_FRACTION:
                break
        return time.monotonic() - started

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_SECONDS)


def spawn(name: str, argv_for: Any, log_dir: Path) -> Service:
    """Start `argv_for(port)` and wait for /status; ready_seconds counts from the spawn."""
    port = free_port()
    log_path = log_dir / f"{name}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log_file:
        started = time.monotonic()
        popen = subprocess.Popen(
            argv_for(port),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{LOOPBACK}:{port}"
    service = Service(name, popen, url, log_path, 0.0)
    with httpx.Client(timeout=1.0) as client:
        while True:
            try:
                if client.get(url + "/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if popen.poll() is not None or time.monotonic() - started > READY_TIMEOUT_SECONDS:
                service.stop()
                raise RuntimeError(f"{name} did not start:\n{service.log_tail()}")
            time.sleep(READY_POLL_SECONDS)
    service.ready_seconds = time.monotonic() - started
    return service


def alertbridge_argv(config: Path, data_dir: Path, module: str = "app") -> Any:
    """`python -m app serve ...`; `module` may name a wrapper that takes the same arguments."""

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            module,
            "serve",
            "--config",
            str(config),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            LOG_LEVEL,
        ]

    return argv


def floor_argv(port: int) -> list[str]:
    argv = [sys.executable, "-m", "tests.bench.floor", "--host", LOOPBACK, "--port", str(port)]
    return [*argv, "--log-level", LOG_LEVEL]


@contextmanager
def running(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def fake_bots(*, rate_limits: bool = False) -> Iterator[tuple[FakeBots, str]]:
    """The fake Feishu, DingTalk and WeCom bots (one of each) on a loopback port."""
    fake = FakeBots()
    fake.add_feishu(TOKENS["feishu"])
    fake.add_dingtalk(TOKENS["dingtalk"])
    fake.add_wecom(TOKENS["wecom"])
    fake.set_rate_limits(rate_limits)
    with serve_in_thread(fake.app) as url:
        yield fake, url


def webhook_urls(bots_url: str) -> dict[str, str]:
    return {
        "feishu": f"{bots_url}/open-apis/bot/v2/hook/{TOKENS['feishu']}",
        "dingtalk": f"{bots_url}/robot/send?access_token={TOKENS['dingtalk']}",
        "wecom": f"{bots_url}/cgi-bin/webhook/send?key={TOKENS['wecom']}",
    }


def three_receivers_config(path: Path, bots_url: str) -> Path:
    """Everything routed to three receivers, one per platform: each notification renders and
    commits three cards (more when a 200-alert notification is split into parts)."""
    urls = webhook_urls(bots_url)
    receivers = [
        {"name": f"bench-{platform}", "platform": platform, "webhook_url": url}
        for platform, url in urls.items()
    ]
    config = {
        "server": {"timezone": "UTC"},
        "receivers": receivers,
        "routes": [{"receivers": [r["name"] for r in receivers]}],
    }
    return write_yaml(path, config)
