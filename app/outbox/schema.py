"""The outbox file: its schema, connections, transactions and rows, shared by the service
(app/sqlite_outbox.py) and the `alertbridge outbox` command (app/outbox_admin.py)."""

from __future__ import annotations

import json
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from app.models import (
    Message,
    Notification,
    Summary,
    notification_from_json,
    notification_to_json,
)
from app.outbox.contract import Entry, OutboxItem, Queued, State

T = TypeVar("T")

DB_FILE = "outbox.db"
IN_MEMORY = ":memory:"
# 2: messages.pos (queue order, so that the parts of a card rendered at send time can take
# their message's place) and unrendered messages (message = '').
# 3: messages.summary, what a storm digest counts of the message (app/models.py Summary).
SCHEMA_VERSION = 3
# A write waits this long for another writer (the CLI, whose transactions take milliseconds)
# before it fails: the request gets 503, a worker tries again.
BUSY_TIMEOUT_SECONDS = 1.0
# Ids per "IN (...)", and per transaction of an ack (a digest acks thousands, with inbound
# requests let in between): deleting 100 queued 20-alert notifications took ~2.5 ms here, 500
# took 10-48 ms, all of it on the event loop (tests/bench ack p99 at 200/s).
MAX_SQL_VARIABLES = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    receiver TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | dead
    message TEXT NOT NULL,                  -- the platform message, JSON; '' until rendered
    notification BLOB NOT NULL,             -- the alerts it accounts for: JSON, zlib (see Row)
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    hold_until REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',    -- for a dead letter: why it was given up on
    fold_key TEXT NOT NULL DEFAULT '',
    pos REAL,                               -- queue order: seq, or between seqs for parts
    summary TEXT NOT NULL DEFAULT ''        -- Summary JSON; '' in rows queued before version 3
);
-- A row inserted without a position goes to the end of the queue: every insert path (the
-- service's, the CLI's re-queueing) gets it without repeating it.
CREATE TRIGGER IF NOT EXISTS messages_pos AFTER INSERT ON messages WHEN new.pos IS NULL BEGIN
    UPDATE messages SET pos = new.seq WHERE seq = new.seq;
