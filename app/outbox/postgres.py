"""PostgresOutbox: the Outbox in PostgreSQL, shared by several replicas (ha-postgres.md §4).

Any replica takes inbound requests: enqueue is one transaction (exact cross-replica dedup of the
notification's key with INSERT ... ON CONFLICT ... WHERE at < window RETURNING; kube-eventer
folds decided under a per-event advisory lock; the backlog cap), committed before the answer.
Only the lease holder of a receiver sends (app/outbox/pg_lease.py). The database unreachable or
slow is OutboxFull within a few seconds (connect, pool and statement timeouts): the caller
answers 503 and Alertmanager retries, perhaps on another replica. psycopg is imported here only,
so the SQLite default needs no driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.models import Rendered
from app.outbox.contract import Entry, FoldPolicy, OutboxFull, OutboxItem, Queued, State
from app.outbox.pg_admin import delete_rows, list_rows, requeue_dead
from app.outbox.pg_enqueue import folded, insert, remember
from app.outbox.pg_lease import PgLease
from app.outbox.pg_schema import MESSAGE_COLUMNS, configure, describe, migrate, pg_item
from app.outbox.schema import Blobs, Row, queued

# Replicas see each other's enqueues within this (their own at once, through a wakeup).
POLL_SECONDS = 0.5
PRUNE_INTERVAL_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 3.0  # waiting for a free or new connection
POOL_MAX_SIZE = 10
FETCH_ROWS = 100
PROBE_TIMEOUT_SECONDS = 3.0  # GET /ready: a database that takes longer is not ready

T = TypeVar("T")
U = TypeVar("U")

DB_ERRORS = (psycopg.Error, PoolTimeout, OSError)


class OutboxUnavailable(Exception):
    """The database cannot be reached or used at start-up (the message holds no password)."""


class PostgresOutbox:
    def __init__(
        self,
        url: str,
        *,
        max_backlog: int = 10_000,
        memory_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
        send_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.max_backlog = max_backlog
        self.memory_seconds = memory_seconds
        self.clock = clock
        self.send_timeout = send_timeout
        self.pruned_at = 0.0
        self.opened = False
        self.wakeups: dict[str, asyncio.Event] = {}
        self.leases: list[PgLease] = []
        self.on_db_error: Callable[[], None] = lambda: None
        self.last_write_error: str | None = None  # from the last readiness probe
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            timeout=POOL_TIMEOUT_SECONDS,
            open=False,
            check=AsyncConnectionPool.check_connection,
            configure=configure,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "alertbridge",
            },
            name="alertbridge-outbox",
        )

    async def open(self) -> None:
        """Connect and migrate the schema; OutboxUnavailable if the database cannot be used."""
        try:
            await self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS * 2)
            async with self.pool.connection() as conn:
                await migrate(conn)
            self.opened = True
        except (TimeoutError, *DB_ERRORS) as exc:
            await self.pool.close()
            raise OutboxUnavailable(f"cannot use the outbox database: {describe(exc)}") from None

    async def close(self) -> None:
        for lease in self.leases:
            await lease.close()
        await self.pool.close()

    async def ping(self) -> None:
        """A round trip to the database (readiness): raises if it cannot be reached."""
        await self.query("SELECT 1")

    async def write_failure(self, *, probe: bool = False) -> str | None:
        if probe:
            try:
                await asyncio.wait_for(self.ping(), PROBE_TIMEOUT_SECONDS)
                self.last_write_error = None
            except (TimeoutError, OutboxFull) as exc:
                self.last_write_error = f"outbox database: {exc or 'no answer in time'}"
        return self.last_write_error

    # -- the console's side: what `alertbridge outbox` does, through this pool -------------------

    async def items(
        self, state: State, receiver: str, ids: Sequence[str] = (), limit: int | None = None
    ) -> list[OutboxItem]:
        return await self.admin(lambda conn: list_rows(conn, state, receiver, ids, limit))

    async def retry_dead(self, receiver: str, ids: Sequence[str] = ()) -> int:
        count = await self.admin(lambda conn: requeue_dead(conn, receiver, ids, self.clock()))
        self._wakeup(receiver).set()
        return count

    async def purge(self, state: State, receiver: str, ids: Sequence[str] = ()) -> int:
        return await self.admin(lambda conn: delete_rows(conn, state, receiver, ids))

    async def admin(self, work: Callable[[Any], Awaitable[T]]) -> T:
        try:
            async with self.transaction() as conn:
                return await work(conn)
        except DB_ERRORS as exc:
            raise self.failed(exc) from None

    def lease(self, name: str, limits: Sequence[tuple[int, float]] = ()) -> PgLease:
        """The fenced lease of receiver `name` (or "_heartbeat"); its renewal runs from now."""
        lease = PgLease(self, name, limits, ttl_margin=self.send_timeout)
        self.leases.append(lease)
        lease.start()
        return lease

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    # A database error (unreachable, timed out) is OutboxFull: inbound (dedup's seen_at, the
    # heartbeat's state) answers 503; the workers and the leases try again.

    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(sql, args)
                return list(await cursor.fetchall()) if cursor.description else []
        except DB_ERRORS as exc:
            raise self.failed(exc) from None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(sql, args)
                return int(cursor.rowcount)
        except DB_ERRORS as exc:
            raise self.failed(exc) from None

    def failed(self, exc: BaseException) -> OutboxFull:
        self.on_db_error()
        return OutboxFull(f"the outbox database cannot be used: {describe(exc)}")

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
        try:
            async with self.transaction() as conn:
                if seen_key and not await remember(conn, seen_key, now, unless_seen_since):
                    return None
                ids: list[str] = []
                for receiver, entries in batch.items():
                    rows = [Row.of(await folded(conn, receiver, e, fold), blobs) for e in entries]
                    ids += await insert(conn, receiver, rows, now, self.max_backlog)
                await self._prune(conn, now)
        except DB_ERRORS as exc:
            raise self.failed(exc) from None
        for receiver in batch:
            self._wakeup(receiver).set()
        return ids

    async def _prune(self, conn: Any, now: float) -> None:
        if now - self.pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self.pruned_at = now
        await conn.execute("DELETE FROM ab_seen WHERE at < %s", (now - self.memory_seconds,))
        await conn.execute("DELETE FROM ab_folds WHERE sent_at < %s", (now - self.memory_seconds,))

    async def seen_at(self, key: str) -> float | None:
        rows = await self.query("SELECT at FROM ab_seen WHERE key = %s", (key,))
        return float(rows[0]["at"]) if rows else None

    # -- the workers -------------------------------------------------------------------------

    async def next_item(self, receiver: str) -> OutboxItem:
        while True:
            item = await self.head(receiver)
            if item is not None:
                return item
            wakeup = self._wakeup(receiver)
            wakeup.clear()
            now = self.clock()
            rows = await self.query(
                "SELECT min(hold_until) AS t FROM ab_messages"
                " WHERE receiver = %s AND state = 'pending' AND hold_until > %s",
                (receiver, now),
            )
            timeout = POLL_SECONDS
            if rows and rows[0]["t"] is not None:
                timeout = min(timeout, rows[0]["t"] - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), max(timeout, 0.0))

    async def expand(self, item: OutboxItem, parts: Sequence[Rendered]) -> OutboxItem | None:
        rows = [
            replace(Row.of(Entry(part.message, part.notification)), id=f"{item.id}-{number}")
            for number, part in enumerate(parts, 1)
        ]
        try:
            async with self.transaction() as conn:
                cursor = await conn.execute(
                    "SELECT seq, pos FROM ab_messages WHERE id = %s AND state = 'pending'"
                    " AND message IS NULL FOR UPDATE",
                    (item.id,),
                )
                head = await cursor.fetchone()
                if head is None:
                    return None
                await conn.execute(
                    "UPDATE ab_messages SET message = %s::jsonb, notification = %s, summary = %s"
                    " WHERE seq = %s",
                    (rows[0].message, rows[0].notification, rows[0].summary, head["seq"]),
                )
                for number, row in enumerate(rows[1:], 1):
                    await conn.execute(
                        "INSERT INTO ab_messages (id, receiver, message, notification, created_at,"
                        " pos, summary) VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s)"
                        " ON CONFLICT (id) DO NOTHING",
                        (
                            row.id,
                            item.receiver,
                            row.message,
                            row.notification,
                            item.created_at,
                            head["pos"] + number / len(rows),
                            row.summary,
                        ),
                    )
        except DB_ERRORS as exc:
            raise self.failed(exc) from None
        return replace(item, message=parts[0].message, notification=parts[0].notification)

    async def head(self, receiver: str) -> OutboxItem | None:
        rows = await self.query(
            f"SELECT {MESSAGE_COLUMNS} FROM ab_messages WHERE receiver = %s AND state = 'pending'"
            " AND hold_until <= %s ORDER BY pos LIMIT 1",
            (receiver, self.clock()),
        )
        return pg_item(rows[0]) if rows else None

    def oldest(self, receiver: str, count: int) -> AsyncIterator[OutboxItem]:
        return self._due(receiver, count, MESSAGE_COLUMNS, pg_item)

    def summaries(self, receiver: str, count: int) -> AsyncIterator[Queued]:
        # The notification only where there is no summary: rows of schema version 1.
        columns = (
            "id, created_at, summary, CASE WHEN summary = '' THEN notification END AS notification"
        )
        return self._due(receiver, count, columns, queued)

    async def _due(
        self, receiver: str, count: int, columns: str, convert: Callable[[Any], U]
    ) -> AsyncIterator[U]:
        after, now = 0.0, self.clock()
        while count > 0:
            rows = await self.query(
                f"SELECT pos, {columns} FROM ab_messages WHERE receiver = %s"
                " AND state = 'pending' AND hold_until <= %s AND pos > %s ORDER BY pos LIMIT %s",
                (receiver, now, after, min(count, FETCH_ROWS)),
            )
            if not rows:
                return
            after, count = rows[-1]["pos"], count - len(rows)
            for row in rows:
                yield convert(row)

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        now = self.clock()
        try:
            async with self.transaction() as conn:
                await conn.execute(
                    "INSERT INTO ab_folds SELECT receiver, fold_key, %s FROM ab_messages"
                    " WHERE id = ANY(%s) AND fold_key <> ''"
                    " ON CONFLICT (receiver, key) DO UPDATE SET sent_at = EXCLUDED.sent_at",
                    (now, list(ids)),
                )
                await conn.execute("DELETE FROM ab_messages WHERE id = ANY(%s)", (list(ids),))
        except DB_ERRORS as exc:
            raise self.failed(exc) from None

    async def postpone(self, item: OutboxItem, until: float, error: str) -> None:
        await self.execute(
            "UPDATE ab_messages SET attempts = attempts + 1, not_before = %s, last_error = %s"
            " WHERE id = %s",
            (until, error, item.id),
        )
        item.attempts += 1
        item.not_before = until
        item.last_error = error

    async def bury(self, ids: Sequence[str], reason: str) -> None:
        await self.execute(
            "UPDATE ab_messages SET state = 'dead', last_error = %s"
            " WHERE id = ANY(%s) AND state = 'pending'",
            (reason, list(ids)),
        )

    async def backlog(self, receiver: str, *, due_only: bool = False) -> int:
        held = " AND hold_until <= %s" if due_only else ""
        args: tuple[Any, ...] = (receiver, self.clock()) if due_only else (receiver,)
        rows = await self.query(
            "SELECT count(*) AS n FROM ab_messages WHERE receiver = %s AND state = 'pending'"
            + held,
            args,
        )
        return int(rows[0]["n"])

    async def dead_count(self, receiver: str) -> int:
        rows = await self.query(
            "SELECT count(*) AS n FROM ab_messages WHERE receiver = %s AND state = 'dead'",
            (receiver,),
        )
        return int(rows[0]["n"])

    async def load_state(self, name: str) -> str | None:
        rows = await self.query("SELECT value FROM ab_state WHERE name = %s", (name,))
        return str(rows[0]["value"]) if rows else None

    async def save_state(self, name: str, value: str) -> None:
        await self.execute(
            "INSERT INTO ab_state VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value ="
            " EXCLUDED.value",
            (name, value),
        )
