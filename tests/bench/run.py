"""Issue 17's benchmark: alertbridge against the floor this machine allows.

    python tests/bench/run.py [--quick] [--out FILE] [--no-storm]

Phases (every process on 127.0.0.1; every loop bounded in count and time):
- render: messages per second per platform and payload size, in process (tests/bench/rendering.py);
- ready: seconds from spawning `python -m app serve` (and the floor) to the first 200 from /status;
- ingest: Alertmanager notifications of 1, 20 and 200 alerts and kube-eventer bodies POSTed to
  `alertmanager serve` (three receivers, one per platform, fake bots with their limits lifted)
  and to the floor (tests/bench/floor.py), closed loop at several concurrency levels and open loop
  at fixed rates, from a load generator process of its own (tests/bench/loadgen.py);
- latency: seconds from the POST of a 20-alert notification to each fake bot receiving its card,
  rate limits lifted on both sides (tests/bench/latency.py);
- postgres: the 20-alert sweep on a PostgreSQL outbox, the same end-to-end latency, and a lease
  takeover (tests/bench/postgres.py);
- resources: RSS at idle and after 10,000 notifications;
- delivery: messages per second delivered with alertbridge's own rate limiter lifted
  (tests/bench/delivery.py), and issue 3's storm, by tests/bench/storm.py.

Prints a table at the end; writes the results as JSON (--out, default bench-results.json; the
headline is `ingest_ratio_vs_floor`), the table beside it (.txt) and a chart of ack latency
against offered rate (.png). `--quick` is a reduced run of under a minute (20-alert payloads only,
no storm). Needs matplotlib (the `bench` extra) for the chart.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` and `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import delivery, postgres, report
from tests.bench.ingest import Plan, Sequence, drive, spec_for, sweep
from tests.bench.latency import end_to_end
from tests.bench.payloads import (
    Payload,
    alertmanager_payload,
    all_payloads,
)
from tests.bench.rendering import render_bench
from tests.bench.services import (
    fake_bots,
    quiesce,
    serving_alertbridge,
    serving_floor,
    three_receivers_config,
)
from tests.bench.stats import ratio, rounded
from tests.support.paths import ROOT as REPO_ROOT

STORM_SCRIPT = Path(__file__).with_name("storm.py")
STORM_SCRIPT_TIMEOUT_SECONDS = 900.0
OUTPUT_TAIL_CHARS = 4000
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Mode:
    name: str
    plan: Plan
    payloads: tuple[str, ...]  # names from payloads.all_payloads()
    render_seconds: float
    starts: int  # start-up timings per target
    resource_notifications: int
    capacity_notifications: int
    storm: bool
    latency: tuple[float, int]  # end-to-end: notifications per second, how many


MODES = {
    "normal": Mode(
        "normal",
        Plan(
            concurrency=(1, 4, 16, 64),
            rates=(50.0, 100.0, 200.0, 400.0),
            closed_seconds=5.0,
            open_seconds=8.0,
        ),
        ("am-1", "am-20", "am-200", "ke-custom"),
        render_seconds=1.5,
        starts=3,
        resource_notifications=10_000,
        capacity_notifications=2_000,
        storm=True,
        latency=(5.0, 200),
    ),
    "quick": Mode(
        "quick",
        Plan(
            concurrency=(1, 8),
            rates=(50.0, 200.0),
            closed_seconds=1.5,
            open_seconds=2.5,
            warmup_seconds=0.3,
            drain_seconds=1.5,
        ),
        ("am-20",),
        render_seconds=0.3,
        starts=1,
        resource_notifications=300,
        capacity_notifications=150,
        storm=False,
        latency=(5.0, 30),
    ),
}


def environment() -> dict[str, Any]:
    import uvicorn

    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    found = importlib.util.find_spec
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        # What uvicorn's "auto" picks for alertbridge and the floor alike.
        "loop": "uvloop" if found("uvloop") else "asyncio",
        "http": "httptools" if found("httptools") else "h11",
        "load_average_start": os.getloadavg()[0],
    }


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def ready_times(tmp: Path, config: Path, starts: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"alertbridge": [], "floor": []}
    for index in range(starts):
        with serving_alertbridge(tmp, config, tmp / f"ready-data-{index}") as service:
            times["alertbridge"].append(service.ready_seconds)
        with serving_floor(tmp) as service:
            times["floor"].append(service.ready_seconds)
    return {
        name: {"median_s": statistics.median(t), "max_s": max(t), "runs_s": t}
        for name, t in times.items()
    }


def ingest(tmp: Path, config: Path, payloads: list[Payload], plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with serving_floor(tmp) as floor:
        for payload in payloads:
            log(f"ingest {payload.name}: floor")
            floor_sweep = sweep(floor, payload, plan, Sequence())
            log(f"ingest {payload.name}: alertbridge")
            with serving_alertbridge(tmp, config, tmp / f"ingest-data-{payload.name}") as service:
                ours = sweep(service, payload, plan, Sequence())
                ours["rss_mb_end"] = service.process.memory_kb() / 1024
                ours["rss_mb_peak"] = service.process.memory_kb("VmHWM") / 1024
            results[payload.name] = {"alertbridge": ours, "floor": floor_sweep}
            log(
                f"  peak {ours['peak_rps']:.1f}/s vs floor {floor_sweep['peak_rps']:.1f}/s"
                f" ({ratio(ours['peak_rps'], floor_sweep['peak_rps']) or 0:.4f})"
            )
    return results


def resources(tmp: Path, config: Path, notifications: int) -> dict[str, Any]:
    """RSS of a fresh alertbridge at idle and after `notifications` single-alert notifications
    (three cards each), posted closed loop at concurrency 4."""
    payload = alertmanager_payload(1)
    with serving_floor(tmp) as floor:
        time.sleep(SETTLE_SECONDS)
        floor_idle = floor.process.memory_kb() / 1024
    with serving_alertbridge(tmp, config, tmp / "resources-data") as service:
        time.sleep(SETTLE_SECONDS)
        idle = service.process.memory_kb() / 1024
        spec = spec_for(
            service,
            payload,
            Sequence().block(),
            mode="closed",
            seconds=600.0,
            concurrency=4,
            max_requests=notifications,
        )
        run = drive(service, spec)
        after = service.process.memory_kb() / 1024
        peak = service.process.memory_kb("VmHWM") / 1024
        quiesce(service)
        quiet = service.process.memory_kb() / 1024
        sent = service.metric("alertbridge_messages_sent_total")
        digests = service.metric("alertbridge_digests_sent_total")
    run.pop("statuses", None)
    return {
        "payload": payload.name,
        "notifications": run["ok"],
        "non_200": run["sent"] - run["ok"],
        "rss_mb_idle": idle,
        "rss_mb_after": after,
        "rss_mb_peak": peak,
        "rss_mb_after_quiet": quiet,
        "floor_rss_mb_idle": floor_idle,
        "messages_sent": sent,
        "digests_sent": digests,
        "ingest": run,
    }


def storm() -> dict[str, Any]:
    """Issue 3's storm, by the durable-outbox work's own benchmark (tests/bench/storm.py):
    its report is kept as it printed it, with its verdict line PASS or FAIL."""
    if not STORM_SCRIPT.exists():
        return {"source": "tests/bench/storm.py", "skipped": "tests/bench/storm.py is missing"}
    argv = [sys.executable, "-m", "tests.bench.storm"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=STORM_SCRIPT_TIMEOUT_SECONDS,
            check=False,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = None, f"timed out after {exc.timeout:.0f} s"
    lines = [line.strip() for line in output.splitlines()]
    return {
        "source": "tests/bench/storm.py",
        "exit_code": code,
        "passed": code == 0 and "PASS" in lines and "FAIL" not in lines,
        "seconds": time.monotonic() - started,
        "output_tail": output[-OUTPUT_TAIL_CHARS:],
    }


def run(mode: Mode, with_storm: bool) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode.name,
        "environment": environment(),
        "plan": asdict(mode.plan),
    }
    payloads = [p for p in all_payloads() if p.name in mode.payloads]
    log("render")
    results["render"] = render_bench(payloads, mode.render_seconds)
    with tempfile.TemporaryDirectory(prefix="alertbridge-bench-") as name:
        tmp = Path(name)
        with fake_bots() as (_, bots_url):
            config = three_receivers_config(tmp / "alertbridge.yml", bots_url)
            log("ready")
            results["ready"] = ready_times(tmp, config, mode.starts)
            results["ingest"] = ingest(tmp, config, payloads, mode.plan)
            headline_payloads = [p for p in payloads if p.name == report.HEADLINE_PAYLOAD]
            if headline_payloads:
                log("latency: POST to fake bot, rate limits lifted")
                rate, count = mode.latency
                results["latency"] = end_to_end(tmp, headline_payloads[0], rate, count)
                log("postgres: the same ingest, the same latency, and a takeover")
                results["postgres"] = postgres.postgres_figures(
                    tmp, config, headline_payloads[0], mode.plan, mode.latency
                )
            log(f"resources: {mode.resource_notifications} notifications")
            results["resources"] = resources(tmp, config, mode.resource_notifications)
        log("delivery capacity")
        results["delivery"] = {"capacity": delivery.capacity(tmp, mode.capacity_notifications)}
        if mode.storm and with_storm:
            log("storm (about 3 minutes)")
            results["delivery"]["storm"] = storm()
        else:
            reason = "--quick" if not mode.storm else "--no-storm"
            results["delivery"]["storm_skipped"] = reason
    headline = results["ingest"].get(report.HEADLINE_PAYLOAD)
    if headline:
        results["ingest_ratio_vs_floor"] = ratio(
            headline["alertbridge"]["peak_rps"], headline["floor"]["peak_rps"]
        )
        pg_ingest = results.get("postgres", {}).get("ingest", {}).get(report.HEADLINE_PAYLOAD)
        if pg_ingest:
            results["postgres"]["ingest_ratio_vs_floor"] = ratio(
                pg_ingest["peak_rps"], headline["floor"]["peak_rps"]
            )
    results["targets"] = report.targets(results)
    results["environment"]["load_average_end"] = os.getloadavg()[0]
    results["duration_s"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="alertbridge benchmark (issue 17)")
    parser.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--no-storm", action="store_true", help="skip the 3-minute storm")
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "normal"]
    results = rounded(run(mode, with_storm=not args.no_storm), 3)
    text = report.render_report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".txt").write_text(text + "\n")
    report.chart(results, args.out.with_suffix(".png"))
    print()
    print(text)
    print(f"written: {args.out}, {args.out.with_suffix('.txt')}, {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