END;
CREATE INDEX IF NOT EXISTS messages_order ON messages (receiver, state, pos);
CREATE INDEX IF NOT EXISTS messages_fold ON messages (receiver, fold_key) WHERE fold_key != '';
CREATE INDEX IF NOT EXISTS messages_held ON messages (receiver, hold_until) WHERE hold_until > 0;
-- Messages per receiver and state, kept by triggers: the backlog is read on every request, and
-- counting thousands of rows each time would cost more than the commit.
CREATE TABLE IF NOT EXISTS counts (
    receiver TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (receiver, state)
);
CREATE TRIGGER IF NOT EXISTS counts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO counts VALUES (new.receiver, new.state, 1)
        ON CONFLICT (receiver, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS counts_delete AFTER DELETE ON messages BEGIN
    UPDATE counts SET n = n - 1 WHERE receiver = old.receiver AND state = old.state;
END;
CREATE TRIGGER IF NOT EXISTS counts_state AFTER UPDATE OF state ON messages
WHEN old.state != new.state BEGIN
    UPDATE counts SET n = n - 1 WHERE receiver = old.receiver AND state = old.state;
    INSERT INTO counts VALUES (new.receiver, new.state, 1)
        ON CONFLICT (receiver, state) DO UPDATE SET n = n + 1;
END;
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS folds (
    receiver TEXT NOT NULL, key TEXT NOT NULL, sent_at REAL NOT NULL, PRIMARY KEY (receiver, key)
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _upgrades(db: sqlite3.Connection, version: int) -> str:
    """SQL that brings a file of `version` (not new) up to the columns SCHEMA cannot add."""
    columns = {row["name"] for row in db.execute("PRAGMA table_info(messages)")}
    # Checked, not assumed from the version: a rollback to version 1 code leaves the column.
    add = "" if "pos" in columns else "ALTER TABLE messages ADD COLUMN pos REAL;"
    if "summary" not in columns:  # rows without one are summarised when read (queued())
        add += "ALTER TABLE messages ADD COLUMN summary TEXT NOT NULL DEFAULT '';"
    order = "UPDATE messages SET pos = seq WHERE pos IS NULL;"
    return f"{add}{order}DROP INDEX IF EXISTS messages_queue;"


COLUMNS = (
    "id, receiver, message, notification, created_at, attempts, not_before, last_error, state,"
    " hold_until, fold_key"
)


class OutboxVersionError(Exception):
    """The outbox file was written by a newer alertbridge."""


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL: a
    commit is safe from a crash at once, and from a power cut after the next fsync of the WAL
    (app/wal.py: every second, or before the answer with fsync_before_answer). Measured in
    tests/bench/outbox_ack.py: FULL's fsync inside every commit, on the event loop, took ~10 ms
    under sustained writes here and capped the service below 100 commits/s."""
    db = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
    )
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        db.close()
        raise OutboxVersionError(
            f"outbox file {path} has schema version {version}; this alertbridge knows up to"
            f" {SCHEMA_VERSION}: run the newer alertbridge, or move the file aside"
        )
    if version != SCHEMA_VERSION:
        # One transaction: a process that dies half way leaves the old version, not a mix. A new
        # file (version 0) has no tables to upgrade: SCHEMA creates them.
        upgrades = _upgrades(db, version) if version else ""
        script = upgrades + SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};"
        db.executescript(f"BEGIN IMMEDIATE;{script}COMMIT;")
    return db


def transact(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` in one write transaction, committed, or rolled back if anything fails."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite rolls back by itself on some errors (disk full)
            db.execute("ROLLBACK")
        raise
    return result


def outbox_path(data_dir: Path) -> Path:
    return data_dir / DB_FILE


def to_item(row: sqlite3.Row) -> OutboxItem:
    message = json.loads(row["message"]) if row["message"] else None
    return outbox_item(row, message, row["notification"])


class Columns(Protocol):
    """A row by column name: sqlite3.Row, or psycopg's dict row."""

    def __getitem__(self, name: str) -> Any: ...


def outbox_item(row: Columns, message: Message | None, notification: str | bytes) -> OutboxItem:
    """An OutboxItem from a messages row of either backend; each decodes its own message column
    (SQLite stores JSON text, PostgreSQL jsonb) and hands the notification column's value."""
    return OutboxItem(
        id=row["id"],
        receiver=row["receiver"],
        message=message,
        notification=notification_from_json(stored_text(notification)),
        created_at=row["created_at"],
        attempts=row["attempts"],
        not_before=row["not_before"],
        last_error=row["last_error"],
        state=row["state"],
        hold_until=row["hold_until"],
        fold_key=row["fold_key"],
    )


def queued(row: Columns) -> Queued:
    """A Queued from a messages row of either backend (id, created_at, summary, notification:
    the last only where the summary is '', in rows queued before there was one)."""
    if row["summary"]:
        summary = Summary.from_json(row["summary"])
    else:
        summary = Summary.of(notification_from_json(stored_text(bytes_or_text(row))))
    return Queued(row["id"], row["created_at"], summary)


def bytes_or_text(row: Columns) -> str | bytes:
    value = row["notification"]
    return value if isinstance(value, str) else bytes(value)  # psycopg: memoryview


def chunks(ids: Sequence[str]) -> Iterator[tuple[str, Sequence[str]]]:
    """("?,?,?", ids) pieces for `IN (...)` clauses."""
    for start in range(0, len(ids), MAX_SQL_VARIABLES):
        part = ids[start : start + MAX_SQL_VARIABLES]
        yield ",".join("?" * len(part)), part


@dataclass(frozen=True, slots=True)
class Encoded:
    """A notification as a messages row stores it: compressed JSON, and its summary."""

    blob: bytes
    summary: str


class Blobs:
    """Each notification of one request encoded and compressed once, however many receivers
    queue it (the router hands receivers with the same alerts one Notification).

    Keyed by id(), so each notification is held here as long as its blob: a kube-eventer fold
    builds a new notification per receiver, and one freed before the next receiver's was made
    could hand its id() on, and its blob with it (the repeat count of another receiver's event).
    """

    def __init__(self) -> None:
        self.made: dict[int, tuple[Notification, Encoded]] = {}

    def of(self, notification: Notification) -> Encoded:
        known = self.made.get(id(notification))
        if known is not None and known[0] is notification:
            return known[1]
        # Compressed: a 20-alert notification is ~19 KB of JSON and ~1.2 KB after zlib level 1
        # (25 µs). Every receiver's row holds its own copy, and the bytes are paid for three
        # times (WAL, checkpoint, delete); in the ingest profile the commits and the deletes of
        # the acks cost more than compressing.
        blob = zlib.compress(notification_to_json(notification), 1)
        encoded = Encoded(blob, Summary.of(notification).to_json())
        self.made[id(notification)] = (notification, encoded)
        return encoded


@dataclass(frozen=True, slots=True)
class Row:
    """An Entry as the messages table stores it, with its new id."""

    id: str
    message: str
    notification: bytes
    fold_key: str
    replaces: str
    hold_until: float
    summary: str

    @classmethod
    def of(cls, entry: Entry, blobs: Blobs | None = None) -> Row:
        """`blobs`: the request's, to compress a notification queued several times once."""
        message = "" if entry.message is None else json.dumps(entry.message, ensure_ascii=False)
        about = (blobs or Blobs()).of(entry.notification)
        new_id = uuid.uuid4().hex
        return cls(
            new_id,
            message,
            about.blob,
            entry.fold_key,
            entry.replaces,
            entry.hold_until,
            about.summary,
        )


def stored_text(value: str | bytes) -> str | bytes:
    """A notification column's JSON: compressed, or plain text in a file of schema version 1."""
    return value if isinstance(value, str) else zlib.decompress(value)


def count(db: sqlite3.Connection, receiver: str, state: State) -> int:
    row = db.execute(
        "SELECT n FROM counts WHERE receiver = ? AND state = ?", (receiver, state)
    ).fetchone()
    return 0 if row is None else int(row["n"])
