"""End-to-end latency: from the POST of a notification to the fake bot receiving its card, for
each of three receivers (one per platform), on whichever outbox the config names.

Rate limits are lifted on both sides: the fake bots accept every message, and alertbridge runs as
tests/bench/unthrottled.py with storm control off, so what is measured is the pipeline (commit,
wakeup, render, send), not a platform's 20 messages a minute. Notifications are POSTed one at a
time at a fixed rate well below capacity: run.py uses 5/s. At 20/s (60 cards a second),
PostgreSQL with fsync on, which commits each send to its ledger before and after and then the
ack, fell behind on the shared 2-core VM (p50 6 s): that measured a queue, not the pipeline.
Each receiver's worker sends in queue order, one card per 20-alert notification, so the n-th
card a bot receives is the n-th notification's. Both timestamps come from this process's wall
clock (the fake bots serve on a thread of it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.bench.delivery import storm_disabled
from tests.bench.payloads import Payload
from tests.bench.services import TOKENS, fake_bots, serving_alertbridge, three_receivers_config
from tests.bench.stats import latency_ms
from tests.fakes.chatbots import FakeBots
from tests.support.launcher import Service, write_yaml

DELIVERY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.05
POST_TIMEOUT_SECONDS = 10.0


def end_to_end(
    tmp: Path, payload: Payload, rate: float, count: int, *, outbox: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fresh fake bots and an unthrottled `alertbridge serve` (on `outbox`, e.g. {"url": dsn};
    SQLite in its data dir by default): latencies of `count` notifications posted at `rate`."""
    name = "latency-pg" if outbox else "latency"
    with fake_bots() as (fake, url):
        config = three_receivers_config(tmp / f"{name}.yml", url)
        data = storm_disabled(config)
        if outbox:
            data["outbox"] = outbox
        write_yaml(config, data)
        with serving_alertbridge(
            tmp, config, tmp / f"{name}-data", name=name, module="tests.bench.unthrottled"
        ) as service:
            return measure(service, fake, payload, rate, count)


def measure(
    service: Service, fake: FakeBots, payload: Payload, rate: float, count: int
) -> dict[str, Any]:
    # One notification delivered first, not counted: the workers have started (on PostgreSQL,
    # taken their receivers' leases) and every card template is compiled.
    before = len(fake.received)
    post_at_rate(service, payload, rate, 1, first_seq=count + 1)
    wait_for_cards(fake, before, len(TOKENS))
    before = len(fake.received)
    sent_at, refused = post_at_rate(service, payload, rate, count)
    cards = wait_for_cards(fake, before, len(sent_at) * len(TOKENS))
    latencies: list[float] = []
    per_platform: dict[str, Any] = {}
    for platform in TOKENS:
        arrived = [card.at for card in cards if card.platform == platform]
        mine = [at - sent for at, sent in zip(arrived, sent_at, strict=False)]
        per_platform[platform] = latency_ms(mine)
        latencies += mine
    return {
        "rate": rate,
        "notifications": len(sent_at),
        "refused": refused,
        "cards_expected": len(sent_at) * len(TOKENS),
        "cards_received": len(cards),
        "latency_ms": latency_ms(latencies),
        "per_platform_ms": per_platform,
        "alertbridge_rate_limiter": "lifted (tests/bench/unthrottled.py), storm control off",
    }


def post_at_rate(
    service: Service, payload: Payload, rate: float, count: int, first_seq: int = 1
) -> tuple[list[float], int]:
    """POST `count` notifications (bodies from `first_seq` on) one at a time, the i-th due at
    i / rate: when each accepted one was sent (wall clock), and how many were refused."""
    sent_at: list[float] = []
    refused = 0
    started = time.monotonic()
    with httpx.Client(timeout=POST_TIMEOUT_SECONDS) as client:
        for index in range(count):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            at = time.time()
            answer = client.post(
                service.url + payload.path, content=payload.body(first_seq + index)
            )
            if answer.status_code == 200:
                sent_at.append(at)
            else:
                refused += 1
    return sent_at, refused


def wait_for_cards(fake: FakeBots, before: int, expected: int) -> list[Any]:
    """The cards received since `before`, once `expected` of them arrived (or the time is up)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while len(fake.received) - before < expected and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return list(fake.received[before:])
