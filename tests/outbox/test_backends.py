"""The Outbox contract (app/outbox/contract.py) on both backends: SQLite (the embedded default)
and PostgreSQL (several replicas; a throwaway server, tests/support/postgres.py, a schema per
test). Then what only PostgreSQL promises: exact dedup and folds across replicas (two outbox
instances on one database), OutboxFull within seconds when the database is unreachable, a newer
schema refused, and no password in any error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from app.models import Rendered
from app.outbox.contract import Entry, Outbox, OutboxFull, OutboxItem
from app.outbox.sqlite import SqliteOutbox
from tests.support.postgres import PostgresServer, scratch_dsn
from tests.support.queues import Clock, alert, entry, listed, notification

Make = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["sqlite", "postgres"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """make(**options) -> a new outbox of the backend under test (all on one store)."""
    opened: list[Any] = []
    url = ""
    if request.param == "postgres":
        pytest.importorskip("psycopg")
        url = scratch_dsn(request.getfixturevalue("postgres_server"))

    async def new(**options: Any) -> Any:
        if request.param == "sqlite":
            outbox: Any = SqliteOutbox(":memory:", **options)
        else:
            from app.outbox.postgres import PostgresOutbox

            outbox = PostgresOutbox(url, **options)
            await outbox.open()
        opened.append(outbox)
        return outbox

    yield new
    for outbox in opened:
        await outbox.close()


async def texts(outbox: Outbox, receiver: str) -> list[str]:
    return [item.message["text"] for item in await listed(outbox, receiver, 100) if item.message]


async def test_enqueue_is_all_or_nothing_at_the_backlog_cap(make: Make) -> None:
    outbox = await make(max_backlog=3)
    await outbox.enqueue({"a": [entry({"text": "1"}), entry({"text": "2"})]})
    with pytest.raises(OutboxFull):
        await outbox.enqueue({"b": [entry({})], "a": [entry({"text": "4"}), entry({})]})
    assert (await outbox.backlog("a"), await outbox.backlog("b")) == (2, 0)


async def test_order_ack_postpone_bury_and_counts(make: Make) -> None:
    outbox = await make()
    ids = await outbox.enqueue({"a": [entry({"text": f"m{i}"}) for i in range(5)]})
    assert ids is not None
    assert await texts(outbox, "a") == [f"m{i}" for i in range(5)]
    await outbox.ack(ids[:1])
    head = await outbox.head("a")
    assert head is not None
    assert head.id == ids[1]
    await outbox.postpone(head, until=123.0, error="http_503: down")
    again = await outbox.next_item("a")
    assert (again.id, again.attempts, again.not_before, again.last_error) == (
        ids[1],
        1,
        123.0,
        "http_503: down",
    )
    await outbox.bury(ids[3:], "permanent failure")
    assert (await outbox.backlog("a"), await outbox.dead_count("a")) == (2, 2)
    assert [i.id for i in await listed(outbox, "a")] == ids[1:3]
    assert [i.id for i in await listed(outbox, "a", 1)] == ids[1:2]


async def test_held_message_waits_without_holding_up_the_queue(make: Make) -> None:
    clock = Clock()
    outbox = await make(clock=clock)
    await outbox.enqueue(
        {"a": [entry({"text": "held"}, hold_until=clock.now + 60), entry({"text": "next"})]}
    )
    assert await texts(outbox, "a") == ["next"]
    assert (await outbox.backlog("a"), await outbox.backlog("a", due_only=True)) == (2, 1)
    clock.advance(60)
    assert await texts(outbox, "a") == ["held", "next"]


async def test_update_in_place_keeps_the_place_under_a_new_id(make: Make) -> None:
    outbox = await make()
    ids = await outbox.enqueue({"a": [entry({"text": "v1"}, fold_key="k"), entry({"text": "b"})]})
    assert ids is not None
    second = await outbox.enqueue({"a": [entry({"text": "v2"}, fold_key="k", replaces=ids[0])]})
    assert second is not None
    assert await texts(outbox, "a") == ["v2", "b"]
    await outbox.ack(ids[:1])  # a send of v1 that was in flight: v2 must still go out
    assert await texts(outbox, "a") == ["v2", "b"]
    await outbox.ack(second)
    seen: list[float | None] = []

    def fold(receiver: str, new: Entry, queued: OutboxItem | None, sent: float | None) -> Entry:
        seen.append(sent)
        return new

    await outbox.enqueue({"a": [entry({"text": "v3"}, fold_key="k")]}, fold=fold)
    assert len(seen) == 1
    assert seen[0] is not None  # the ack remembered when the event went out


async def test_each_receiver_stores_its_own_fold_of_one_event(make: Make) -> None:
    """The fold builds a new notification per receiver, each freed once stored: encoding once
    per request must not hand one receiver's event (its count) to the next through a reused
    id()."""
    outbox = await make()

    def fold(receiver: str, new: Entry, queued: OutboxItem | None, sent: float | None) -> Entry:
        count = {"a": 3, "b": 7}[receiver]
        merged = replace(new.notification.alerts[0], count=count)
        return replace(new, notification=new.notification.with_alerts([merged]))

    for _ in range(20):
        batch = {name: [entry({"text": name}, fold_key="ev")] for name in ("a", "b")}
        await outbox.enqueue(batch, fold=fold)
    for name, count in (("a", 3), ("b", 7)):
        stored = {i.notification.alerts[0].count for i in await listed(outbox, name)}
        assert stored == {count}


async def test_the_fold_policy_sees_the_queued_message_and_replaces_it(make: Make) -> None:
    outbox = await make()

    def fold(receiver: str, new: Entry, queued: OutboxItem | None, sent: float | None) -> Entry:
        return Entry(new.message, new.notification, new.fold_key, queued.id if queued else "")

    for version in ("v1", "v2", "v3"):
        await outbox.enqueue({"a": [entry({"text": version}, fold_key="ev")]}, fold=fold)
    await outbox.enqueue({"a": [entry({"text": "other"}, fold_key="ev2")]}, fold=fold)
    assert await texts(outbox, "a") == ["v3", "other"]


async def test_a_key_seen_since_the_given_time_queues_nothing(make: Make) -> None:
    clock = Clock()
    outbox = await make(clock=clock)
    assert await outbox.enqueue({"a": [entry({})]}, seen_key="k") is not None
    assert await outbox.seen_at("k") == clock.now
    clock.advance(10)
    assert await outbox.enqueue({"a": [entry({})]}, seen_key="k", unless_seen_since=0) is None
    assert await outbox.enqueue({"a": [entry({})]}, seen_key="k", unless_seen_since=clock.now)
    assert await outbox.backlog("a") == 2
    assert await outbox.seen_at("unknown") is None


async def test_state_is_kept(make: Make) -> None:
    outbox = await make()
    assert await outbox.load_state("heartbeat") is None
    await outbox.save_state("heartbeat", "1")
    await outbox.save_state("heartbeat", "2")
    assert await outbox.load_state("heartbeat") == "2"


async def test_a_waiting_worker_wakes_for_a_new_message(make: Make) -> None:
    outbox = await make()
    waiting = asyncio.create_task(outbox.next_item("a"))
    await asyncio.sleep(0.05)
    await outbox.enqueue({"a": [entry({"text": "now"})]})
    item = await asyncio.wait_for(waiting, 3)
    assert item.message == {"text": "now"}


async def test_parts_of_a_card_take_its_place_in_the_queue_under_ids_naming_it(
    make: Make,
) -> None:
    outbox = await make()
    first = notification(alert("A"), alert("B"), alert("C"))
    ids = await outbox.enqueue({"a": [Entry(None, first), entry({"text": "after"})]})
    assert ids is not None
    head = await outbox.head("a")
    assert head is not None
    assert head.message is None  # queued unrendered
    parts = [
        Rendered({"text": f"part {n}"}, first.with_alerts(first.alerts[n - 1 : n]))
        for n in (1, 2, 3)
    ]
    expanded = await outbox.expand(head, parts)
    assert expanded is not None
    assert (expanded.id, expanded.message) == (ids[0], {"text": "part 1"})
    queued = await listed(outbox, "a", 10)
    assert [i.id for i in queued] == [ids[0], f"{ids[0]}-2", f"{ids[0]}-3", ids[1]]
    assert [[a.labels["alertname"] for a in i.notification.alerts] for i in queued[:3]] == [
        ["A"],
        ["B"],
        ["C"],
    ]
    assert {i.created_at for i in queued} == {head.created_at}
    await outbox.enqueue({"a": [entry({"text": "last"})]})
    assert (await texts(outbox, "a"))[-2:] == ["after", "last"]


@pytest.mark.parametrize("change", ["acked", "buried", "folded"])
async def test_a_card_rendered_for_a_message_that_changed_meanwhile_is_dropped(
    make: Make, change: str
) -> None:
    outbox = await make()
    ids = await outbox.enqueue({"a": [Entry(None, notification(), fold_key="event-1")]})
    assert ids is not None
    head = await outbox.head("a")
    assert head is not None
    if change == "acked":
        await outbox.ack(ids)
    elif change == "buried":
        await outbox.bury(ids, "permanent failure")
    else:
        await outbox.enqueue({"a": [Entry(None, notification(), "event-1", replaces=ids[0])]})
    assert await outbox.expand(head, [Rendered({"text": "stale"}, notification())]) is None
    assert all(item.message is None for item in await listed(outbox, "a", 10))


# -- PostgreSQL only: several replicas on one database -------------------------------------------


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    pytest.importorskip("psycopg")
    return scratch_dsn(postgres_server)


async def replicas(url: str, count: int, **options: Any) -> list[Any]:
    from app.outbox.postgres import PostgresOutbox

    outboxes = [PostgresOutbox(url, **options) for _ in range(count)]
    for outbox in outboxes:
        await outbox.open()
    return outboxes


async def test_one_notification_posted_to_three_replicas_at_once_is_queued_once(
    pg_url: str,
) -> None:
    outboxes = await replicas(pg_url, 3)
    try:
        for round_ in range(10):
            results = await asyncio.gather(
                *(
                    o.enqueue({"a": [entry({})]}, seen_key=f"n{round_}", unless_seen_since=0)
                    for o in outboxes
                )
            )
            assert sum(r is not None for r in results) == 1
        assert await outboxes[0].backlog("a") == 10
    finally:
        for outbox in outboxes:
            await outbox.close()


async def test_one_event_folded_on_two_replicas_at_once_is_one_message(pg_url: str) -> None:
    outboxes = await replicas(pg_url, 2)

    def fold(receiver: str, new: Entry, queued: OutboxItem | None, sent: float | None) -> Entry:
        return Entry(new.message, new.notification, new.fold_key, queued.id if queued else "")

    try:
        await asyncio.gather(
            *(
                o.enqueue({"a": [entry({"text": f"v{i}"}, fold_key="ev")]}, fold=fold)
                for i in range(10)
                for o in outboxes
            )
        )
        assert await outboxes[0].backlog("a") == 1
    finally:
        for outbox in outboxes:
            await outbox.close()


async def test_an_unreachable_database_is_outbox_full_within_seconds(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    [outbox] = await replicas(pg_url, 1)
    try:
        # Every connection of the pool dies, and no new one can be made (wrong port).
        outbox.pool.kwargs["port"] = 1
        postgres_server.psql_as_superuser(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'alertbridge'"
        )
        await asyncio.sleep(0.5)  # the backends are gone once their signal is handled
        started = time.monotonic()
        with pytest.raises(OutboxFull) as caught:
            await outbox.enqueue({"a": [entry({})]})
        assert time.monotonic() - started < 8
        assert postgres_server.password not in str(caught.value)
    finally:
        await outbox.close()


async def test_a_newer_schema_is_refused_with_a_clear_message(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    from app.outbox.pg_schema import SCHEMA_VERSION, PgSchemaError, prepare_database

    assert await prepare_database(pg_url) == 0
    assert await prepare_database(pg_url) == 0  # idempotent
    schema = pg_url.rsplit("%3D", 1)[1]
    postgres_server.psql(f"INSERT INTO {schema}.ab_schema_version VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(PgSchemaError, match="newer alertbridge"):
        await prepare_database(pg_url)


async def test_a_database_of_migration_1_keeps_its_messages_and_summarises_them(
    pg_url: str,
) -> None:
    """Migration 2 adds the summary column; rows queued before it are summarised when read."""
    import psycopg

    from app.models import Summary
    from app.outbox.pg_schema import MIGRATIONS
    from app.outbox.postgres import PostgresOutbox
    from app.outbox.schema import Blobs

    old = notification(alert("Old", "critical"), alert("Older", "info", "resolved"))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(MIGRATIONS[0])
        await conn.execute("CREATE TABLE ab_schema_version (version int NOT NULL)")
        await conn.execute("INSERT INTO ab_schema_version VALUES (1)")
        await conn.execute(
            "INSERT INTO ab_messages (id, receiver, notification, created_at)"
            " VALUES ('old', 'a', %s, 1.0)",
            (Blobs().of(old).blob,),
        )
    outbox = PostgresOutbox(pg_url)
    await outbox.open()
    try:
        await outbox.enqueue({"a": [entry({"text": "new"})]})
        summaries = [(q.id, q.summary) async for q in outbox.summaries("a", 10)]
        assert summaries[0] == ("old", Summary.of(old))
        assert summaries[1][1] == Summary.of(notification())
    finally:
        await outbox.close()
