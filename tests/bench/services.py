"""The processes the benchmark measures, each a real child process on 127.0.0.1 started by
tests/support/launcher.py: `alertbridge serve` (or the floor, tests/bench/floor.py) with
--log-level warning, and the fake bots they deliver to (in this process, on a thread: the load
generator has a process of its own). Start-up is timed from spawning the process to the first
200 from /status; /proc gives memory and CPU time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.chatbots import FakeBots
from tests.support.bots import serving_bots, webhook_url
from tests.support.launcher import LOOPBACK, Processes, Service, start_alertbridge, write_yaml

LOG_LEVEL = "warning"
TOKENS = {"feishu": "bench-feishu", "dingtalk": "bench-dingtalk", "wecom": "bench-wecom"}
# Idle: the process used less than this share of a core over IDLE_WINDOW_SECONDS.
IDLE_CPU_FRACTION = 0.15
IDLE_WINDOW_SECONDS = 0.5
QUIESCE_TIMEOUT_SECONDS = 60.0


@contextmanager
def serving_alertbridge(
    log_dir: Path, config: Path, data_dir: Path, *, name: str = "alertbridge", module: str = "app"
) -> Iterator[Service]:
    """`python -m <module> serve` with `config`, stopped when the block ends."""
    with Processes(log_dir) as processes:
        yield start_alertbridge(
            processes, config, data_dir, name=name, module=module, log_level=LOG_LEVEL
        )


@contextmanager
def serving_floor(log_dir: Path) -> Iterator[Service]:
    """The floor (tests/bench/floor.py), stopped when the block ends."""
    with Processes(log_dir) as processes:
        yield processes.start_listening("floor", floor_argv, "/status")


def floor_argv(port: int) -> list[str]:
    argv = [sys.executable, "-m", "tests.bench.floor", "--host", LOOPBACK, "--port", str(port)]
    return [*argv, "--log-level", LOG_LEVEL]


def quiesce(service: Service, timeout: float = QUIESCE_TIMEOUT_SECONDS) -> float:
    """Wait (bounded) until the process is nearly idle: requests of an overloaded phase, or a
    storm digest, are not left to run into the next phase. Seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = service.process.cpu_seconds()
        time.sleep(IDLE_WINDOW_SECONDS)
        if (service.process.cpu_seconds() - before) / IDLE_WINDOW_SECONDS < IDLE_CPU_FRACTION:
            break
    return time.monotonic() - started


@contextmanager
def fake_bots(*, rate_limits: bool = False) -> Iterator[tuple[FakeBots, str]]:
    """The fake Feishu, DingTalk and WeCom bots (one of each) on a loopback port."""
    fake = FakeBots()
    fake.add_feishu(TOKENS["feishu"])
    fake.add_dingtalk(TOKENS["dingtalk"])
    fake.add_wecom(TOKENS["wecom"])
    fake.set_rate_limits(rate_limits)
    with serving_bots(fake) as bots:
        yield fake, bots.url


def three_receivers_config(path: Path, bots_url: str) -> Path:
    """Everything routed to three receivers, one per platform: each notification renders and
    commits three cards (more when a 200-alert notification is split into parts)."""
    receivers = [
        {
            "name": f"bench-{platform}",
            "platform": platform,
            "webhook_url": webhook_url(platform, token, bots_url),
        }
        for platform, token in TOKENS.items()
    ]
    config = {
        "server": {"timezone": "UTC"},
        "receivers": receivers,
        "routes": [{"receivers": [r["name"] for r in receivers]}],
    }
    return write_yaml(path, config)
