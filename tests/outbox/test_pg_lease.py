"""The fenced lease and the send ledger (app/outbox/pg_lease.py) on a real PostgreSQL, with two
"replicas" (two outboxes, two holder names) and a short TTL: one holder at a time, takeover
after expiry with a new epoch, a stale holder's send refused by the fence, the ledger's windows
shared by both, and a send of unknown fate counted once as a possible duplicate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.postgres import PostgresServer, scratch_dsn
from tests.support.queues import entry

TTL = 2.0
RENEW = 0.2


@pytest.fixture
async def pair(postgres_server: PostgresServer) -> AsyncIterator[list[Any]]:
    pytest.importorskip("psycopg")
    from app.outbox.postgres import PostgresOutbox

    url = scratch_dsn(postgres_server)
    outboxes = [PostgresOutbox(url, send_timeout=0.5) for _ in range(2)]
    for outbox in outboxes:
        await outbox.open()
    yield outboxes
    for outbox in outboxes:
        await outbox.close()


def lease(outbox: Any, name: str, holder: str, limits: list[tuple[int, float]]) -> Any:
    from app.outbox.pg_lease import PgLease

    made = PgLease(outbox, name, limits, ttl_margin=0.5, ttl=TTL, renew_every=RENEW)
    made.holder = holder
    outbox.leases.append(made)
    made.start()
    return made


async def test_one_holder_then_a_fenced_takeover_and_a_counted_orphan(pair: list[Any]) -> None:
    a = lease(pair[0], "r", "replica-a", [(3, 60.0)])
    epoch = await asyncio.wait_for(a.held(), 3)
    b = lease(pair[1], "r", "replica-b", [(3, 60.0)])
    duplicates: list[int] = []
    b.on_possible_duplicates = duplicates.append
    await asyncio.sleep(RENEW * 3)
    assert a.is_held()
    assert not b.is_held()
    assert await b.current_holder() == "replica-a"
    assert await b.begin_send(["x"], "single") is None  # not the holder: nothing recorded

    ids = await pair[0].enqueue({"r": [entry({"text": "in flight"})]})
    assert await a.begin_send(ids, "single") == 0.0
    # The holder freezes (its renewals stop) with that send of unknown fate...
    assert a.task is not None
    a.task.cancel()
    await asyncio.wait_for(b.held(), TTL + 2)
    assert b.epoch == epoch + 1
    assert await a.current_holder() == "replica-b"
    assert duplicates == [1]
    # ...and, resumed, believing its lease fresh, may not send: the database's fence refuses.
    a.renewed_at = time.monotonic()
    assert a.is_held()
    assert await a.begin_send(ids, "single") is None
    assert not a.is_held()


async def test_the_ledger_is_one_rate_limit_window_for_every_holder(pair: list[Any]) -> None:
    a = lease(pair[0], "r", "replica-a", [(3, 60.0)])
    await asyncio.wait_for(a.held(), 3)
    for n in range(3):
        assert await a.begin_send([f"m{n}"], "single") == 0.0
        await a.end_send("done")
    assert (await a.begin_send(["m3"], "single") or 0) > 55  # the window is full
    await a.close()  # released: the other replica takes over at once
    b = lease(pair[1], "r", "replica-b", [(3, 60.0)])
    await asyncio.wait_for(b.held(), 3)
    assert len(await b.recent_sends(60)) == 3
    assert (await b.begin_send(["m3"], "single") or 0) > 55  # the old holder's sends count


async def test_a_resend_after_an_unrecorded_outcome_is_counted_once(pair: list[Any]) -> None:
    a = lease(pair[0], "r", "replica-a", [(20, 60.0)])
    await asyncio.wait_for(a.held(), 3)
    duplicates: list[int] = []
    a.on_possible_duplicates = duplicates.append
    assert await a.begin_send(["m1", "m2"], "digest") == 0.0
    # The request went out; the ack and the outcome failed (the database was away): the
    # messages are still queued, and go out again, in another digest.
    assert await a.begin_send(["m2", "m3"], "digest") == 0.0
    await a.end_send("done")
    assert await a.begin_send(["m4"], "single") == 0.0
    assert duplicates == [1]
