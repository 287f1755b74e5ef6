"""The PostgreSQL backend's figures, beside SQLite's in the same run: the same ingest sweep on one
replica whose outbox is a throwaway PostgreSQL on loopback (fsync on, as in production), the
end-to-end latency from POST to fake bot (tests/bench/latency.py), and the time a second
replica takes to take a receiver's lease over after the holder's SIGKILL.

    python -m tests.bench.postgres [--quick]     (run.py calls it too)

Skipped, with the reason in the results, when PostgreSQL's server programs or psycopg are missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

if __package__ in (None, ""):  # run as a script: make `tests` and `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.ingest import Plan, Sequence, sweep
from tests.bench.latency import end_to_end
from tests.bench.payloads import Payload
from tests.bench.services import LOG_LEVEL, fake_bots, three_receivers_config
from tests.support.launcher import Processes, Service, start_alertbridge, wait_until
from tests.support.postgres import PostgresError, find_bindir, running_postgres

TAKEOVER_TIMEOUT_SECONDS = 90.0
RECEIVER = "bench-dingtalk"
LATENCY = (5.0, 100)  # notifications per second, how many (tests/bench/latency.py)
# Between phases: nothing queued, remembered or leased from the one before.
AFRESH = "TRUNCATE ab_messages, ab_seen, ab_folds, ab_leases, ab_sends"


def unavailable() -> str | None:
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if find_bindir() is None:
        return "PostgreSQL's server programs are not installed (Debian: apt-get install postgresql)"
    return None


def with_outbox_url(config: Path, url: str, target: Path) -> Path:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["outbox"] = {"url": url}
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def holder_of(service: Service) -> str | None:
    holder: str | None = service.status()["receivers"][RECEIVER].get("lease_holder")
    return holder


def takeover_seconds(tmp: Path, config: Path, payload: Payload) -> dict[str, Any]:
    """Two replicas; the one holding RECEIVER's lease is SIGKILLed while notifications keep
    arriving at the other: seconds until the survivor holds the lease (the lease's TTL bounds
    it), and whether the survivor then delivers."""
    with Processes(tmp) as processes:
        replicas = [
            start_alertbridge(
                processes, config, tmp / f"replica-{i}", name=f"replica-{i}", log_level=LOG_LEVEL
            )
            for i in range(2)
        ]
        body = payload.body(0)
        with httpx.Client(timeout=10.0) as client:
            client.post(replicas[0].url + payload.path, content=body)
            holder = wait_until(
                lambda: holder_of(replicas[0]), timeout=TAKEOVER_TIMEOUT_SECONDS, what="a holder"
            )
            pid = int(holder.split("/")[1])
            victim = next(r for r in replicas if r.process.pid == pid)
            survivor = next(r for r in replicas if r is not victim)
            sent_before = survivor.metric("alertbridge_messages_sent_total")
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            seq = 1

            def taken_over() -> bool:
                nonlocal seq
                client.post(survivor.url + payload.path, content=payload.body(seq))
                seq += 1
                held: bool = survivor.status()["receivers"][RECEIVER].get("lease_held_here", False)
                return held

            wait_until(taken_over, timeout=TAKEOVER_TIMEOUT_SECONDS, what="the takeover", poll=0.2)
            takeover = time.monotonic() - killed_at
            wait_until(
                lambda: survivor.metric("alertbridge_messages_sent_total") > sent_before,
                timeout=TAKEOVER_TIMEOUT_SECONDS,
                what="a send by the new holder",
            )
    return {"takeover_s": takeover, "holder_killed": "SIGKILL", "notifications_meanwhile": seq}


def postgres_figures(
    tmp: Path,
    config: Path,
    payload: Payload,
    plan: Plan,
    latency: tuple[float, int] = LATENCY,
) -> dict[str, Any]:
    """The PostgreSQL backend's ingest sweep, end-to-end latency (`latency`: notifications per
    second and how many) and takeover, or why they were skipped."""
    reason = unavailable()
    if reason:
        return {"skipped": reason}
    try:
        with running_postgres(fsync=True) as server:
            pg_config = with_outbox_url(config, server.dsn, tmp / "alertbridge-pg.yml")
            with Processes(tmp) as processes:
                service = start_alertbridge(
                    processes,
                    pg_config,
                    tmp / "pg-data",
                    name="alertbridge-pg",
                    log_level=LOG_LEVEL,
                )
                ours = sweep(service, payload, plan, Sequence())
            server.psql(AFRESH)
            rate, count = latency
            end_to_end_ms = end_to_end(tmp, payload, rate, count, outbox={"url": server.dsn})
            server.psql(AFRESH)
            takeover = takeover_seconds(tmp, pg_config, payload)
    except PostgresError as exc:
        return {"skipped": f"PostgreSQL failed to start: {exc}"}
    return {
        "ingest": {payload.name: ours},
        "latency": end_to_end_ms,
        "takeover": takeover,
        "fsync": True,
    }


def main(argv: list[str] | None = None) -> int:
    from tests.bench.payloads import alertmanager_payload
    from tests.bench.run import MODES

    parser = argparse.ArgumentParser(description="the PostgreSQL backend's benchmark figures")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "normal"]
    with tempfile.TemporaryDirectory(prefix="ab-pg-", dir="/tmp") as name:
        tmp = Path(name)
        with fake_bots() as (_, bots_url):
            config = three_receivers_config(tmp / "alertbridge.yml", bots_url)
            payload = alertmanager_payload(20)
            results = postgres_figures(tmp, config, payload, mode.plan, mode.latency)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
