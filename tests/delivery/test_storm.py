"""Storm control: how much to coalesce, the Tally of a digest, digests within every platform's
limit, and a storm to a 20/min DingTalk robot delivered without one rate-limit error."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config.model import Receiver
from app.delivery.ratelimit import RateLimiter
from app.delivery.storm import StormControl
from app.models import Notification
from app.outbox.contract import Entry, OutboxItem
from app.outbox.sqlite import SqliteOutbox
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import RateLimit
from app.rendering.digest import DigestRenderer
from app.rendering.renderer import Renderer
from app.rendering.tally import KEEP_GROUPS, Tally
from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.bots import TOKENS, card_text, fake_bots
from tests.support.builders import bot_receiver, service_config
from tests.support.cards import PLATFORMS
from tests.support.queues import Clock, alert, notification

SEVERITIES = ("critical", "warning", "info")
RECEIVER = Receiver(name="r", platform="dingtalk", webhook_url="https://bot.example/hook")


def item(index: int, about: Notification) -> OutboxItem:
    return OutboxItem(f"id{index}", "r", {}, about, created_at=1_700_000_000.0 + index)


def storm_of(count: int, alerts_each: int = 10, names: int = 40) -> list[Notification]:
    """`count` notifications of `alerts_each` alerts over `names` alert names, mixed statuses."""
    result = []
    for n in range(count):
        alerts = [
            alert(
                f"Storm{(n * alerts_each + i) % names}",
                SEVERITIES[(n + i) % 3],
                "resolved" if (n + i) % 4 == 0 else "firing",
                fingerprint=f"{n}-{i}",
                instance=f"host-{i}",
            )
            for i in range(alerts_each)
        ]
        result.append(notification(*alerts, group_key=f"group-{n}"))
    return result


@pytest.mark.parametrize(
    ("limits", "sent", "due", "expected"),
    [
        ((RateLimit(20, 60.0),), 0, 20, 1),  # all 20 fit in the minute: no digest
        ((RateLimit(20, 60.0),), 0, 25, 6),  # 6 oldest in this send, 19 after it
        ((RateLimit(20, 60.0),), 19, 50, 50),  # this is the minute's last slot: all in one
        ((RateLimit(100, 60.0), RateLimit(5, 1.0)), 0, 100, 1),
        ((RateLimit(100, 60.0), RateLimit(5, 1.0)), 0, 150, 51),
    ],
    ids=["fits", "a-few-too-many", "window-full", "feishu-fits", "feishu-too-many"],
)
def test_coalesces_just_enough_that_the_rest_goes_out_within_max_delay(
    limits: tuple[RateLimit, ...], sent: int, due: int, expected: int
) -> None:
    """`sent`: what the limiter counted before; it has a slot free now, for this send."""
    clock = Clock(0.0)
    limiter = RateLimiter(limits, clock=clock)
    for _ in range(sent):
        limiter.sent.append(clock())
    storm = StormControl(60.0, DigestRenderer(Renderer(), RECEIVER, 60.0))
    assert storm.coalesce_count(due, limiter) == expected


def test_tally_counts_every_alert_and_keeps_the_most_severe_groups() -> None:
    quiet = [notification(alert("Noise", "info")) for _ in range(30)]
    loud = notification(alert("Fire", "critical"), alert("Smoke", "warning"))
    done = notification(alert("Old", "critical", "resolved"))
    tally = Tally(keep_groups=2)
    for index, about in enumerate([*quiet[:10], done, loud, *quiet[10:]]):
        tally.add(item(index, about))
    assert (tally.messages, tally.alerts) == (32, 33)
    assert tally.by_status == {"firing": 32, "resolved": 1}
    # what is on fire first: worst firing severity, then the most firing
    assert tally.names() == [("Fire", 1, 0), ("Smoke", 1, 0), ("Noise", 30, 0), ("Old", 0, 1)]
    assert tally.groups()[0] == loud
    assert done not in tally.groups()


async def test_a_digest_counted_from_summaries_equals_one_of_messages_read_whole() -> None:
    """The outbox's summaries stand for the queued notifications: same totals, same names, the
    same groups shown (read whole), the oldest message at its head."""
    outbox = SqliteOutbox(":memory:")
    storm = storm_of(60, alerts_each=7, names=13)
    storm[5] = replace(storm[5], truncated_alerts=4)
    await outbox.enqueue({"r": [Entry(None, about) for about in storm]})
    tallies: list[Tally] = []

    async def keep(tally: Tally) -> dict[str, Any]:
        tallies.append(tally)
        return {"digest": True}

    message, counted = await StormControl(60.0, keep).digest(outbox, "r", 50)
    whole = Tally()
    for queued in await outbox.items("pending", "r", limit=50):
        whole.add(queued)
    assert message == {"digest": True}
    assert tallies == [counted]
    assert (counted.ids, counted.alerts, counted.truncated) == (whole.ids, 350, 4)
    assert (counted.by_status, counted.by_severity) == (whole.by_status, whole.by_severity)
    assert counted.names() == whole.names()
    assert counted.groups() == whole.groups()
    assert len(counted.groups()) == KEEP_GROUPS
    assert counted.head == whole.head
    assert (counted.first_at, counted.last_at) == (whole.first_at, whole.last_at)
    await outbox.close()


def digest_text(message: dict[str, Any]) -> str:
    return re.sub(r"\\(.)", r"\1", card_text(message))


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_digest_fits_the_platform_and_accounts_for_every_alertname(platform: str) -> None:
    receiver = Receiver(name="r", platform=platform, webhook_url="https://bot.example/hook")
    tally = Tally()
    for index, about in enumerate(storm_of(461)):
        tally.add(item(index, about))
    message = await DigestRenderer(Renderer(timezone="UTC"), receiver, 60.0)(tally)
    sender = REGISTRY[platform].sender
    assert sender.message_bytes(message) <= sender.MAX_MESSAGE_BYTES
    text = digest_text(message)
    title = next(line for line in text.splitlines() if "alerts:" in line)
    assert "4610 alerts: 3457 firing, 1153 resolved" in title
    assert "🔴 " in title  # what is on fire: critical
    listed = 0
    for name, firing, resolved in tally.names():
        if f"{name}** {firing + resolved}: {firing} firing, {resolved} resolved" in text or (
            f"{name}: {firing + resolved} ({firing} firing, {resolved} resolved)" in text
        ):
            listed += firing + resolved
    more = re.search(r"… (\d+) more names, (\d+) alerts", text)
    named = len(re.findall(r"\bStorm\d+\*\* \d+:|\bStorm\d+: \d+ \(", text))
    assert named <= 10, "a capped list of names"
    assert more is not None
    assert named + int(more.group(1)) == len(tally.names())
    assert listed + int(more.group(2)) == 4610, "the totals add up"
    # what is on fire first: the names are listed worst severity first
    assert [n for n, _, _ in tally.names()][:named] == re.findall(
        r"\b(Storm\d+)(?:\*\*|:) \d+", text
    )
    assert "messages counted above, not shown" in text  # and some groups in full
    if platform == "wecom":
        assert len(re.findall(r"^\*\*.*firing", text, re.M)) >= 3, "at least 3 groups"


async def test_broken_digest_template_falls_back_to_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "dingtalk").mkdir()
    (tmp_path / "dingtalk" / "digest.json.j2").write_text('{"msgtype": {{ nope() }}}')
    errors: list[str] = []
    renderer = Renderer(
        timezone="UTC", cards_dir=tmp_path, on_template_error=lambda _, name: errors.append(name)
    )
    receiver = Receiver(name="r", platform="dingtalk", webhook_url="https://bot.example/hook")
    tally = Tally()
    for index, about in enumerate(storm_of(5)):
        tally.add(item(index, about))
    message = await DigestRenderer(renderer, receiver, 60.0)(tally)
    assert message["msgtype"] == "markdown"  # the built-in digest card took over
    assert errors == ["dingtalk/digest.json.j2"]


# -- a storm through the whole service, in process ----------------------------------------


@pytest.fixture
async def dingtalk_service() -> AsyncIterator[tuple[httpx.AsyncClient, FakeBots]]:
    bots = fake_bots({"dingtalk": TOKENS["dingtalk"]})
    async with running_app(service_config(bot_receiver("dingtalk")), bots) as client:
        yield client, bots


def alertmanager_body(about: Notification) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": about.group_key,
            "status": about.status,
            "alerts": [
                {
                    "status": a.status,
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": "2024-01-01T00:00:00Z",
                    "endsAt": "2024-01-01T00:01:00Z" if a.status == "resolved" else "",
                    "fingerprint": a.fingerprint,
                }
                for a in about.alerts
            ],
        }
    ).encode()


async def test_storm_to_a_dingtalk_robot_is_coalesced_within_its_rate_limit(
    dingtalk_service: tuple[httpx.AsyncClient, FakeBots],
) -> None:
    """60 notifications (600 alerts) queued while the robot is down, then it is back: at most
    20 messages to a 20/min robot, no 130101, and the digests plus the single cards account
    for every alert exactly once."""
    client, bots = dingtalk_service
    bots.fail(TOKENS["dingtalk"], "5xx")
    for about in storm_of(60):
        response = await client.post("/alertmanager", content=alertmanager_body(about))
        assert response.status_code == 200
    bots.heal(TOKENS["dingtalk"])
    await bots.wait_for(lambda: delivered_alerts(bots) >= 600, timeout=10)
    backlog = (await client.get("/status")).json()["receivers"]["ops"]["backlog"]
    assert (backlog, delivered_alerts(bots)) == (0, 600)
    assert len(bots.received) <= 20
    assert all(a.code in (0, None) for a in bots.attempts)  # None: the scripted 503s
    metrics = (await client.get("/metrics")).text
    assert 'alertbridge_messages_coalesced_total{platform="dingtalk",receiver="ops"}' in metrics


def delivered_alerts(bots: FakeBots) -> int:
    """Alerts accounted for in what the robot received: digest totals plus single cards."""
    total = 0
    for body in bots.messages(TOKENS["dingtalk"]):
        text = body["markdown"]["text"]
        digest = re.search(r"^### .*?(\d+) alerts: ", text)
        group = re.search(r"^### .*? · (\d+) firing(?:, (\d+) resolved)?", text)
        only_resolved = re.search(r"^### .*? · (\d+) resolved", text)
        if digest:
            total += int(digest.group(1))
        elif group:
            total += int(group.group(1)) + int(group.group(2) or 0)
        elif only_resolved:
            total += int(only_resolved.group(1))
        else:
            total += 1  # a card of one alert
    return total
