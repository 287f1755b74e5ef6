"""Plumbing for the benchmarks: the real `alertbridge serve` process beside the fake bots on
loopback, an open-loop load generator, and the service's memory. Benchmarks are scripts, not
tests: `python -m tests.bench.<name>`."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.bench.loadgen import Spec, run_in_process
from tests.support.bots import Bots, serving_bots
from tests.support.launcher import Process, Processes, Service, start_alertbridge, write_yaml


@dataclass
class Bench:
    bots: Bots
    service: Service
    data_dir: Path


@contextmanager
def running(config: dict[str, Any], setup_bots: Any) -> Iterator[Bench]:
    """The fake bots (scripted by `setup_bots(bots)`) and `alertbridge serve` with `config`,
    whose receivers' webhook URLs may use "{bots}" for the fake's base URL."""
    with (
        tempfile.TemporaryDirectory(prefix="alertbridge-bench-") as tmp,
        serving_bots() as bots,
        Processes(Path(tmp)) as processes,
    ):
        setup_bots(bots)
        text = json.dumps(config).replace("{bots}", bots.url)
        path = write_yaml(Path(tmp) / "alertbridge.yml", json.loads(text))
        service = start_alertbridge(processes, path, Path(tmp) / "data")
        yield Bench(bots, service, Path(tmp) / "data")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} mean={statistics.fmean(ms):.1f} p50={percentile(ms, 0.5):.1f} "
        f"p90={percentile(ms, 0.9):.1f} p99={percentile(ms, 0.99):.1f} max={max(ms):.1f} ms"
    )


def load(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], int]:
    """POST `bodies` to `url` at `rate` per second, open loop, by tests/bench/loadgen.py: the
    latencies of the answered requests (seconds from when each was due) and how many requests
    got anything but 200."""
    address = urlsplit(url)
    spec = Spec(
        host=address.hostname or "127.0.0.1",
        port=address.port or 80,
        path=address.path,
        templates=[body.decode() for body in bodies],  # no SEQ in them: each is sent as it is
        first_seq=0,
        mode="open",
        seconds=len(bodies) / rate,
        rate=rate,
        max_requests=len(bodies),
    )
    result = run_in_process(spec, slack_seconds=120)
    refused = sum(n for status, n in result["statuses"].items() if status != "200")
    return result["latencies_s"], refused


@dataclass
class MemoryWatch:
    """Samples the resident memory of a process every `every` seconds, on a thread."""

    process: Process
    every: float = 0.5
    samples: list[int] = field(default_factory=list)  # kB
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def watching(self) -> Iterator[MemoryWatch]:
        def sample() -> None:
            while not self._stop.wait(self.every):
                try:
                    self.samples.append(self.process.memory_kb())
                except (OSError, KeyError):  # gone, or a zombie without VmRSS
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        first, peak, last = self.samples[0], max(self.samples), self.samples[-1]
        mib = [f"{kb / 1024:.0f} MiB" for kb in (first, peak, last)]
        return "RSS start {}, peak {}, end {}".format(*mib)
