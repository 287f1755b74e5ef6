"""The statements of PostgreSQL's inbound transaction: exact dedup across replicas, the
kube-eventer fold under a per-event lock, and the insert within the backlog cap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.outbox.contract import Entry, FoldPolicy, OutboxFull
from app.outbox.pg_schema import MESSAGE_COLUMNS, pg_item
from app.outbox.schema import Row


async def remember(conn: Any, key: str, now: float, unless_seen_since: float | None) -> bool:
    """Remember `key` now; False (a duplicate) if it was remembered since the window began.
    A twin committing on another replica makes this wait for its row, then conflict."""
    since = float("inf") if unless_seen_since is None else unless_seen_since
    cursor = await conn.execute(
        "INSERT INTO ab_seen VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET at = EXCLUDED.at"
        " WHERE ab_seen.at < %s RETURNING key",
        (key, now, since),
    )
    return await cursor.fetchone() is not None


async def folded(conn: Any, receiver: str, entry: Entry, fold: FoldPolicy | None) -> Entry:
    if fold is None or not entry.fold_key:
        return entry
    # One event folds on one replica at a time: the lock holds until this commits, so a
    # twin sees the row this transaction queues or updates.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"{receiver}\x1f{entry.fold_key}",),
    )
    cursor = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM ab_messages WHERE receiver = %s AND fold_key = %s"
        " AND fold_key <> '' AND state = 'pending' ORDER BY pos DESC LIMIT 1 FOR UPDATE",
        (receiver, entry.fold_key),
    )
    row = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT sent_at FROM ab_folds WHERE receiver = %s AND key = %s",
        (receiver, entry.fold_key),
    )
    sent = await cursor.fetchone()
    queued = None if row is None else pg_item(row)
    return fold(receiver, entry, queued, None if sent is None else float(sent["sent_at"]))


async def insert(
    conn: Any, receiver: str, rows: Sequence[Row], now: float, max_backlog: int
) -> list[str]:
    new = sum(not r.replaces for r in rows)
    if new and await pending(conn, receiver, max_backlog + 1) + new > max_backlog:
        raise OutboxFull(f"backlog of receiver {receiver} is full ({max_backlog})")
    for row in rows:
        updated = False
        if row.replaces:
            cursor = await conn.execute(
                "UPDATE ab_messages SET id = %s, message = %s::jsonb, notification = %s,"
                " hold_until = %s, summary = %s WHERE id = %s AND state = 'pending'",
                (
                    row.id,
                    row.message or None,
                    row.notification,
                    row.hold_until,
                    row.summary,
                    row.replaces,
                ),
            )
            updated = cursor.rowcount > 0
        if not updated:
            await conn.execute(
                "INSERT INTO ab_messages (id, receiver, message, notification, created_at,"
                " hold_until, fold_key, summary) VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s)",
                (
                    row.id,
                    receiver,
                    row.message or None,
                    row.notification,
                    now,
                    row.hold_until,
                    row.fold_key,
                    row.summary,
                ),
            )
    return [row.id for row in rows]


async def pending(conn: Any, receiver: str, limit: int) -> int:
    """Pending messages, counted up to `limit` (an index-only scan that stops there)."""
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM (SELECT 1 FROM ab_messages WHERE receiver = %s"
        " AND state = 'pending' LIMIT %s) AS p",
        (receiver, limit),
    )
    row = await cursor.fetchone()
    return int(row["n"])
