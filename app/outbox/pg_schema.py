"""The PostgreSQL outbox's schema (design: ha-postgres.md §4.2): versioned migrations, applied
at start-up by whichever replica comes first, under a transaction-level advisory lock so that
three pods starting together neither race nor apply one twice. A binary older than the schema
refuses it with a clear message instead of writing rows it does not understand.

Messages keep the SQLite outbox's shape (app/outbox/schema.py): same ids, same compressed
notification bytes, `pos` for queue order, so `alertbridge outbox migrate` copies rows as they
are. Leases and the send ledger (app/outbox/pg_lease.py) are new.
"""

from __future__ import annotations

from typing import Any

from app.outbox.contract import OutboxItem
from app.outbox.schema import outbox_item

# Any constant unique to alertbridge: the lock serialises migrations across replicas.
MIGRATION_LOCK = 0x616C657274  # "alert"

MIGRATIONS: list[str] = [
    # 1: the design's v1.
    """
    CREATE TABLE ab_messages (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        receiver text NOT NULL,
        state text NOT NULL DEFAULT 'pending',        -- pending | dead
        pos double precision,                         -- queue order: seq, or between for parts
        message jsonb,                                -- NULL until rendered
        notification bytea NOT NULL,                  -- zlib(JSON), as in the SQLite file
        created_at double precision NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        not_before double precision NOT NULL DEFAULT 0,
        hold_until double precision NOT NULL DEFAULT 0,
        last_error text NOT NULL DEFAULT '',
        fold_key text NOT NULL DEFAULT ''
    );
    CREATE FUNCTION ab_messages_pos() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.pos IS NULL THEN NEW.pos := NEW.seq; END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER ab_messages_pos BEFORE INSERT ON ab_messages
        FOR EACH ROW EXECUTE FUNCTION ab_messages_pos();
    CREATE INDEX ab_messages_queue ON ab_messages (receiver, pos) WHERE state = 'pending';
    CREATE INDEX ab_messages_dead ON ab_messages (receiver) WHERE state = 'dead';
    CREATE INDEX ab_messages_fold ON ab_messages (receiver, fold_key)
        WHERE fold_key <> '' AND state = 'pending';
    CREATE TABLE ab_seen (key text PRIMARY KEY, at double precision NOT NULL);
    CREATE TABLE ab_folds (
        receiver text NOT NULL, key text NOT NULL, sent_at double precision NOT NULL,
        PRIMARY KEY (receiver, key)
    );
    CREATE TABLE ab_state (name text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE ab_leases (
        receiver text PRIMARY KEY,                    -- a receiver, or '_heartbeat'
        holder text,                                  -- hostname/pid/random of the holder
        epoch bigint NOT NULL DEFAULT 0,              -- the fence: +1 on every takeover
        expires_at timestamptz NOT NULL DEFAULT '-infinity',
        blocked_until double precision NOT NULL DEFAULT 0
    );
    CREATE TABLE ab_sends (
        receiver text NOT NULL,
        at double precision NOT NULL,                 -- DB clock, Unix seconds
        epoch bigint NOT NULL,
        holder text NOT NULL,
        kind text NOT NULL,                           -- single | digest
        ids text[] NOT NULL,
        outcome text                                  -- NULL: in flight, or fate unknown
    );
    CREATE INDEX ab_sends_window ON ab_sends (receiver, at);
    CREATE INDEX ab_sends_open ON ab_sends (receiver) WHERE outcome IS NULL;
    """,
    # 2: what a storm digest counts of each message (app/models.py Summary), so that a digest
    # of thousands reads a few bytes of each; '' in rows queued before, summarised when read.
    """
    ALTER TABLE ab_messages ADD COLUMN summary text NOT NULL DEFAULT '';
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# A statement never waits longer (a lock, a stalled server): an inbound request gets its 503.
STATEMENT_TIMEOUT_MS = 5000

MESSAGE_COLUMNS = (
    "id, receiver, message, notification, created_at, attempts, not_before, last_error, state,"
    " hold_until, fold_key"
)


class PgSchemaError(Exception):
    """The database's schema was written by a newer alertbridge."""


async def migrate(conn: Any) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; the version found before."""
    from psycopg.rows import tuple_row

    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS ab_schema_version (version int NOT NULL)")
        cursor = conn.cursor(row_factory=tuple_row)
        await cursor.execute("SELECT max(version) FROM ab_schema_version")
        row = await cursor.fetchone()
        found = int(row[0] or 0) if row is not None else 0
        if found > SCHEMA_VERSION:
            raise PgSchemaError(
                f"the outbox database has schema version {found}; this alertbridge knows up to"
                f" {SCHEMA_VERSION}: run the newer alertbridge"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO ab_schema_version VALUES (%s)", (version,))
    return found


async def prepare_database(url: str, connect_timeout: int = 3) -> int:
    """Check that the database at `url` can be used and bring its schema up to date, before the
    service starts; the number of messages pending there. psycopg's errors propagate."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, connect_timeout=connect_timeout) as conn:
        await migrate(conn)
        cursor = await conn.execute("SELECT count(*) FROM ab_messages WHERE state = 'pending'")
        row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0


def pg_item(row: dict[str, Any]) -> OutboxItem:
    return outbox_item(row, row["message"], bytes(row["notification"]))


async def configure(conn: Any) -> None:
    """Every pooled connection: a statement never waits longer than this (a lock, a stalled
    server), so an inbound request gets its 503 in seconds."""
    await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")


def describe(exc: BaseException) -> str:
    """An error's first line (libpq's messages name host and user, never the password)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
