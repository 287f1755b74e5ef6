"""`alertbridge outbox list|retry|purge` on the PostgreSQL outbox (while replicas serve), and
`alertbridge outbox migrate` between an outbox file and a database, either way (ha-postgres.md
§4.7): same message ids, queue order kept, idempotent (a message already at the target is left
alone, so running it twice copies nothing twice). The source is left as it was (the rollback).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.outbox.contract import OutboxItem, State
from app.outbox.pg_schema import MESSAGE_COLUMNS, migrate, pg_item
from app.outbox.schema import connect, transact

CONNECT_TIMEOUT_SECONDS = 5
# The old single replica's rate limiter was never persisted: a new holder waits this long before
# its first send to a migrated receiver, as if the old pod had just used up the window.
MIGRATED_BLOCK_SECONDS = 60.0
ROW_COLUMNS = (
    "id, receiver, state, message, notification, created_at, attempts, not_before, hold_until,"
    " last_error, fold_key"
)


async def connected(url: str) -> psycopg.AsyncConnection[dict[str, Any]]:
    conn = await psycopg.AsyncConnection.connect(
        url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True, row_factory=dict_row
    )
    await migrate(conn)
    return conn


def selection(state: State, receiver: str | None, ids: Sequence[str]) -> tuple[str, list[Any]]:
    clauses, args = ["state = %s"], list[Any]([state])
    if receiver is not None:
        clauses.append("receiver = %s")
        args.append(receiver)
    if ids:
        clauses.append("id = ANY(%s)")
        args.append(list(ids))
    return " AND ".join(clauses), args


async def list_rows(
    conn: Any,
    state: State,
    receiver: str | None = None,
    ids: Sequence[str] = (),
    limit: int | None = None,
) -> list[OutboxItem]:
    """Pending or dead messages, oldest first."""
    where, args = selection(state, receiver, ids)
    bound = "" if limit is None else f" LIMIT {int(limit)}"
    cursor = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM ab_messages WHERE {where} ORDER BY pos{bound}", args
    )
    return [pg_item(row) for row in await cursor.fetchall()]


async def requeue_dead(conn: Any, receiver: str | None, ids: Sequence[str], now: float) -> int:
    """Dead letters back at the end of their queues: same id, no attempts, a fresh age.
    Run it in a transaction."""
    where, args = selection("dead", receiver, ids)
    cursor = await conn.execute(
        f"SELECT seq FROM ab_messages WHERE {where} ORDER BY pos FOR UPDATE", args
    )
    rows = await cursor.fetchall()
    for row in rows:
        await conn.execute(
            "UPDATE ab_messages SET state = 'pending', attempts = 0, not_before = 0,"
            " last_error = '', created_at = %s, pos = nextval('ab_messages_seq_seq')"
            " WHERE seq = %s",
            (now, row["seq"]),
        )
    return len(rows)


async def delete_rows(
    conn: Any, state: State, receiver: str | None = None, ids: Sequence[str] = ()
) -> int:
    where, args = selection(state, receiver, ids)
    cursor = await conn.execute(f"DELETE FROM ab_messages WHERE {where}", args)
    return int(cursor.rowcount)


async def items(
    url: str, state: State, receiver: str | None = None, ids: Sequence[str] = ()
) -> list[OutboxItem]:
    async with await connected(url) as conn:
        return await list_rows(conn, state, receiver, ids)


async def retry_dead(
    url: str, receiver: str | None = None, ids: Sequence[str] = (), *, now: float
) -> int:
    async with await connected(url) as conn, conn.transaction():
        return await requeue_dead(conn, receiver, ids, now)


async def purge(
    url: str, state: State, receiver: str | None = None, ids: Sequence[str] = ()
) -> int:
    async with await connected(url) as conn:
        return await delete_rows(conn, state, receiver, ids)


# -- migrate ---------------------------------------------------------------------------------


Rows = list[tuple[Any, ...]]


def sqlite_rows(path: str) -> tuple[list[dict[str, Any]], Rows, Rows, Rows]:
    db = connect(path)
    try:
        messages = [
            dict(row)
            for row in db.execute(f"SELECT {ROW_COLUMNS} FROM messages ORDER BY state, pos")
        ]
        seen = [tuple(r) for r in db.execute("SELECT key, at FROM seen")]
        folds = [tuple(r) for r in db.execute("SELECT receiver, key, sent_at FROM folds")]
        state = [tuple(r) for r in db.execute("SELECT name, value FROM state")]
    finally:
        db.close()
    return messages, seen, folds, state


async def sqlite_to_postgres(path: str, url: str, *, now: float) -> tuple[int, int]:
    """(messages copied, messages already there)."""
    messages, seen, folds, state = sqlite_rows(path)
    copied = 0
    async with await connected(url) as conn, conn.transaction():
        for row in messages:
            about = row["notification"]
            if isinstance(about, str):  # a file of schema version 1: plain JSON
                about = zlib.compress(about.encode(), 1)
            cursor = await conn.execute(
                f"INSERT INTO ab_messages ({ROW_COLUMNS}) VALUES (%s, %s, %s, %s::jsonb, %s, %s,"
                " %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (
                    row["id"],
                    row["receiver"],
                    row["state"],
                    row["message"] or None,
                    about,
                    row["created_at"],
                    row["attempts"],
                    row["not_before"],
                    row["hold_until"],
                    row["last_error"],
                    row["fold_key"],
                ),
            )
            copied += cursor.rowcount
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO ab_seen VALUES (%s, %s) ON CONFLICT (key) DO UPDATE"
                " SET at = greatest(ab_seen.at, EXCLUDED.at)",
                seen,
            )
            await cursor.executemany(
                "INSERT INTO ab_folds VALUES (%s, %s, %s) ON CONFLICT (receiver, key) DO UPDATE"
                " SET sent_at = greatest(ab_folds.sent_at, EXCLUDED.sent_at)",
                folds,
            )
            await cursor.executemany(
                "INSERT INTO ab_state VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", state
            )
        if copied:
            receivers = sorted({row["receiver"] for row in messages})
            for receiver in receivers:
                await conn.execute(
                    "INSERT INTO ab_leases (receiver, blocked_until) VALUES (%s, %s)"
                    " ON CONFLICT (receiver) DO UPDATE SET blocked_until ="
                    " greatest(ab_leases.blocked_until, EXCLUDED.blocked_until)",
                    (receiver, now + MIGRATED_BLOCK_SECONDS),
                )
    return copied, len(messages) - copied


async def tuples(conn: psycopg.AsyncConnection[dict[str, Any]], sql: str) -> Rows:
    cursor = await conn.execute(sql)
    return [tuple(row.values()) for row in await cursor.fetchall()]


async def postgres_to_sqlite(url: str, path: str) -> tuple[int, int]:
    """(messages copied, messages already there)."""
    async with await connected(url) as conn:
        cursor = await conn.execute(f"SELECT {ROW_COLUMNS} FROM ab_messages ORDER BY state, pos")
        messages = await cursor.fetchall()
        seen = await tuples(conn, "SELECT key, at FROM ab_seen")
        folds = await tuples(conn, "SELECT receiver, key, sent_at FROM ab_folds")
        state = await tuples(conn, "SELECT name, value FROM ab_state")
    db = connect(path)

    def work(db: sqlite3.Connection) -> int:
        copied = 0
        for row in messages:
            message = (
                "" if row["message"] is None else json.dumps(row["message"], ensure_ascii=False)
            )
            copied += db.execute(
                f"INSERT OR IGNORE INTO messages ({ROW_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    row["id"],
                    row["receiver"],
                    row["state"],
                    message,
                    bytes(row["notification"]),
                    row["created_at"],
                    row["attempts"],
                    row["not_before"],
                    row["hold_until"],
                    row["last_error"],
                    row["fold_key"],
                ),
            ).rowcount
        db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?)", seen)
        db.executemany("INSERT OR REPLACE INTO folds VALUES (?, ?, ?)", folds)
        db.executemany("INSERT OR IGNORE INTO state VALUES (?, ?)", state)
        return copied

    try:
        copied = transact(db, work)
    finally:
        db.close()
    return copied, len(messages) - copied
