"""Benchmark: the latency the outbox commit adds to the HTTP answer (issue 3: ack p99 < 50 ms at
100 notifications/s on a 2-core machine).

1. In process, 5 enqueues in flight at a time: "NORMAL" is alertbridge's default (WAL commit,
   synchronous=NORMAL, no wait for the disk), "group" is server.fsync_before_answer: true (then
   one fsync of the WAL per batch, on a thread, awaited; app/wal.py), "FULL" is SQLite's own
   fsync inside every commit, on the event loop.
2. The real `alertbridge serve`, open loop at --rate notifications/s from a separate process,
   client-side latencies and the service's own (its access log):
   a. baseline: Watchdog notifications, parsed and filtered, nothing committed;
   b. the target: notifications of 2 alerts, each routed by its `team` label to one of three
      bots (Feishu, DingTalk, WeCom; fake, with their real rate limits, so storm control
      coalesces the backlog all the while): enqueue + commit (cards render in the
      workers), for --seconds;
   c. stress: every notification to all three bots (three messages per commit).

Run: python -m tests.bench.outbox_ack [--rate 100] [--seconds 60] [--fsync-before-answer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from app.config.model import Receiver
from app.models import Message, Notification
from app.outbox.contract import Entry
from app.outbox.sqlite import SqliteOutbox
from app.rendering.renderer import Renderer
from app.sources.alertmanager import parse_alertmanager
from tests.bench.harness import Bench, MemoryWatch, describe_ms, load, percentile, running
from tests.support.bots import Bots

COMMITS = 2000
CONCURRENT = 5  # requests in flight at once: what 100/s with ~5 ms answers looks like
TEAMS = ("feishu", "dingtalk", "wecom")
TARGET_P99_MS = 50.0
ACCESS_LINE = re.compile(r"POST /alertmanager 200 ([0-9.]+)ms")


def alertmanager_body(index: int, kind: str = "one-bot") -> bytes:
    """`kind`: "watchdog", "one-bot" (2 alerts, team label picks the bot) or "all-bots"."""
    names = ["Watchdog"] if kind == "watchdog" else [f"Bench{index % 37}", "HighLatency"]
    team = TEAMS[index % 3] if kind == "one-bot" else "all"
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "severity": "warning", "team": team, "pod": f"p{index}"},
            "annotations": {"summary": f"{name} on p{index}", "description": "x" * 200},
            "startsAt": "2024-01-01T00:00:00Z",
            "fingerprint": f"{index:08x}{n:08x}",
        }
        for n, name in enumerate(names)
    ]
    body = {"version": "4", "groupKey": f"{{}}:{{n={index}}}", "status": "firing", "alerts": alerts}
    return json.dumps(body).encode()


async def commits(path: Path, mode: str, message: Message, about: Notification) -> list[float]:
    """Latencies of COMMITS enqueues, CONCURRENT at a time (modes: see the module docstring)."""
    outbox = SqliteOutbox(path, max_backlog=COMMITS * 2, fsync_before_answer=mode == "group")
    if mode == "FULL":
        outbox.db.execute("PRAGMA synchronous=FULL")
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        await outbox.enqueue({"r": [Entry(message, about)]})
        latencies.append(time.perf_counter() - started)

    for _ in range(COMMITS // CONCURRENT):
        await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    outbox.close()
    return latencies


def commit_latency(directory: Path) -> None:
    receiver = Receiver(name="r", platform="dingtalk", webhook_url="https://oapi.example/robot")
    notification = parse_alertmanager(alertmanager_body(1))
    message = Renderer(timezone="UTC").render(receiver, notification)[0]
    size = len(json.dumps(message))
    print(f"1. enqueue of one {size}-byte card, {CONCURRENT} at a time, in process:")
    for mode in ("NORMAL", "group", "FULL"):
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            latencies = asyncio.run(commits(Path(tmp) / "outbox.db", mode, message, notification))
        print(f"   {mode:<6} {describe_ms(latencies)}")


def service_config(fsync_before_answer: bool = False) -> dict[str, Any]:
    paths = {
        "feishu": "/open-apis/bot/v2/hook/f",
        "dingtalk": "/robot/send?access_token=d",
        "wecom": "/cgi-bin/webhook/send?key=w",
    }
    receivers = [
        {"name": f"ops-{p}", "platform": p, "webhook_url": "{bots}" + paths[p]} for p in TEAMS
    ]
    routes = [{"matchers": [f"team = {p}"], "receivers": [f"ops-{p}"]} for p in TEAMS]
    routes.append({"matchers": ["team = all"], "receivers": [f"ops-{p}" for p in TEAMS]})
    server = {"timezone": "UTC", "fsync_before_answer": fsync_before_answer}
    return {"server": server, "receivers": receivers, "routes": routes}


def add_bots(bots: Bots) -> None:
    bots.fake.add_feishu("f")
    bots.fake.add_dingtalk("d")
    bots.fake.add_wecom("w")


def run_load(bench: Bench, rate: float, seconds: float, kind: str, offset: int) -> float:
    """Prints the answer latencies of one load; returns their p99 in ms."""
    bodies = [alertmanager_body(offset + i, kind) for i in range(int(rate * seconds))]
    before = [
        bench.service.metric(f"alertbridge_outbox_enqueue_seconds_{s}") for s in ("sum", "count")
    ]
    started_cpu = bench.service.process.cpu_seconds()
    log_start = len(bench.service.process.log())
    latencies, failed = load(bench.service.url + "/alertmanager", bodies, rate)
    cpu = (bench.service.process.cpu_seconds() - started_cpu) / seconds * 100
    print(f"   client: {describe_ms(latencies)}, non-200: {failed}")
    inside = served_seconds(bench.service.process.log()[log_start:])
    print(f"   server: {describe_ms(inside)}, service CPU {cpu:.0f}% of a core")
    after = [
        bench.service.metric(f"alertbridge_outbox_enqueue_seconds_{s}") for s in ("sum", "count")
    ]
    if commits := after[1] - before[1]:
        mean_ms = (after[0] - before[0]) / commits * 1000
        print(f"   server-side enqueue incl. commit: mean {mean_ms:.2f} ms")
    return percentile(latencies, 0.99) * 1000


def served_seconds(log: str) -> list[float]:
    """From the service's access log: how long each POST took inside the service."""
    return [float(ms) / 1000 for ms in ACCESS_LINE.findall(log)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--fsync-before-answer",
        dest="fsync",
        action="store_true",
        help="serve with server.fsync_before_answer: true (answers wait for the fsync)",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start")
    commit_latency(args.dir)
    rate, seconds = args.rate, args.seconds
    print(
        f"2. alertbridge serve (fsync_before_answer: {str(args.fsync).lower()}), "
        f"{rate:.0f} notifications/s, open loop, separate client process"
    )
    with (
        running(service_config(args.fsync), add_bots) as bench,
        MemoryWatch(bench.service.process).watching() as memory,
    ):
        print(f"a. baseline, Watchdog filtered (no commit), {seconds / 3:.0f} s:")
        run_load(bench, rate, seconds / 3, "watchdog", 0)
        print(f"b. 2 alerts to one of three bots (queue 1 message + commit), {seconds:.0f} s:")
        p99 = run_load(bench, rate, seconds, "one-bot", 10**6)
        verdict = "PASS" if p99 < TARGET_P99_MS else "FAIL"
        print(f"   ack p99 {p99:.1f} ms: {verdict} (target < {TARGET_P99_MS:.0f} ms)")
        print(f"c. stress, 2 alerts to all three bots (3 messages + commit), {seconds / 2:.0f} s:")
        run_load(bench, rate, seconds / 2, "all-bots", 2 * 10**6)
        sent = bench.service.metric("alertbridge_messages_sent_total")
        digests = bench.service.metric("alertbridge_digests_sent_total")
        limited = [a for a in list(bench.bots.fake.attempts) if a.code in (11232, 130101, 45009)]
        print(f"   meanwhile {sent:.0f} messages sent ({digests:.0f} digests)")
        print(f"   rate-limit answers from the fake bots: {len(limited)}")
    print(f"   service memory: {memory.summary()}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
