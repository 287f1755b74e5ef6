"""CPU per notification: steadier than throughput on a shared machine, whose other jobs take
cores away from both the service and the floor at different moments of a run.

`N` 20-alert notifications are posted closed loop (concurrency 4) to the floor and to
`alertbridge serve` (three receivers, fake bots without rate limits, alertbridge's own limiter on,
so storm digests run as in run.py's ingest phase); the server's CPU seconds (all threads, from
/proc) are divided by the notifications answered, during the load alone and including the work
left once the answers are out (the workers' delivery and digests), until the process is idle.

    python tests/bench/ingest_cpu.py [--notifications 600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` and `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.ingest import Sequence, drive, spec_for
from tests.bench.payloads import Payload, alertmanager_payload
from tests.bench.services import (
    fake_bots,
    quiesce,
    serving_alertbridge,
    serving_floor,
    three_receivers_config,
)
from tests.support.launcher import Service

CONCURRENCY = 4
WARMUP_REQUESTS = 50


def cpu_per_request(service: Service, payload: Payload, seqs: Sequence, n: int) -> dict[str, Any]:
    """Milliseconds of server CPU per answered notification, under load and with the drain."""
    warm = spec_for(
        service, payload, seqs.block(), mode="closed", seconds=60.0, max_requests=WARMUP_REQUESTS
    )
    drive(service, warm)
    quiesce(service)
    spec = spec_for(
        service,
        payload,
        seqs.block(),
        mode="closed",
        seconds=120.0,
        concurrency=CONCURRENCY,
        max_requests=n,
    )
    before = service.process.cpu_seconds()
    run = drive(service, spec)
    loaded = service.process.cpu_seconds()
    quiesce(service)
    drained = service.process.cpu_seconds()
    ok = max(run["ok"], 1)
    return {
        "ok": run["ok"],
        "rps": run["throughput_rps"],
        "cpu_ms_per_request": (loaded - before) * 1000 / ok,
        "cpu_ms_per_request_with_drain": (drained - before) * 1000 / ok,
    }


def measure(notifications: int, repeat: int) -> dict[str, Any]:
    payload = alertmanager_payload(20)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "alertbridge": []}
    with tempfile.TemporaryDirectory(prefix="ab-cpu-") as name, fake_bots() as (_, url):
        tmp = Path(name)
        config = three_receivers_config(tmp / "alertbridge.yml", url)
        for index in range(repeat):
            with serving_floor(tmp) as floor:
                runs["floor"].append(cpu_per_request(floor, payload, Sequence(), notifications))
            data = tmp / f"data-{index}"
            with serving_alertbridge(tmp, config, data) as service:
                ours = cpu_per_request(service, payload, Sequence(), notifications)
                runs["alertbridge"].append(ours)
    summary: dict[str, Any] = {"notifications": notifications, "runs": runs}
    for target, results in runs.items():
        for key in ("cpu_ms_per_request", "cpu_ms_per_request_with_drain", "rps"):
            summary[f"{target}_{key}"] = statistics.median(r[key] for r in results)
    floor_ms = summary["floor_cpu_ms_per_request"]
    summary["cpu_ratio_vs_floor"] = floor_ms / summary["alertbridge_cpu_ms_per_request_with_drain"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="server CPU per 20-alert notification")
    parser.add_argument("--notifications", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.monotonic()
    summary = measure(args.notifications, args.repeat)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
