"""Ingest: one payload against one running target (alertbridge or the floor), closed loop at
several concurrency levels then open loop at fixed rates, each run by tests/bench/loadgen.py in a
process of its own. Levels and rates that could only queue up work beyond every bound are
skipped and say why; after each run the target is left to go idle (bounded) before the next.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from tests.bench.loadgen import Spec, run_in_process
from tests.bench.payloads import Payload
from tests.bench.services import quiesce
from tests.bench.stats import latency_ms
from tests.support.launcher import Service

# A closed-loop level is skipped when, at the best throughput seen so far, each request would
# wait longer than this behind the others.
MAX_QUEUE_SECONDS = 5.0
# An open-loop run is saturated when it answered less than this share of the offered rate (or
# abandoned any request); higher rates are then skipped.
SATURATED_FRACTION = 0.9
LOADGEN_SLACK_SECONDS = 60.0
SEQ_BLOCK = 10**8  # sequence numbers per run: bodies never repeat within one target


@dataclass(frozen=True)
class Plan:
    concurrency: tuple[int, ...]
    rates: tuple[float, ...]
    closed_seconds: float
    open_seconds: float
    warmup_seconds: float = 0.5
    drain_seconds: float = 5.0


class Sequence:
    """Hands out disjoint blocks of body sequence numbers."""

    def __init__(self) -> None:
        self.next = 1

    def block(self) -> int:
        first = self.next
        self.next += SEQ_BLOCK
        return first


def drive(service: Service, spec: Spec) -> dict[str, Any]:
    """One loadgen run against `service`; the summary with the service's CPU share."""
    cpu, wall = service.process.cpu_seconds(), time.monotonic()
    result = run_in_process(spec, LOADGEN_SLACK_SECONDS)
    cpu, wall = service.process.cpu_seconds() - cpu, time.monotonic() - wall
    latencies = result.pop("latencies_s")
    result["latency_ms"] = latency_ms(latencies)
    result["server_cpu_share"] = cpu / wall if wall else None
    result["load_average"] = os.getloadavg()[0]
    return result


def spec_for(service: Service, payload: Payload, seq: int, **kwargs: Any) -> Spec:
    host, port = service.url.removeprefix("http://").split(":")
    return Spec(
        host=host,
        port=int(port),
        path=payload.path,
        templates=[payload.template.decode()],
        first_seq=seq,
        **kwargs,
    )


def closed_runs(
    service: Service, payload: Payload, plan: Plan, seqs: Sequence
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    best = 0.0
    for concurrency in plan.concurrency:
        if best and concurrency / best > MAX_QUEUE_SECONDS:
            reason = f"each request would queue ~{concurrency / best:.0f} s at {best:.1f}/s"
            runs.append({"mode": "closed", "concurrency": concurrency, "skipped": reason})
            continue
        spec = spec_for(
            service,
            payload,
            seqs.block(),
            mode="closed",
            seconds=plan.closed_seconds,
            concurrency=concurrency,
            warmup_seconds=plan.warmup_seconds,
        )
        run = drive(service, spec)
        run["quiesce_s"] = quiesce(service)
        best = max(best, run["throughput_rps"])
        runs.append(run)
    return runs


def open_runs(
    service: Service, payload: Payload, plan: Plan, seqs: Sequence
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    saturated_at: float | None = None
    for rate in plan.rates:
        if saturated_at is not None:
            reason = f"saturated already at {saturated_at:.0f}/s"
            runs.append({"mode": "open", "rate": rate, "skipped": reason})
            continue
        spec = spec_for(
            service,
            payload,
            seqs.block(),
            mode="open",
            seconds=plan.open_seconds,
            rate=rate,
            drain_seconds=plan.drain_seconds,
        )
        run = drive(service, spec)
        run["quiesce_s"] = quiesce(service)
        abandoned = sum(v for k, v in run["statuses"].items() if int(k) < 0)
        answered = run["ok"] >= SATURATED_FRACTION * run["sent"]
        kept_up = run["throughput_rps"] >= SATURATED_FRACTION * rate
        run["saturated"] = abandoned > 0 or not (answered and kept_up)
        if run["saturated"]:
            saturated_at = rate
        runs.append(run)
    return runs


def sweep(service: Service, payload: Payload, plan: Plan, seqs: Sequence) -> dict[str, Any]:
    closed = closed_runs(service, payload, plan, seqs)
    measured = [r["throughput_rps"] for r in closed if "skipped" not in r]
    return {
        "payload": payload.name,
        "alerts": payload.alerts,
        "body_bytes": len(payload.body(0)),
        "closed": closed,
        "open": open_runs(service, payload, plan, seqs),
        "peak_rps": max(measured, default=0.0),
    }
