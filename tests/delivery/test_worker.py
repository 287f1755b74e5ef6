"""The delivery worker: rate limited, the only retry loop, order kept, permanent failures and
messages too old buried, and a stop that lets a send in flight finish."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config.model import Receiver
from app.delivery.outcomes import BACKOFF_MAX_SECONDS, backoff_seconds
from app.delivery.worker import Worker, stop_workers
from app.models import Notification, Rendered
from app.ops.metrics import Metrics
from app.outbox.contract import Entry, OutboxFull
from app.outbox.sqlite import SqliteOutbox
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import SendError
from app.rendering.renderer import Renderer
from tests.fakes.chatbots import FakeBots
from tests.fakes.faults import FailMode
from tests.support.bots import SECRETS, TOKENS, add_bot, simple_message, webhook_url
from tests.support.queues import Clock, alert, entry, equals, listed, notification


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


class Harness:
    def __init__(self, platform: str, app: ASGIApp, **worker: Any) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        url = webhook_url(platform, TOKENS[platform])
        sender = REGISTRY[platform].sender(url, SECRETS.get(platform), self.client)
        self.metrics = Metrics()
        clock = worker.setdefault("clock", time.time)
        self.outbox = SqliteOutbox(":memory:", max_backlog=100, clock=clock)
        receiver = Receiver(name="r", platform=platform, webhook_url=url)
        renderer = Renderer(timezone="UTC")
        renderer = worker.pop("renderer", renderer)
        options = {"rng": random.Random(1), "backoff_first_seconds": 0.02, **worker}
        self.worker = Worker(receiver, sender, self.outbox, self.metrics, renderer, **options)

    async def queue(self, platform: str, *texts: str) -> None:
        await self.outbox.enqueue({"r": [entry(simple_message(platform, t)) for t in texts]})

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def harness_for() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(platform: str, app: ASGIApp, **worker: Any) -> Harness:
        harness = Harness(platform, app, **worker)
        harness.worker.start()
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await stop_workers([harness.worker], grace=0)
        await harness.client.aclose()


def bots_with(platform: str) -> FakeBots:
    bots = FakeBots()
    add_bot(bots, platform, TOKENS[platform])
    return bots


async def test_delivers_queued_messages_in_order(harness_for: Callable[..., Harness]) -> None:
    bots = bots_with("dingtalk")
    harness = harness_for("dingtalk", bots.app)
    await harness.queue("dingtalk", *(f"m{i}" for i in range(5)))

    def sent() -> float:
        return harness.count("alertbridge_messages_sent_total", receiver="r", platform="dingtalk")

    # The bot has a message before the worker has its answer: wait for the worker's count.
    await bots.wait_for(lambda: sent() == 5, timeout=5)
    assert [m["markdown"]["text"] for m in bots.messages(TOKENS["dingtalk"])] == [
        f"m{i}" for i in range(5)
    ]
    assert await harness.outbox.backlog("r") == 0


async def test_a_queued_notification_is_rendered_when_sent_and_its_parts_go_first(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("wecom")
    harness = harness_for("wecom", bots.app)
    # More than 50 alerts: a group that is not rolled up into one message but split.
    many = notification(*(alert(f"Alert{i}", "critical", pod=f"web-{i}") for i in range(80)))
    await harness.outbox.enqueue(
        {"r": [Entry(None, many), entry(simple_message("wecom", "queued after"))]}
    )
    await bots.wait_for(lambda: equals(harness.outbox.backlog("r"), 0), timeout=5)

    received = texts_of(bots, "wecom")
    assert received[-1] == "queued after"
    parts = len(received) - 1
    assert parts > 1  # 80 alerts do not fit one 4096-byte WeCom message
    assert all(f"(part {n}/{parts})" in text for n, text in enumerate(received[:-1], 1))
    shown = "".join(received[:-1])
    assert all(f"Alert{i}**" in shown for i in range(80))
    queued = harness.count("alertbridge_messages_enqueued_total", receiver="r", platform="wecom")
    # One message when queued, then one per part; the test queued them without the counter.
    assert queued == parts - 1


def texts_of(bots: FakeBots, platform: str) -> list[str]:
    return [m["markdown"]["content"] for m in bots.messages(TOKENS[platform])]


async def test_a_card_that_cannot_render_becomes_a_dead_letter_not_a_blocked_queue(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("dingtalk")
    calls: list[Notification] = []

    class Broken(Renderer):
        def render_parts(self, receiver: Receiver, about: Notification) -> list[Rendered]:
            calls.append(about)
            raise RuntimeError("a renderer bug")

    harness = harness_for("dingtalk", bots.app, renderer=Broken())
    await harness.outbox.enqueue(
        {"r": [Entry(None, notification()), entry(simple_message("dingtalk", "behind it"))]}
    )
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)

    assert bots.messages(TOKENS["dingtalk"])[0]["markdown"]["text"] == "behind it"
    assert len(calls) == 1  # buried at once, not retried
    assert await harness.outbox.dead_count("r") == 1
    assert harness.count("alertbridge_messages_dead_total", receiver="r", platform="dingtalk") == 1


async def test_retries_after_a_5xx_and_keeps_order(harness_for: Callable[..., Harness]) -> None:
    bots = bots_with("wecom")
    bots.fail(TOKENS["wecom"], "5xx", times=1)
    harness = harness_for("wecom", bots.app)
    await harness.queue("wecom", "first", "2")
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
    recent = [(d.outcome, d.code, d.messages) for d in harness.worker.recent]
    assert recent == [("retry", "http_503", 1), ("delivered", "0", 1), ("delivered", "0", 1)]
    assert all(d.latency_ms >= 0 for d in harness.worker.recent)


async def test_bot_down_for_a_while_then_deliveries_resume_in_order(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("feishu")
    bots.fail(TOKENS["feishu"], "5xx")
    harness = harness_for("feishu", bots.app)
    await harness.queue("feishu", *(f"m{i}" for i in range(10)))
    await bots.wait_for(lambda: len(bots.attempts) >= 4, timeout=5)
    head = (await listed(harness.outbox, "r", 1))[0]
    assert head.attempts >= 3
    assert head.last_error.startswith("http_503")
    assert bots.received == []
    bots.heal(TOKENS["feishu"])
    await bots.wait_for(lambda: len(bots.received) == 10, timeout=10)
    texts = [m["content"]["text"] for m in bots.messages(TOKENS["feishu"])]
    assert texts == [f"m{i}" for i in range(10)]
    assert {a.body["content"]["text"] for a in bots.attempts if a.http_status == 503} == {"m0"}


async def test_counts_failed_attempts_in_a_row_until_a_delivery(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("wecom")
    bots.fail(TOKENS["wecom"], "5xx")
    harness = harness_for("wecom", bots.app)
    await harness.queue("wecom", "m0")
    await bots.wait_for(lambda: harness.worker.health.failures_in_a_row >= 3, timeout=5)
    bots.heal(TOKENS["wecom"])
    await bots.wait_for(lambda: harness.worker.health.sent == 1, timeout=5)
    assert harness.worker.health.failures_in_a_row == 0


@pytest.mark.parametrize(
    ("fault", "outcome"), [(None, "ack"), ("5xx", "postpone")], ids=["ack", "postpone"]
)
async def test_sends_nothing_more_while_the_outbox_cannot_record_an_outcome(
    fault: FailMode | None, outcome: str
) -> None:
    """Disk full with a healthy (or failing) bot: the send's outcome cannot be committed. The
    head message must not go out again and again meanwhile: one attempt, then the worker waits
    (backing off) until the outbox takes the write, and carries on from there."""
    bots = bots_with("dingtalk")
    if fault is not None:
        bots.fail(TOKENS["dingtalk"], fault, times=1)
    harness = Harness("dingtalk", bots.app)
    await harness.queue("dingtalk", "m0", "m1")
    harness.outbox.db.execute("PRAGMA query_only = 1")  # every write fails, as on a full disk
    harness.worker.start()
    try:
        await bots.wait_for(lambda: len(bots.attempts) == 1, timeout=5)
        await asyncio.sleep(1.5)  # before the fix: the same message again about once a second
        assert len(bots.attempts) == 1
        assert await harness.outbox.write_failure() == "attempt to write a readonly database"

        harness.outbox.db.execute("PRAGMA query_only = 0")
        await bots.wait_for(lambda: len(bots.received) == 2, timeout=10)
        texts = [m["markdown"]["text"] for m in bots.messages(TOKENS["dingtalk"])]
        assert texts == ["m0", "m1"]  # each delivered once
        assert len(bots.attempts) == (2 if outcome == "ack" else 3)
        assert await harness.outbox.backlog("r") == 0
    finally:
        await stop_workers([harness.worker], grace=0)
        await harness.client.aclose()


async def test_permanent_failure_is_buried_once_and_the_queue_moves_on(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("feishu")
    harness = harness_for("feishu", bots.app)
    oversized = simple_message("feishu", "x" * 30_000)
    await harness.outbox.enqueue(
        {"r": [entry(oversized), entry(simple_message("feishu", "after"))]}
    )
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    assert bots.messages(TOKENS["feishu"])[0]["content"]["text"] == "after"
    assert await harness.outbox.dead_count("r") == 1
    assert len([a for a in bots.attempts if a.code == 9499]) == 1  # not retried
    assert harness.count("alertbridge_messages_dead_total", receiver="r", platform="feishu") == 1


def echoing_bot(errcode: int) -> ASGIApp:
    """A DingTalk robot whose error text echoes the request URL (its token) and the secret."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope["query_string"].decode()
        errmsg = f"rejected {scope['path']}?{query}; the secret is {SECRETS['dingtalk']}"
        await JSONResponse({"errcode": errcode, "errmsg": errmsg})(scope, receive, send)

    return app


