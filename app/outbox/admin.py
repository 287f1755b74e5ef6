"""What `alertbridge outbox list|retry|purge` does to the outbox file, from its own process and
while the service runs (WAL): list pending or dead messages, re-queue dead letters, delete."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.outbox.contract import OutboxItem, State
from app.outbox.schema import COLUMNS, connect, to_item, transact


class OutboxAdmin:
    def __init__(self, path: Path | str) -> None:
        self.db = connect(path)

    def close(self) -> None:
        self.db.close()

    def items(
        self, state: State, receiver: str | None = None, ids: Sequence[str] = ()
    ) -> list[OutboxItem]:
        """Oldest first."""
        where, args = selection(state, receiver, ids)
        rows = self.db.execute(f"SELECT {COLUMNS} FROM messages WHERE {where} ORDER BY pos", args)
        return [to_item(row) for row in rows]

    def retry_dead(
        self, receiver: str | None = None, ids: Sequence[str] = (), *, now: float
    ) -> int:
        """Dead letters back at the end of their queues, same id, no attempts and a fresh age
        (max_age counts from now). The service picks them up within a poll (POLL_SECONDS)."""
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

        return transact(self.db, work)

    def purge(self, state: State, receiver: str | None = None, ids: Sequence[str] = ()) -> int:
        where, args = selection(state, receiver, ids)
        return transact(
            self.db,
            lambda db: int(db.execute(f"DELETE FROM messages WHERE {where}", args).rowcount),
        )


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
