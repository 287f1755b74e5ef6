"""`alertbridge outbox list|retry|purge|migrate`: on the outbox file in --data-dir, or on the
PostgreSQL outbox named by env ALERTBRIDGE_OUTBOX_URL or --config's outbox.url (while the
replicas serve); `migrate` copies an outbox between the two, either way."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from app.config.load import default_config, load_config
from app.config.model import ConfigError, dsn_secrets
from app.ops.redaction import Redactor, redact_url
from app.outbox.admin import OutboxAdmin
from app.outbox.contract import OutboxItem, State
from app.outbox.schema import outbox_path

T = TypeVar("T")


def outbox_command(args: argparse.Namespace) -> int:

    if args.action == "migrate":
        return migrate_outbox(args.source, args.target)
    url = os.environ.get("ALERTBRIDGE_OUTBOX_URL", "")
    if not url and args.config is not None:
        url = load_config(args.config).outbox.url
    state: State = "dead" if args.dead else "pending"
    if url:
        return on_database(args, url, state)
    path = outbox_path(args.data_dir)
    if not path.is_file():
        raise ConfigError(f"no outbox at {path} (see --data-dir)")
    store = OutboxAdmin(path)
    try:
        if args.action == "retry":
            count = store.retry_dead(args.receiver, args.ids, now=time.time())
            print(f"{count} dead letter(s) queued again")
        elif args.action == "purge":
            count = store.purge(state, args.receiver, args.ids)
            print(f"{count} {state} message(s) deleted")
        else:
            print_items(store.items(state, args.receiver, args.ids), redactor(args.config, url))
    finally:
        store.close()
    return 0


def on_database(args: argparse.Namespace, url: str, state: State) -> int:
    """list|retry|purge on the PostgreSQL outbox, while the replicas serve."""
    pg = pg_admin(url)
    where = (args.receiver, args.ids)
    if args.action == "retry":
        count = database_call(url, pg.retry_dead(url, *where, now=time.time()))
        print(f"{count} dead letter(s) queued again")
    elif args.action == "purge":
        count = database_call(url, pg.purge(url, state, *where))
        print(f"{count} {state} message(s) deleted")
    else:
        print_items(database_call(url, pg.items(url, state, *where)), redactor(args.config, url))
    return 0


def migrate_outbox(source: str, target: str) -> int:
    """SQLite file -> PostgreSQL, or back; the file side must exist when it is the source."""
    is_url = [s.startswith(("postgresql://", "postgres://")) for s in (source, target)]
    if is_url.count(True) != 1:
        raise ConfigError("outbox migrate: one of --from/--to is an outbox file, the other a URL")
    url = source if is_url[0] else target
    pg = pg_admin(url)
    if is_url[1]:
        if not Path(source).is_file():
            raise ConfigError(f"no outbox at {source}")
        copied, there = database_call(url, pg.sqlite_to_postgres(source, url, now=time.time()))
    else:
        copied, there = database_call(url, pg.postgres_to_sqlite(url, target))
    where = [redact_url(s) if u else s for s, u in zip((source, target), is_url, strict=True)]
    print(f"{copied} message(s) copied from {where[0]} to {where[1]}, {there} already there")
    return 0


def pg_admin(url: str) -> Any:
    try:
        from app.outbox import pg_admin as module
    except ImportError:
        raise ConfigError(
            "a postgresql:// outbox needs the postgres extra: pip install 'alertbridge[postgres]'"
        ) from None
    return module


def database_call(url: str, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; a database error is a ConfigError (exit 2) without the password."""
    import psycopg

    from app.outbox.pg_schema import PgSchemaError

    try:
        return asyncio.run(work)
    except (psycopg.Error, OSError, PgSchemaError) as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        secret = Redactor(dsn_secrets(url))
        raise ConfigError(f"outbox database {redact_url(url)}: {secret.scrub(text)}") from None


def redactor(config_path: Path | None, url: str) -> Redactor:
    """The secrets of the config `serve` runs with (the file given, else the embedded default)
    and the database's password: a bot may have echoed its token in an error, and an outbox
    written before errors were scrubbed still holds it."""
    config = default_config() if config_path is None else load_config(config_path)
    return Redactor(config.secrets() + dsn_secrets(url))


def print_items(items: list[OutboxItem], redactor: Redactor) -> None:
    """One line per message and its last error, scrubbed."""
    from app.rendering.style import card_title

    for item in items:
        created = datetime.fromtimestamp(item.created_at, UTC).isoformat(timespec="seconds")
        title = card_title(item.notification, 1, 1, 80) if item.notification.alerts else ""
        line = f"{item.id}  {item.receiver}  {created}  attempts={item.attempts}  {title}"
        print(redactor.scrub(line))
        if item.last_error:
            print(f"    {redactor.scrub(item.last_error)}")
