"""De-duplication: Alertmanager HA duplicates delivered once (also across a restart), and
kube-eventer repeats folded into one card per event and window, with the count and first/last."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bridge import Bridge, open_outbox
from app.config.model import Config
from app.intake.dedup import event_key, merge_events, notification_key
from app.models import Alert
from app.outbox.contract import OutboxFull
from app.outbox.sqlite import SqliteOutbox
from app.sources.alertmanager import parse_alertmanager
from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.bots import TOKENS, fake_bots
from tests.support.builders import bot_receiver, service_config
from tests.support.paths import FIXTURES
from tests.support.queues import Clock, alert, notification

FIRING = (FIXTURES / "alertmanager" / "firing.json").read_bytes()
CUSTOM_EVENT = json.loads((FIXTURES / "kube_eventer" / "custom-body.json").read_text())


def make_config(**dedup: Any) -> Config:
    return service_config(bot_receiver("dingtalk"), dedup=dedup)


# -- Alertmanager HA duplicates -------------------------------------------------------------


def test_duplicate_identity_is_group_status_and_the_alert_set() -> None:
    a, b = alert("A", fingerprint="fa"), alert("B", fingerprint="fb")
    base = notification(a, b, group_key="{}:{x=1}")
    key = notification_key(base, None)
    assert notification_key(notification(b, a, group_key="{}:{x=1}"), None) == key
    resolved_b = replace(b, status="resolved", ends_at=datetime(2024, 1, 1, tzinfo=UTC))
    different = [
        notification(a, resolved_b, group_key="{}:{x=1}"),
        notification(a, group_key="{}:{x=1}"),
        notification(a, b, group_key="{}:{x=2}"),
        replace(base, status="resolved"),
    ]
    assert all(notification_key(n, None) != key for n in different)
    assert notification_key(base, "ops") != key  # another /alertmanager/{receiver} path


async def test_ha_duplicate_within_the_window_is_queued_once_then_again_after_it() -> None:
    clock = Clock()
    bridge = Bridge(make_config(window="5m"), config_source="test", clock=clock)
    assert (await bridge.accept(parse_alertmanager(FIRING), "alertmanager")).messages == 1
    clock.advance(299)
    second = await bridge.accept(parse_alertmanager(FIRING), "alertmanager")
    assert (second.messages, second.duplicate) == (0, True)
    assert await bridge.outbox.backlog("ops") == 1
    clock.advance(2)
    assert (await bridge.accept(parse_alertmanager(FIRING), "alertmanager")).messages == 1
    count = bridge.metrics.registry.get_sample_value(
        "alertbridge_duplicates_dropped_total", {"source": "alertmanager"}
    )
    assert count == 1


async def test_duplicate_memory_survives_a_restart(tmp_path: Path) -> None:
    config = make_config()
    first = Bridge(config, config_source="t", outbox=open_outbox(config, tmp_path / "o.db"))
    await first.accept(parse_alertmanager(FIRING), "alertmanager")
    await first.outbox.close()
    second = Bridge(config, config_source="t", outbox=open_outbox(config, tmp_path / "o.db"))
    assert (await second.accept(parse_alertmanager(FIRING), "alertmanager")).duplicate


async def test_a_refused_notification_is_not_remembered_so_its_retry_is_delivered() -> None:
    config = make_config()
    bridge = Bridge(config, config_source="t", outbox=SqliteOutbox(":memory:", max_backlog=0))
    with pytest.raises(OutboxFull):
        await bridge.accept(parse_alertmanager(FIRING), "alertmanager")
    assert await bridge.outbox.seen_at(notification_key(parse_alertmanager(FIRING), None)) is None


# -- kube-eventer repeats -------------------------------------------------------------------


def event(count: int, last: str, **changes: Any) -> bytes:
    return json.dumps({**CUSTOM_EVENT, "count": count, "lastTimestamp": last, **changes}).encode()


def test_event_identity_is_the_uid_else_the_object_and_reason() -> None:
    labels = {"kind": "Pod", "namespace": "shop", "name": "web-1", "reason": "BackOff"}
    with_uid = Alert("firing", labels, {}, None, None, fingerprint="uid-1")
    no_uid = replace(with_uid, fingerprint="")
    other_pod = replace(no_uid, labels={**labels, "name": "web-2"})
    assert event_key(with_uid) == "uid:uid-1"
    assert event_key(no_uid) != event_key(other_pod)
    # kube-eventer's default body names no object: the message says which pod it is.
    anonymous = replace(no_uid, labels={"kind": "Pod", "reason": "BackOff"})
    pod_a = replace(anonymous, annotations={"message": "Back-off restarting … in pod a"})
    pod_b = replace(anonymous, annotations={"message": "Back-off restarting … in pod b"})
    assert event_key(pod_a) != event_key(pod_b)


@pytest.mark.parametrize(
    ("uid", "counts", "expected"),
    [("uid-1", (17, 19), 19), ("", (1, 1), 2), ("uid-1", (5, 3), 5)],
    ids=["uid-count-is-a-running-total", "no-uid-bodies-add-up", "uid-count-never-goes-back"],
)
def test_merged_event_has_the_count_and_the_whole_time_span(
    uid: str, counts: tuple[int, int], expected: int
) -> None:
    first = datetime(2024, 11, 12, 8, 2, tzinfo=UTC)
    last = datetime(2024, 11, 12, 8, 17, tzinfo=UTC)
    queued = Alert("firing", {}, {"message": "old"}, first, first, fingerprint=uid, count=counts[0])
    repeat = Alert("firing", {}, {"message": "new"}, last, last, fingerprint=uid, count=counts[1])
    merged = merge_events(queued, repeat)
    assert (merged.count, merged.starts_at, merged.ends_at) == (expected, first, last)
    assert merged.annotations == {"message": "new"}


@pytest.fixture
async def service() -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as services:

        async def make(**dedup: Any) -> tuple[httpx.AsyncClient, FakeBots]:
            bots = fake_bots({"dingtalk": TOKENS["dingtalk"]})
            client = await services.enter_async_context(running_app(make_config(**dedup), bots))
            return client, bots

        yield make


async def test_repeats_of_a_queued_event_update_its_card_in_place(
    service: Callable[..., Any],
) -> None:
    client, bots = await service()
    bots.fail(TOKENS["dingtalk"], "5xx")  # the first card cannot go out yet
    for count, last in ((17, "2024-11-12T08:17:43Z"), (18, "2024-11-12T08:20:00Z")):
        response = await client.post("/kube-eventer/ops", content=event(count, last))
        assert response.status_code == 200
    response = await client.post("/kube-eventer/ops", content=event(19, "2024-11-12T08:25:00Z"))
    bots.heal(TOKENS["dingtalk"])
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    status = (await client.get("/status")).json()["receivers"]["ops"]
    assert (status["backlog"], len(bots.received)) == (0, 1)
    text = bots.received[0].body["markdown"]["text"]
    assert "\u00d719" in text
    assert "2024-11-12 08:02:11 UTC" in text  # first seen, kept from the first body
    assert "2024-11-12 08:25:00 UTC" in text  # last seen, from the last repeat
    metrics = (await client.get("/metrics")).text
    assert 'alertbridge_events_folded_total{receiver="ops"} 2.0' in metrics


async def test_repeats_after_a_card_was_sent_wait_for_the_end_of_the_window(
    service: Callable[..., Any],
) -> None:
    client, bots = await service(events_window="600ms")
    await client.post("/kube-eventer/ops", content=event(17, "2024-11-12T08:17:43Z"))
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    await client.post("/kube-eventer/ops", content=event(18, "2024-11-12T08:20:00Z"))
    await client.post("/kube-eventer/ops", content=event(25, "2024-11-12T08:30:00Z"))
    other = event(1, "2024-11-12T08:30:00Z", metadata={"uid": "another-event"})
    await client.post("/kube-eventer/ops", content=other)  # not held up by the held repeat
    await bots.wait_for(lambda: len(bots.received) == 2, timeout=5)
    assert "\u00d7" not in bots.received[1].body["markdown"]["text"]
    await bots.wait_for(lambda: len(bots.received) == 3, timeout=5)
    held = bots.received[2]
    assert "\u00d725" in held.body["markdown"]["text"]
    assert held.at - bots.received[0].at >= 0.5


def test_the_key_spells_each_time_in_its_own_zone() -> None:
    """The same instant written in another zone gave another key before isoformat was
    remembered, and still does (the memory is keyed by the zone too)."""
    utc = datetime(2024, 11, 12, 8, 17, 43, 123456, tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    keys = [
        notification_key(
            notification(replace(alert("A", fingerprint="fa"), starts_at=moment)), None
        )
        for moment in (utc, plus_two, utc)
    ]
    assert keys[0] == keys[2] != keys[1]
