"""The statements of the SQLite outbox's inbound transaction: the kube-eventer fold and the
insert within the backlog cap (app/outbox/pg_enqueue.py is PostgreSQL's)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.outbox.contract import Entry, FoldPolicy, OutboxFull
from app.outbox.schema import COLUMNS, Row, count, to_item


def folded(db: sqlite3.Connection, receiver: str, entry: Entry, fold: FoldPolicy | None) -> Entry:
    """The entry to store: through the fold policy when it names a kube-eventer event."""
    if fold is None or not entry.fold_key:
        return entry
    row = db.execute(
        # "fold_key != ''" lets SQLite use the partial index messages_fold; without it the
        # query walks every pending message of the receiver.
        f"SELECT {COLUMNS} FROM messages WHERE receiver = ? AND fold_key = ?"
        " AND fold_key != '' AND state = 'pending' ORDER BY pos DESC LIMIT 1",
        (receiver, entry.fold_key),
    ).fetchone()
    sent = db.execute(
        "SELECT sent_at FROM folds WHERE receiver = ? AND key = ?", (receiver, entry.fold_key)
    ).fetchone()
    queued = None if row is None else to_item(row)
    return fold(receiver, entry, queued, None if sent is None else float(sent["sent_at"]))


def insert(
    db: sqlite3.Connection, receiver: str, rows: Sequence[Row], now: float, max_backlog: int
) -> list[str]:
    backlog = count(db, receiver, "pending")
    if backlog + sum(not r.replaces for r in rows) > max_backlog:
        raise OutboxFull(f"backlog of receiver {receiver} is full ({max_backlog})")
    for row in rows:
        # A new id for an update in place: a send of the old version in flight acks that
        # one only, and the updated message still goes out.
        updated = bool(row.replaces) and (
            db.execute(
                "UPDATE messages SET id = ?, message = ?, notification = ?, hold_until = ?,"
                " summary = ? WHERE id = ? AND state = 'pending'",
                (
                    row.id,
                    row.message,
                    row.notification,
                    row.hold_until,
                    row.summary,
                    row.replaces,
                ),
            ).rowcount
            > 0
        )
        if not updated:
            db.execute(
                "INSERT INTO messages (id, receiver, message, notification, created_at,"
                " hold_until, fold_key, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    receiver,
                    row.message,
                    row.notification,
                    now,
                    row.hold_until,
                    row.fold_key,
                    row.summary,
                ),
            )
    return [row.id for row in rows]
