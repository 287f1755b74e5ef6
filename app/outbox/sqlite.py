"""SqliteOutbox: the Outbox in one SQLite file (stdlib sqlite3, WAL journal).

Every change is one short transaction, committed on the event loop when the call returns (a
writer thread was tried: it waits for the interpreter lock at every SQLite call while the loop
renders cards, ~30 ms a write under load), before the HTTP answer: a 2xx survives kill -9. With
fsync_before_answer, enqueue also waits for the group fsync of app/wal.py, and a 2xx survives a
power cut. `alertbridge outbox` (app/outbox_admin.py) opens the same file from another process
while the service runs; the service polls for what it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from app.models import Rendered
from app.outbox.admin import delete, list_items, requeue_dead
from app.outbox.contract import (
    Entry,
    FoldPolicy,
    OutboxFull,
    OutboxItem,
    OutboxWriteError,
    Queued,
    State,
)
from app.outbox.schema import (
    COLUMNS,
    IN_MEMORY,
    Blobs,
    Row,
    chunks,
    connect,
    count,
    queued,
    to_item,
    transact,
)
from app.outbox.sqlite_enqueue import folded, insert
from app.outbox.wal import WalKeeper

T = TypeVar("T")
U = TypeVar("U")

# An idle worker looks again this often: messages the CLI re-queued appear without a wakeup.
POLL_SECONDS = 1.0
PRUNE_INTERVAL_SECONDS = 60.0
# app/wal.py checkpoints every second on a thread; SQLite's own checkpoint, in some commit, after
# this many pages of WAL stays as a backstop.
BACKSTOP_CHECKPOINT_PAGES = 10_000
FETCH_ROWS = 100
# The row GET /ready rewrites to learn whether a write can commit now.
PROBE_STATE = "ready_probe"


class SqliteOutbox:
    def __init__(
        self,
        path: Path | str,
        *,
        max_backlog: int = 10_000,
        memory_seconds: float = 3600.0,  # how long seen notifications and fold times are kept
        clock: Callable[[], float] = time.time,
        fsync_before_answer: bool = False,
    ) -> None:
        self.max_backlog = max_backlog
        self.fsync_before_answer = fsync_before_answer
        self.memory_seconds = memory_seconds
        self.clock = clock
        self.db = connect(path)
        self.wakeups: dict[str, asyncio.Event] = {}
        self.pruned_at = 0.0
        self.last_write_error: str | None = None  # why the last write failed; None: it committed
        self.wal: WalKeeper | None = None  # an in-memory outbox has nothing to make durable
        if str(path) != IN_MEMORY:
            self.db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
            self.wal = WalKeeper(path, connect)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one write transaction, committed when this returns; OutboxWriteError if
        it cannot be (disk full, read-only, I/O error, locked), and nothing of it is stored."""
        try:
            result = transact(self.db, work)
        except (sqlite3.OperationalError, OSError) as exc:
            self.last_write_error = str(exc)
            raise OutboxWriteError(str(exc)) from None
        self.last_write_error = None
        return result

    async def durable(self) -> None:
        if self.wal is not None:
            try:
                await self.wal.durable()
            except OSError as exc:
                self.last_write_error = f"fsync failed: {exc.strerror or exc}"
                raise

    async def write_failure(self, *, probe: bool = False) -> str | None:
        if probe:
            with contextlib.suppress(OutboxWriteError):
                await self.write(
                    lambda db: db.execute(
                        "INSERT OR REPLACE INTO state VALUES (?, ?)", (PROBE_STATE, self.clock())
                    )
                )
        return self.last_write_error

    async def close(self) -> None:
        if self.wal is not None:
            self.wal.close()
        self.db.close()

    def _wakeup(self, receiver: str) -> asyncio.Event:
        return self.wakeups.setdefault(receiver, asyncio.Event())

    # -- the inbound path --------------------------------------------------------------------

    async def enqueue(
        self,
        batch: Mapping[str, Sequence[Entry]],
        *,
        seen_key: str = "",
        unless_seen_since: float | None = None,
        fold: FoldPolicy | None = None,
    ) -> list[str] | None:
        blobs = Blobs()  # a notification routed to several receivers is encoded once
        now = self.clock()

        def work(db: sqlite3.Connection) -> list[str] | None:
            if seen_key and unless_seen_since is not None:
                row = db.execute("SELECT at FROM seen WHERE key = ?", (seen_key,)).fetchone()
                if row is not None and row["at"] >= unless_seen_since:
                    return None
            rows = {
                receiver: [Row.of(folded(db, receiver, e, fold), blobs) for e in entries]
                for receiver, entries in batch.items()
            }
            ids = [
                insert(db, receiver, part, now, self.max_backlog) for receiver, part in rows.items()
            ]
            if seen_key:
                db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?)", (seen_key, now))
            self._prune(db, now)
            return [i for part in ids for i in part]

        try:
            ids = await self.write(work)
            if ids is not None and self.fsync_before_answer:
                await self.durable()
        except (OutboxWriteError, OSError) as exc:  # disk full, I/O error, locked
            raise OutboxFull(f"the outbox cannot store it: {exc}") from None
        for receiver in batch if ids is not None else ():
            self._wakeup(receiver).set()
        return ids

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        if now - self.pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self.pruned_at = now
        db.execute("DELETE FROM seen WHERE at < ?", (now - self.memory_seconds,))
        db.execute("DELETE FROM folds WHERE sent_at < ?", (now - self.memory_seconds,))

    async def seen_at(self, key: str) -> float | None:
        row = self.db.execute("SELECT at FROM seen WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row["at"])

    # -- the workers -------------------------------------------------------------------------

    async def next_item(self, receiver: str) -> OutboxItem:
        while True:
            now = self.clock()
            item = await self.head(receiver)
            if item is not None:
                return item
            wakeup = self._wakeup(receiver)
            wakeup.clear()
            timeout = POLL_SECONDS
            row = self.db.execute(
                "SELECT min(hold_until) AS t FROM messages"
                " WHERE receiver = ? AND state = 'pending' AND hold_until > ?",
                (receiver, now),
            ).fetchone()
            if row["t"] is not None:
                timeout = min(timeout, row["t"] - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), max(timeout, 0.0))

    async def expand(self, item: OutboxItem, parts: Sequence[Rendered]) -> OutboxItem | None:
        # Parts 2..n take positions between this message's and the next one's (positions of
        # whole messages are whole numbers), with ids that name the message they came from.
        rows = [
            replace(Row.of(Entry(part.message, part.notification)), id=f"{item.id}-{number}")
            for number, part in enumerate(parts, 1)
        ]

        def work(db: sqlite3.Connection) -> bool:
            head = db.execute(
                "SELECT seq, pos FROM messages WHERE id = ? AND state = 'pending' AND message = ''",
                (item.id,),
            ).fetchone()
            if head is None:
                return False
            db.execute(
                "UPDATE messages SET message = ?, notification = ?, summary = ? WHERE seq = ?",
                (rows[0].message, rows[0].notification, rows[0].summary, head["seq"]),
            )
            for number, row in enumerate(rows[1:], 1):
                db.execute(
                    "INSERT INTO messages (id, receiver, message, notification, created_at, pos,"
                    " summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        item.receiver,
                        row.message,
                        row.notification,
                        item.created_at,  # max_age counts from when the notification came
                        head["pos"] + number / len(rows),
                        row.summary,
                    ),
                )
            return True

        if not await self.write(work):
            return None
        return replace(item, message=parts[0].message, notification=parts[0].notification)

    async def head(self, receiver: str) -> OutboxItem | None:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM messages WHERE receiver = ? AND state = 'pending'"
            " AND hold_until <= ? ORDER BY pos LIMIT 1",
            (receiver, self.clock()),
        ).fetchone()
        return None if row is None else to_item(row)

    def oldest(self, receiver: str, count: int) -> AsyncIterator[OutboxItem]:
        return self._due(receiver, count, COLUMNS, to_item)

    def summaries(self, receiver: str, count: int) -> AsyncIterator[Queued]:
        # The notification only where there is no summary: rows of schema version 2.
        columns = (
            "id, created_at, summary, CASE summary WHEN '' THEN notification END AS notification"
        )
        return self._due(receiver, count, columns, queued)

    async def _due(
        self, receiver: str, count: int, columns: str, convert: Callable[[sqlite3.Row], U]
    ) -> AsyncIterator[U]:
        # Page by page, each query read to its end: no statement stays open while the caller
        # awaits, so the writes of other requests never meet a half-read cursor.
        after, now = 0, self.clock()
        while count > 0:
            rows = self.db.execute(
                f"SELECT pos, {columns} FROM messages WHERE receiver = ? AND state = 'pending'"
                " AND hold_until <= ? AND pos > ? ORDER BY pos LIMIT ?",
                (receiver, now, after, min(count, FETCH_ROWS)),
            ).fetchall()
            if not rows:
                return
            after, count = rows[-1]["pos"], count - len(rows)
            for row in rows:
                yield convert(row)

    async def ack(self, ids: Sequence[str]) -> None:
        now = self.clock()

        def work(marks: str, part: Sequence[str], db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO folds SELECT receiver, fold_key, ? FROM messages"
                f" WHERE id IN ({marks}) AND fold_key != ''",
                (now, *part),
            )
            db.execute(f"DELETE FROM messages WHERE id IN ({marks})", part)

        await self._in_chunks(ids, work)

    async def postpone(self, item: OutboxItem, until: float, error: str) -> None:
        await self.write(
            lambda db: db.execute(
                "UPDATE messages SET attempts = attempts + 1, not_before = ?, last_error = ?"
                " WHERE id = ?",
                (until, error, item.id),
            )
        )
        item.attempts += 1
        item.not_before = until
        item.last_error = error

    async def bury(self, ids: Sequence[str], reason: str) -> None:
        def work(marks: str, part: Sequence[str], db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE messages SET state = 'dead', last_error = ?"
                f" WHERE id IN ({marks}) AND state = 'pending'",
                (reason, *part),
            )

        await self._in_chunks(ids, work)

    async def _in_chunks(
        self, ids: Sequence[str], work: Callable[[str, Sequence[str], sqlite3.Connection], None]
    ) -> None:
        """`work("?,?,…", part, db)` over `ids` a chunk at a time: a digest's thousands of ids
        go in several transactions with inbound requests let in between, each standing on its
        own (a crash between them only means a resend)."""
        for marks, part in chunks(ids):
            await self.write(partial(work, marks, part))
            await asyncio.sleep(0)

    async def backlog(self, receiver: str, *, due_only: bool = False) -> int:
        pending = count(self.db, receiver, "pending")
        if not due_only:
            return pending
        held = self.db.execute(
            "SELECT count(*) AS n FROM messages"
            " WHERE receiver = ? AND hold_until > ? AND state = 'pending'",
            (receiver, self.clock()),
        ).fetchone()
        return pending - int(held["n"])

    async def dead_count(self, receiver: str) -> int:
        return count(self.db, receiver, "dead")

    # -- the console (app/outbox/admin.py's SQL, on this connection) ------------------------

    async def items(
        self, state: State, receiver: str, ids: Sequence[str] = (), limit: int | None = None
    ) -> list[OutboxItem]:
        return list_items(self.db, state, receiver, ids, limit)

    async def retry_dead(self, receiver: str, ids: Sequence[str] = ()) -> int:
        count = requeue_dead(self.db, receiver, ids, self.clock())
        self._wakeup(receiver).set()
        return count

    async def purge(self, state: State, receiver: str, ids: Sequence[str] = ()) -> int:
        return delete(self.db, state, receiver, ids)

    async def load_state(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    async def save_state(self, name: str, value: str) -> None:
        await self.write(
            lambda db: db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))
        )
