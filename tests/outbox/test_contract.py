"""SqliteOutbox: durable, ordered per receiver, all-or-nothing, writes off the event loop, and
shared with the CLI (OutboxAdmin) while the service runs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from app.models import Summary, notification_to_json
from app.outbox.admin import OutboxAdmin
from app.outbox.contract import OutboxFull
from app.outbox.schema import SCHEMA_VERSION, OutboxVersionError
from app.outbox.sqlite import POLL_SECONDS, SqliteOutbox
from tests.support.queues import alert, entry, listed, notification


async def texts(outbox: SqliteOutbox, receiver: str) -> list[str]:
    return [item.message["text"] for item in await listed(outbox, receiver, 100)]


async def test_a_full_disk_is_outbox_full(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    pages = outbox.db.execute("PRAGMA page_count").fetchone()[0]
    outbox.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now "full"
    with pytest.raises(OutboxFull, match="full"):
        await outbox.enqueue({"a": [entry({"text": "x" * 100_000})]})
    assert await outbox.backlog("a") == 0
    await outbox.close()


async def test_everything_unacknowledged_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    first = SqliteOutbox(path)
    about = notification(alert("DiskFull", "critical"))
    ids = await first.enqueue({"a": [entry({"text": f"m{i}"}, about) for i in range(4)]})
    assert ids is not None
    await first.ack(ids[:1])
    await first.postpone((await listed(first, "a", 1))[0], until=123.0, error="http_503: down")
    await first.bury(ids[3:], "permanent failure: 310000: keywords not in content")
    # No close(): as a crash leaves it. (The file is what kill -9 leaves: tests/e2e.)

    second = SqliteOutbox(path)
    pending = await listed(second, "a", 10)
    assert [i.id for i in pending] == ids[1:3]  # the same ids: a resend is recognisable
    assert (pending[0].attempts, pending[0].not_before) == (1, 123.0)
    assert pending[0].notification == about
    with closing(OutboxAdmin(path)) as admin:
        assert [i.id for i in admin.items("dead", "a")] == ids[3:]


async def test_dead_letters_can_be_listed_retried_and_purged(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    admin = OutboxAdmin(tmp_path / "outbox.db")
    ids = await outbox.enqueue(
        {"a": [entry({"text": "1"}), entry({"text": "2"})], "b": [entry({})]}
    )
    assert ids is not None
    await outbox.bury([ids[0], ids[2]], "permanent failure")
    assert (await outbox.dead_count("a"), await outbox.dead_count("b")) == (1, 1)
    assert admin.retry_dead("a", now=time.time() + 100) == 1
    requeued = await listed(outbox, "a", 10)
    assert [i.id for i in requeued] == [ids[1], ids[0]]  # back at the end, the same id
    assert requeued[1].created_at > requeued[0].created_at + 99  # a fresh max_age
    assert admin.purge("dead") == 1
    assert admin.purge("pending", "a", ids=[ids[1]]) == 1
    assert [i.id for i in admin.items("pending")] == [ids[0]]
    admin.close()
    await outbox.close()


async def test_worker_wakes_for_a_message_queued_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    service, cli = SqliteOutbox(path), OutboxAdmin(path)
    await service.enqueue({"a": [entry({"text": "died"})]})
    [dead] = [i.id for i in await listed(service, "a", 1)]
    await service.bury([dead], "permanent failure")
    waiting = asyncio.create_task(service.next_item("a"))
    await asyncio.sleep(0.05)
    cli.retry_dead(now=time.time())
    item = await asyncio.wait_for(waiting, POLL_SECONDS * 3)
    assert item.id == dead
    cli.close()
    await service.close()


async def test_a_cli_holding_the_lock_too_long_is_outbox_full_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.db.execute("PRAGMA busy_timeout = 10")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the CLI holds the write lock
    try:
        with pytest.raises(OutboxFull, match="locked"):
            await outbox.enqueue({"a": [entry({})]})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await outbox.enqueue({"a": [entry({})]}) is not None
    await outbox.close()


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync-before-answer", "commit-only"])
async def test_an_fsync_failure_is_outbox_full_unless_answers_do_not_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.db", fsync_before_answer=fsync)
    assert outbox.wal is not None

    def broken_fsync() -> OSError:
        return OSError(5, "Input/output error")

    monkeypatch.setattr(outbox.wal, "fsync", broken_fsync)
    if fsync:
        with pytest.raises(OutboxFull, match="Input/output error"):
            await outbox.enqueue({"a": [entry({})]})
    else:
        assert await outbox.enqueue({"a": [entry({})]}) is not None
    await outbox.close()


async def test_one_fsync_covers_many_concurrent_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.db", fsync_before_answer=True)
    assert outbox.wal is not None
    calls: list[float] = []
    real_fsync = outbox.wal.fsync

    def slow_fsync() -> OSError | None:
        calls.append(time.monotonic())
        time.sleep(0.05)
        return real_fsync()

    monkeypatch.setattr(outbox.wal, "fsync", slow_fsync)
    await asyncio.gather(*(outbox.enqueue({"a": [entry({})]}) for _ in range(40)))
    assert await outbox.backlog("a") == 40
    assert len(calls) < 10  # grouped: 40 answers, a handful of fsyncs
    await outbox.close()


async def test_a_file_of_the_previous_schema_keeps_its_queue_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            receiver TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            message TEXT NOT NULL, notification TEXT NOT NULL, created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
            hold_until REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
            fold_key TEXT NOT NULL DEFAULT '');
        CREATE INDEX messages_queue ON messages (receiver, state, seq);
        PRAGMA user_version=1;
        """
    )
    about = notification_to_json(notification()).decode()  # version 1 stored text
    for text in ("old 1", "old 2"):
        old.execute(
            "INSERT INTO messages (id, receiver, message, notification, created_at)"
            " VALUES (?, 'a', ?, ?, 1.0)",
            (text, json.dumps({"text": text}), about),
        )
    old.commit()
    old.close()

    outbox = SqliteOutbox(path)
    await outbox.enqueue({"a": [entry({"text": "new"})]})

    assert await texts(outbox, "a") == ["old 1", "old 2", "new"]
    assert outbox.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # Rows queued before summaries existed are summarised from their notification when read.
    summaries = [q.summary async for q in outbox.summaries("a", 10)]
    assert summaries == [Summary.of(notification())] * 3
    await outbox.close()


def test_a_file_of_a_newer_schema_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(OutboxVersionError, match="newer alertbridge"):
        SqliteOutbox(path)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


async def test_the_console_lists_retries_and_purges_through_the_service_connection() -> None:
    outbox = SqliteOutbox(":memory:")
    ids = await outbox.enqueue({"a": [entry({"text": f"m{i}"}) for i in range(4)]})
    assert ids is not None
    await outbox.bury(ids[:3], "permanent failure: 19024: bad key")
    assert [i.id for i in await outbox.items("dead", "a")] == ids[:3]
    assert [i.id for i in await outbox.items("dead", "a", limit=1)] == ids[:1]
    assert await outbox.retry_dead("a", ids[:1]) == 1
    assert [i.id for i in await outbox.items("pending", "a")] == [ids[3], ids[0]]
    assert (await outbox.items("pending", "a"))[1].attempts == 0
    assert await outbox.purge("dead", "a", ids[1:2]) == 1
    assert await outbox.purge("dead", "a") == 1
    assert (await outbox.dead_count("a"), await outbox.backlog("a")) == (0, 2)
