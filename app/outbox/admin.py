"""Listing, re-queueing and deleting queued messages: what `alertbridge outbox list|retry|purge`
does to the outbox file from its own process while the service runs (WAL, OutboxAdmin), and
what the service's console does through its own connection (SqliteOutbox, the same functions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.outbox.contract import OutboxItem, State
from app.outbox.schema import COLUMNS, connect, to_item, transact


def list_items(
    db: sqlite3.Connection,
    state: State,
    receiver: str | None = None,
    ids: Sequence[str] = (),
    limit: int | None = None,
) -> list[OutboxItem]:
    """Oldest first; at most `limit` of them."""
    where, args = selection(state, receiver, ids)
    tail = "" if limit is None else f" LIMIT {int(limit)}"
    rows = db.execute(f"SELECT {COLUMNS} FROM messages WHERE {where} ORDER BY pos{tail}", args)
    return [to_item(row) for row in rows]


def requeue_dead(
    db: sqlite3.Connection, receiver: str | None, ids: Sequence[str], now: float
) -> int:
    """Dead letters back at the end of their queues, same id, no attempts and a fresh age
    (max_age counts from now), in one transaction."""
    where, args = selection("dead", receiver, ids)

    def work(db: Any) -> int:
        rows = db.execute(f"SELECT * FROM messages WHERE {where} ORDER BY pos", args).fetchall()
        for row in rows:
            db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))
            db.execute(
                "INSERT INTO messages (id, receiver, message, notification, created_at,"
                " fold_key) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["receiver"],
                    row["message"],
                    row["notification"],
                    now,
                    row["fold_key"],
                ),
            )
        return len(rows)

    return transact(db, work)


def delete(db: sqlite3.Connection, state: State, receiver: str | None, ids: Sequence[str]) -> int:
    where, args = selection(state, receiver, ids)
    return transact(
        db, lambda db: int(db.execute(f"DELETE FROM messages WHERE {where}", args).rowcount)
    )


class OutboxAdmin:
    """The CLI's own connection to the outbox file."""

    def __init__(self, path: Path | str) -> None:
        self.db = connect(path)

    def close(self) -> None:
        self.db.close()

    def items(
        self, state: State, receiver: str | None = None, ids: Sequence[str] = ()
    ) -> list[OutboxItem]:
        """Oldest first."""
        return list_items(self.db, state, receiver, ids)

    def retry_dead(
        self, receiver: str | None = None, ids: Sequence[str] = (), *, now: float
    ) -> int:
        """Dead letters back at the end of their queues (requeue_dead). The service picks them
        up within a poll (POLL_SECONDS)."""
        return requeue_dead(self.db, receiver, ids, now)

    def purge(self, state: State, receiver: str | None = None, ids: Sequence[str] = ()) -> int:
        return delete(self.db, state, receiver, ids)


def selection(state: State, receiver: str | None, ids: Sequence[str]) -> tuple[str, list[Any]]:
    """A WHERE clause and its arguments."""
    clauses = ["state = ?"]
    args: list[Any] = [state]
    if receiver is not None:
        clauses.append("receiver = ?")
        args.append(receiver)
    if ids:
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        args += ids
    return " AND ".join(clauses), args
