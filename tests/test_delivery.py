"""The delivery worker: rate limited, the only retry loop, order kept, permanent failures buried."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from app.delivery import BACKOFF_MAX_SECONDS, Worker, backoff_seconds
from app.metrics import Metrics
from app.outbox import MemoryOutbox, OutboxFull
from app.senders import SENDERS
from tests.botkit import SECRETS, TOKENS, add_bot, simple_message, webhook_url
from tests.fakes.chatbots import FakeBots


@pytest.mark.parametrize(
    ("attempt", "hint", "low", "high"),
    [
        (1, None, 0.5, 1.0),
        (3, None, 2.0, 4.0),
        (30, None, BACKOFF_MAX_SECONDS / 2, BACKOFF_MAX_SECONDS),
        (1, 600.0, 600.0, 600.0),
    ],
    ids=["first", "third-doubles", "capped", "platform-hint-wins"],
)
def test_backoff_grows_with_jitter_and_honours_hints(
    attempt: int, hint: float | None, low: float, high: float
) -> None:
    rng = random.Random(7)
    delays = [backoff_seconds(attempt, hint, rng) for _ in range(50)]
    assert all(low <= d <= high for d in delays)


def test_outbox_enqueue_is_all_or_nothing_at_the_backlog_cap() -> None:
    outbox = MemoryOutbox(max_backlog=3)
    outbox.enqueue({"a": [{"n": 1}, {"n": 2}]})
    with pytest.raises(OutboxFull):
        outbox.enqueue({"b": [{"n": 3}], "a": [{"n": 4}, {"n": 5}]})
    assert (outbox.backlog("a"), outbox.backlog("b")) == (2, 0)


class Harness:
    def __init__(self, platform: str, bots: FakeBots, outbox: MemoryOutbox) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=bots.app))
        url = webhook_url(platform, TOKENS[platform])
        sender = SENDERS[platform](url, SECRETS.get(platform), self.client)
        self.metrics = Metrics()
        self.outbox = outbox
        self.worker = Worker("r", sender, outbox, self.metrics, rng=random.Random(1))
        self.task: asyncio.Task[None] | None = None

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def harness_for() -> AsyncIterator[Callable[[str, FakeBots], Harness]]:
    made: list[Harness] = []

    def make(platform: str, bots: FakeBots) -> Harness:
        harness = Harness(platform, bots, MemoryOutbox(max_backlog=100))
        harness.task = asyncio.create_task(harness.worker.run())
        made.append(harness)
        return harness

    yield make
    for harness in made:
        assert harness.task is not None
        harness.task.cancel()
        await asyncio.gather(harness.task, return_exceptions=True)
        await harness.client.aclose()


async def test_delivers_queued_messages_in_order(harness_for: Callable[..., Harness]) -> None:
    bots = FakeBots()
    add_bot(bots, "dingtalk", TOKENS["dingtalk"])
    harness = harness_for("dingtalk", bots)
    harness.outbox.enqueue({"r": [simple_message("dingtalk", f"m{i}") for i in range(5)]})
    await bots.wait_for(lambda: len(bots.received) == 5, timeout=5)
    assert [m["markdown"]["text"] for m in bots.messages(TOKENS["dingtalk"])] == [
        f"m{i}" for i in range(5)
    ]
    assert harness.count("alertbridge_messages_sent_total", receiver="r", platform="dingtalk") == 5
    assert harness.outbox.backlog("r") == 0


async def test_retries_after_a_5xx_and_keeps_order(harness_for: Callable[..., Harness]) -> None:
    bots = FakeBots()
    add_bot(bots, "wecom", TOKENS["wecom"])
    bots.fail(TOKENS["wecom"], "5xx", times=1)
    harness = harness_for("wecom", bots)
    harness.outbox.enqueue({"r": [simple_message("wecom", "first"), simple_message("wecom", "2")]})
    await bots.wait_for(lambda: len(bots.received) == 2, timeout=5)
    assert [m["markdown"]["content"] for m in bots.messages(TOKENS["wecom"])] == ["first", "2"]
    assert harness.count("alertbridge_send_retries_total", receiver="r", platform="wecom") == 1
    assert (
        harness.count(
            "alertbridge_send_failures_total",
            receiver="r",
            platform="wecom",
            code="http_503",
            retryable="true",
        )
        == 1
    )
    assert harness.worker.health.last_error == "http_503: HTTP 503 from wecom"


async def test_permanent_failure_is_buried_once_and_the_queue_moves_on(
    harness_for: Callable[..., Harness],
) -> None:
    bots = FakeBots()
    add_bot(bots, "feishu", TOKENS["feishu"])
    harness = harness_for("feishu", bots)
    oversized = simple_message("feishu", "x" * 30_000)
    harness.outbox.enqueue({"r": [oversized, simple_message("feishu", "after")]})
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    assert bots.messages(TOKENS["feishu"])[0]["content"]["text"] == "after"
    assert harness.outbox.dead_count("r") == 1
    assert len([a for a in bots.attempts if a.code == 9499]) == 1  # not retried
    assert harness.count("alertbridge_messages_dead_total", receiver="r", platform="feishu") == 1


async def test_burst_is_held_to_the_bots_rate_limit(harness_for: Callable[..., Harness]) -> None:
    """25 messages to a 20/min DingTalk robot: 20 go now, none trips the 130101 penalty."""
    bots = FakeBots()
    add_bot(bots, "dingtalk", TOKENS["dingtalk"])
    harness = harness_for("dingtalk", bots)
    harness.outbox.enqueue({"r": [simple_message("dingtalk", f"m{i}") for i in range(25)]})
    await bots.wait_for(lambda: len(bots.received) == 20, timeout=5)
    await asyncio.sleep(0.3)
    assert len(bots.received) == 20
    assert all(a.code == 0 for a in bots.attempts)
    assert harness.outbox.backlog("r") == 5
    assert harness.worker.limiter.delay() > 50


async def test_platform_rate_limit_answer_pauses_the_whole_bot(
    harness_for: Callable[..., Harness],
) -> None:
    bots = FakeBots()
    add_bot(bots, "dingtalk", TOKENS["dingtalk"])
    harness = harness_for("dingtalk", bots)
    # Another client used up the robot's minute: the platform refuses us with 130101.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=bots.app))
    sender = SENDERS["dingtalk"](
        webhook_url("dingtalk", TOKENS["dingtalk"]), SECRETS["dingtalk"], other
    )
    for _ in range(20):
        await sender.send(simple_message("dingtalk"))
    harness.outbox.enqueue({"r": [simple_message("dingtalk", "late")]})
    await bots.wait_for(lambda: any(a.code == 130101 for a in bots.attempts), timeout=5)
    await asyncio.sleep(0.2)
    assert len([a for a in bots.attempts if a.code == 130101]) == 1
    assert harness.worker.limiter.delay() > 500  # DingTalk's 10-minute penalty is respected
    assert harness.outbox.backlog("r") == 1  # still queued, not lost
    await other.aclose()
