"""The worker with a lease (replicas on PostgreSQL): nothing goes out unless the lease's fenced
ledger entry was made first (a lost lease sends nothing), each send is closed in the ledger,
and a new holder's rate limiter starts from the ledger's recent sends (every replica's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from app.delivery.worker import stop_workers
from app.outbox.contract import Entry
from tests.delivery.test_worker import Harness, bots_with
from tests.support.bots import simple_message
from tests.support.queues import entry


class ScriptedLease:
    """A Lease whose begin_send answers are scripted; records what the worker asks."""

    holder = "this-replica"

    def __init__(self, verdicts: Sequence[float | None] = (), sends_ago: Sequence[float] = ()):
        self.epoch = 1
        self.verdicts = list(verdicts)
        self.sends_ago = list(sends_ago)
        self.begun: list[list[str]] = []
        self.ended: list[str] = []
        self.blocked: list[float] = []

    async def held(self) -> int:
        return self.epoch

    def is_held(self) -> bool:
        return True

    async def recent_sends(self, seconds: float) -> list[float]:
        return self.sends_ago

    async def begin_send(self, ids: Sequence[str], kind: str) -> float | None:
        self.begun.append(list(ids))
        return self.verdicts.pop(0) if self.verdicts else 0.0

    async def end_send(self, outcome: str) -> None:
        self.ended.append(outcome)

    async def block_for(self, seconds: float) -> None:
        self.blocked.append(seconds)

    async def current_holder(self) -> str | None:
        return self.holder

    async def close(self) -> None:
        pass


@pytest.fixture
async def harnesses() -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        await stop_workers([harness.worker], grace=0)
        await harness.client.aclose()


async def test_nothing_is_sent_while_the_fence_refuses(harnesses: list[Harness]) -> None:
    bots = bots_with("dingtalk")
    harness = Harness("dingtalk", bots.app)
    harnesses.append(harness)
    lease = ScriptedLease(verdicts=[None, None, 0.0])  # lost twice (a stale holder), then ours
    harness.worker.lease = lease
    await harness.outbox.enqueue({"r": [harness_entry("only once")]})
    harness.worker.start()
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    await bots.wait_for(lambda: lease.ended == ["done"], timeout=5)
    assert len(bots.attempts) == 1  # the two refused tries never reached the robot
    assert len(lease.begun) == 3
    assert len({tuple(ids) for ids in lease.begun}) == 1  # the same message each time


async def test_a_new_holder_starts_from_the_ledgers_window(harnesses: list[Harness]) -> None:
    bots = bots_with("dingtalk")
    harness = Harness("dingtalk", bots.app)
    harnesses.append(harness)
    # Another replica sent 20 messages in the last 20 s: DingTalk's window (20/min) is full.
    harness.worker.lease = ScriptedLease(sends_ago=[float(20 - n) for n in range(20)])
    await harness.outbox.enqueue({"r": [harness_entry("must wait")]})
    harness.worker.start()
    await asyncio.sleep(0.5)
    assert bots.received == []
    assert harness.worker.limiter.delay() > 30


def harness_entry(text: str) -> Entry:
    return entry(simple_message("dingtalk", text))