@pytest.mark.parametrize(
    ("errcode", "state"), [(-1, "pending"), (300001, "dead")], ids=["postponed", "buried"]
)
async def test_an_error_text_echoing_the_token_or_secret_is_stored_redacted(
    harness_for: Callable[..., Harness], errcode: int, state: str
) -> None:
    harness = harness_for("dingtalk", echoing_bot(errcode))
    await harness.queue("dingtalk", "m0")
    query = "SELECT last_error FROM messages WHERE state = ?"

    def stored() -> list[str]:
        rows = harness.outbox.db.execute(query, (state,))
        return [row["last_error"] for row in rows if row["last_error"]]

    async with asyncio.timeout(5.0):
        while not stored():  # noqa: ASYNC110 (a row in the outbox: polled, nothing to await)
            await asyncio.sleep(0.01)
    shown = [*stored(), harness.worker.health.last_error or ""]
    assert all("rejected" in text and "***" in text for text in shown)
    for secret in (TOKENS["dingtalk"], SECRETS["dingtalk"]):
        assert not [text for text in shown if secret in text]


async def test_gives_up_on_a_message_older_than_max_age(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("wecom")
    bots.fail(TOKENS["wecom"], "5xx")
    clock = Clock()
    harness = harness_for("wecom", bots.app, clock=clock, max_age_seconds=3600.0)
    await harness.queue("wecom", "stale")
    await bots.wait_for(lambda: len(bots.attempts) == 1, timeout=5)
    await asyncio.sleep(0.1)
    assert (await harness.outbox.dead_count("r"), await harness.outbox.backlog("r")) == (0, 1)
    clock.advance(3601)
    await bots.wait_for(lambda: equals(harness.outbox.dead_count("r"), 1), timeout=5)
    dead = harness.outbox.db.execute("SELECT last_error FROM messages WHERE state = 'dead'")
    assert dead.fetchone()["last_error"].startswith("too old: http_503")
    assert await harness.outbox.backlog("r") == 0


async def test_burst_is_held_to_the_bots_rate_limit(harness_for: Callable[..., Harness]) -> None:
    """25 messages to a 20/min DingTalk robot: 20 go now, none trips the 130101 penalty."""
    bots = bots_with("dingtalk")
    harness = harness_for("dingtalk", bots.app)
    await harness.queue("dingtalk", *(f"m{i}" for i in range(25)))
    await bots.wait_for(lambda: len(bots.received) == 20, timeout=5)
    await asyncio.sleep(0.3)
    assert len(bots.received) == 20
    assert all(a.code == 0 for a in bots.attempts)
    assert await harness.outbox.backlog("r") == 5
    assert harness.worker.limiter.delay() > 50


async def test_platform_rate_limit_answer_pauses_the_whole_bot(
    harness_for: Callable[..., Harness],
) -> None:
    bots = bots_with("dingtalk")
    harness = harness_for("dingtalk", bots.app)
    # Another client used up the robot's minute: the platform refuses us with 130101.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=bots.app))
    sender = REGISTRY["dingtalk"].sender(
        webhook_url("dingtalk", TOKENS["dingtalk"]), SECRETS["dingtalk"], other
    )
    for _ in range(20):
        await sender.send(simple_message("dingtalk"))
    await harness.queue("dingtalk", "late")
    await bots.wait_for(lambda: any(a.code == 130101 for a in bots.attempts), timeout=5)
    await asyncio.sleep(0.2)
    assert len([a for a in bots.attempts if a.code == 130101]) == 1
    assert harness.worker.limiter.delay() > 500  # DingTalk's 10-minute penalty is respected
    assert await harness.outbox.backlog("r") == 1  # still queued, not lost
    await other.aclose()


def slow(app: ASGIApp, seconds: float) -> ASGIApp:
    """`app`, answering each request `seconds` late: a send that is in flight for a while."""

    async def slowed(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return slowed


@pytest.mark.parametrize(
    ("grace", "delivered", "left"),
    [(2.0, 1, 1), (0.05, 0, 2)],
    ids=["send-in-flight-finishes", "send-outlasting-the-grace-stays-queued"],
)
async def test_stop_while_sending_loses_nothing(
    harness_for: Callable[..., Harness], grace: float, delivered: int, left: int
) -> None:
    bots = bots_with("wecom")
    harness = harness_for("wecom", slow(bots.app, 0.3))
    await harness.queue("wecom", "in flight", "next")
    await asyncio.sleep(0.1)
    assert harness.worker.sending
    await stop_workers([harness.worker], grace)
    assert (len(bots.received), await harness.outbox.backlog("r")) == (delivered, left)
    assert [i.message["markdown"]["content"] for i in await listed(harness.outbox, "r", 5)] == [
        "in flight",
        "next",
    ][delivered:]


async def test_an_outbox_failure_does_not_kill_the_worker(
    harness_for: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    bots = bots_with("wecom")
    harness = harness_for("wecom", bots.app)
    real_ack = harness.outbox.ack
    failures: list[int] = []

    async def failing_ack(ids: Any) -> None:
        if not failures:
            failures.append(1)
            raise SendError("disk trouble", retryable=True)  # any exception will do
        await real_ack(ids)

    monkeypatch.setattr(harness.outbox, "ack", failing_ack)
    monkeypatch.setattr("app.delivery.worker.ERROR_PAUSE_SECONDS", 0.01)
    await harness.queue("wecom", "once")
    await bots.wait_for(lambda: equals(harness.outbox.backlog("r"), 0), timeout=5)
    assert [m["markdown"]["content"] for m in bots.messages(TOKENS["wecom"])] == ["once", "once"]


async def test_an_unreachable_database_after_a_send_does_not_kill_the_worker(
    harness_for: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue depth is read after each step; PostgreSQL being down made that read raise
    # outside the worker's catch, which ended the worker while its lease lived on.
    bots = bots_with("wecom")
    harness = harness_for("wecom", bots.app)
    real_backlog = harness.outbox.backlog
    failures: list[int] = []

    async def failing_backlog(receiver: str, **options: Any) -> int:
        if not failures:
            failures.append(1)
            raise OutboxFull("the outbox database cannot be used: connection refused")
        return await real_backlog(receiver, **options)

    monkeypatch.setattr(harness.outbox, "backlog", failing_backlog)
    monkeypatch.setattr("app.delivery.worker.ERROR_PAUSE_SECONDS", 0.01)
    await harness.queue("wecom", "before")
    await bots.wait_for(lambda: len(bots.messages(TOKENS["wecom"])) == 1, timeout=5)
    await harness.queue("wecom", "after")  # only a worker still running sends it
    await bots.wait_for(lambda: len(bots.messages(TOKENS["wecom"])) == 2, timeout=5)
    assert failures


OUTCOME_SCENARIOS = {
    # fault, message text → (outcome, platform code, attempt) of each log line, in order
    "delivered": (None, "m", [("delivered", "0", 1)]),
    "retried-then-delivered": ("5xx", "m", [("retry", "http_503", 1), ("delivered", "0", 2)]),
    "dead-too-large": (None, "x" * 30_000, [("dead", "9499", 1)]),
}


@pytest.mark.parametrize(
    ("fault", "text", "expected"), OUTCOME_SCENARIOS.values(), ids=OUTCOME_SCENARIOS
)
async def test_logs_one_line_per_outcome_with_structured_fields(
    harness_for: Callable[..., Harness],
    caplog: pytest.LogCaptureFixture,
    fault: FailMode | None,
    text: str,
    expected: list[tuple[str, str, int]],
) -> None:
    caplog.set_level(logging.INFO, logger="alertbridge.delivery")
    bots = bots_with("feishu")
    if fault is not None:
        bots.fail(TOKENS["feishu"], fault, times=1)
    harness = harness_for("feishu", bots.app)
    ids = await harness.outbox.enqueue({"r": [entry(simple_message("feishu", text))]})
    assert ids is not None

    def outcomes() -> list[logging.LogRecord]:
        return [r for r in caplog.records if hasattr(r, "outcome")]

    await bots.wait_for(lambda: len(outcomes()) == len(expected), timeout=5)
    await asyncio.sleep(0.05)  # nothing more may follow
    records = outcomes()
    assert [(r.outcome, r.code, r.attempt) for r in records] == expected
    for record in records:
        assert (record.receiver, record.platform, record.message_id) == ("r", "feishu", ids[0])
        assert record.messages == 1
        assert isinstance(record.latency_ms, float)
        assert record.latency_ms >= 0
        assert f"message {ids[0]} to r (feishu)" in record.getMessage()
