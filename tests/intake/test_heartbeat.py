"""Watchdog as a heartbeat: recorded, not delivered; its silence sends a "pipeline broken" card
and its return a recovery card; the state shows in /status and /metrics and survives a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bridge import Bridge, open_outbox
from app.config.model import Config
from app.outbox.contract import Outbox
from app.sources.alertmanager import parse_alertmanager
from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.bots import TOKENS, fake_bots
from tests.support.builders import bot_receiver, service_config
from tests.support.queues import Clock

TIMEOUT_SECONDS = 600


def make_config() -> Config:
    heartbeat = {"receiver": "ops", "timeout": "10m"}
    return service_config(bot_receiver("wecom"), heartbeat=heartbeat)


def watchdog(status: str = "firing") -> bytes:
    alert = {
        "status": status,
        "labels": {"alertname": "Watchdog", "severity": "none"},
        "annotations": {"summary": "Always firing"},
        "startsAt": "2024-01-01T00:00:00Z",
        "fingerprint": "fa5e0a9b5c7f0e11",
    }
    return json.dumps({"version": "4", "groupKey": "{}:{}", "alerts": [alert]}).encode()


Service = tuple[httpx.AsyncClient, FakeBots, Bridge]


@pytest.fixture
async def service() -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as services:

        async def make(clock: Clock, outbox: Outbox | None = None) -> Service:
            bots = fake_bots({"wecom": TOKENS["wecom"]})
            config = make_config()
            bridge = Bridge(config, config_source="test", clock=clock, outbox=outbox)
            client = await services.enter_async_context(running_app(config, bots, bridge=bridge))
            return client, bots, bridge

        yield make


def sample(bridge: Bridge, name: str) -> float | None:
    return bridge.metrics.registry.get_sample_value(name)


async def test_watchdog_is_recorded_as_a_heartbeat_and_not_delivered(
    service: Callable[..., Any],
) -> None:
    clock = Clock()
    client, bots, bridge = await service(clock)
    response = await client.post("/alertmanager", content=watchdog())
    assert response.json()["messages"] == 0
    heartbeat = (await client.get("/status")).json()["heartbeat"]
    assert heartbeat["last_seen"] == "2023-11-14T22:13:20+00:00"
    assert (heartbeat["missing"], heartbeat["alertname"]) == (False, "Watchdog")
    assert sample(bridge, "alertbridge_heartbeat_last_seen_timestamp_seconds") == clock.now
    assert bots.attempts == []


async def test_silence_sends_one_broken_card_and_the_return_a_recovery_card(
    service: Callable[..., Any],
) -> None:
    clock = Clock()
    client, bots, bridge = await service(clock)
    await client.post("/alertmanager", content=watchdog())
    assert bridge.heartbeat is not None
    clock.advance(TIMEOUT_SECONDS - 1)
    await bridge.heartbeat.check()
    clock.advance(2)
    await bridge.heartbeat.check()
    await bridge.heartbeat.check()
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    broken = bots.received[0].body["markdown"]["content"]
    assert "AlertingPipelineBroken" in broken
    assert "the alerting pipeline is broken" in broken
    assert (await client.get("/status")).json()["heartbeat"]["missing"] is True
    assert sample(bridge, "alertbridge_heartbeat_missing") == 1

    await client.post("/alertmanager", content=watchdog())
    await bots.wait_for(lambda: len(bots.received) == 2, timeout=5)
    recovered = bots.received[1].body["markdown"]["content"]
    assert "RESOLVED" in recovered
    assert "the alerting pipeline works" in recovered
    assert sample(bridge, "alertbridge_heartbeat_missing") == 0


async def test_a_restart_keeps_an_open_alarm_and_raises_no_false_one(tmp_path: Path) -> None:
    clock, config = Clock(), make_config()
    first = Bridge(
        config, config_source="t", clock=clock, outbox=open_outbox(config, tmp_path / "o.db")
    )
    assert first.heartbeat is not None
    await first.accept(parse_alertmanager(watchdog()), "alertmanager")
    clock.advance(TIMEOUT_SECONDS + 1)
    await first.heartbeat.check()
    assert await first.outbox.backlog("ops") == 1  # the "broken" card
    await first.outbox.close()

    clock.advance(3600)  # alertbridge was down for an hour
    second = Bridge(
        config, config_source="t", clock=clock, outbox=open_outbox(config, tmp_path / "o.db")
    )
    assert second.heartbeat is not None
    assert (await second.heartbeat.report())["missing"] is True
    await second.accept(parse_alertmanager(watchdog()), "alertmanager")
    assert await second.outbox.backlog("ops") == 2  # the recovery card follows
    clock.advance(TIMEOUT_SECONDS - 1)
    await second.heartbeat.check()
    assert await second.outbox.backlog("ops") == 2


async def test_replicas_share_the_state_a_beat_elsewhere_resolves_the_alarm() -> None:
    """On PostgreSQL the check runs on one replica and Watchdog arrives at any: the replica
    that gets the returning Watchdog sees the alarm another replica raised, and resolves it."""
    from app.intake.heartbeat import HeartbeatMonitor
    from app.ops.metrics import Metrics
    from app.outbox.sqlite import SqliteOutbox

    clock = Clock()
    outbox = SqliteOutbox(":memory:", clock=clock)
    config = make_config().heartbeat
    assert config is not None
    replicas = [HeartbeatMonitor(config, "wecom", outbox, Metrics(), clock) for _ in range(2)]
    for replica in replicas:
        replica.shared = True
    receiving, checking = replicas
    await receiving.observe(parse_alertmanager(watchdog()))
    clock.advance(TIMEOUT_SECONDS + 1)
    await checking.check()
    assert await outbox.backlog("ops") == 1  # the "pipeline broken" card
    await receiving.observe(parse_alertmanager(watchdog()))
    assert await outbox.backlog("ops") == 2  # and its recovery card, from the other replica
    await checking.check()
    assert await outbox.backlog("ops") == 2
    assert checking.state.missing_since is None
