"""Delivery capacity: how fast queued messages reach fast fake bots. `alertbridge` runs with its
own rate limiter lifted (tests/bench/unthrottled.py), the fake bots with theirs lifted, three
receivers; N single-alert notifications are posted as fast as it takes them, and messages
delivered per second are counted while they arrive and, once they stop, while the backlog drains
(no inbound work competing). Issue 3's storm scenario is tests/bench/storm.py, which run.py runs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.bench.ingest import Sequence, drive, spec_for
from tests.bench.payloads import Payload, alertmanager_payload
from tests.bench.services import fake_bots, serving_alertbridge, three_receivers_config
from tests.fakes.chatbots import FakeBots
from tests.support.launcher import Service, write_yaml

POLL_SECONDS = 0.25
DRAIN_TIMEOUT_SECONDS = 120.0
CAPACITY_CONCURRENCY = 4


def backlogs(service: Service) -> dict[str, int]:
    receivers = service.get("/status").json()["receivers"]
    return {name: int(r["backlog"]) for name, r in receivers.items()}


def capacity(tmp: Path, notifications: int) -> dict[str, Any]:
    payload = alertmanager_payload(1)
    with fake_bots() as (fake, url):
        config = three_receivers_config(tmp / "capacity.yml", url)
        unlimited = dict(storm_disabled(config))
        write_yaml(config, unlimited)
        with serving_alertbridge(
            tmp,
            config,
            tmp / "capacity-data",
            name="alertbridge-unthrottled",
            module="tests.bench.unthrottled",
        ) as service:
            return measure_capacity(service, fake, payload, notifications)


def storm_disabled(config: Path) -> dict[str, Any]:
    """With the limiter lifted there is nothing to coalesce; storm control only costs time."""
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["storm"] = {"enabled": False}
    return data


def measure_capacity(
    service: Service, fake: FakeBots, payload: Payload, notifications: int
) -> dict[str, Any]:
    spec = spec_for(
        service,
        payload,
        Sequence().block(),
        mode="closed",
        seconds=DRAIN_TIMEOUT_SECONDS,
        concurrency=CAPACITY_CONCURRENCY,
        max_requests=notifications,
    )
    result: dict[str, Any] = {}
    loader = threading.Thread(target=lambda: result.update(drive(service, spec)), daemon=True)
    started = time.monotonic()
    loader.start()
    loader.join(DRAIN_TIMEOUT_SECONDS + 90)
    ingest_end, at_ingest_end = time.monotonic(), len(fake.received)
    deadline = ingest_end + DRAIN_TIMEOUT_SECONDS
    while sum(backlogs(service).values()) > 0 and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    drained, delivered = time.monotonic(), len(fake.received)
    draining = delivered - at_ingest_end
    return {
        "notifications": result.get("ok", 0),
        "receivers": 3,
        "messages_delivered": delivered,
        "ingest_s": ingest_end - started,
        "delivered_per_s_during_ingest": at_ingest_end / (ingest_end - started),
        "drain_s": drained - ingest_end,
        "delivered_per_s_draining": draining / (drained - ingest_end) if draining else None,
        "delivered_per_s_overall": delivered / (drained - started),
        "left_in_backlog": sum(backlogs(service).values()),
    }
