"""`alertbridge outbox list|retry|purge` on the PostgreSQL outbox, and `outbox migrate` from an
outbox file to PostgreSQL and back: same ids, same order, dedup memory kept, idempotent, and
the password in no output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.bridge import OUTBOX_URL_ENV
from app.cli.main import main
from app.models import Notification
from app.outbox.contract import Entry, OutboxItem
from app.outbox.schema import outbox_path
from app.outbox.sqlite import SqliteOutbox
from tests.support.launcher import free_port
from tests.support.postgres import PostgresServer, scratch_dsn
from tests.support.queues import entry, listed


async def queued_in_file(path: Path) -> list[str]:
    old = SqliteOutbox(path)
    empty = Notification(kind="alert", status="firing", alerts=[])
    ids = await old.enqueue(
        {"ops": [entry({"text": "first"}), Entry(None, empty), entry({"text": "to die"})]},
        seen_key="am-notification",
    )
    assert ids is not None
    await old.bury(ids[2:], "permanent failure: 310000")
    await old.close()
    return ids


async def on_database(url: str) -> tuple[list[OutboxItem], int, float | None]:
    """(pending, dead count, when the notification was seen) in the PostgreSQL outbox."""
    from app.outbox.postgres import PostgresOutbox

    outbox = PostgresOutbox(url)
    await outbox.open()
    try:
        return (
            await listed(outbox, "ops"),
            await outbox.dead_count("ops"),
            await outbox.seen_at("am-notification"),
        )
    finally:
        await outbox.close()


async def in_file(path: Path) -> list[str]:
    outbox = SqliteOutbox(path)
    try:
        return [i.id for i in await listed(outbox, "ops")]
    finally:
        await outbox.close()


def test_migrate_there_and_back_then_list_retry_purge_on_the_database(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pytest.importorskip("psycopg")
    url = scratch_dsn(postgres_server)
    monkeypatch.delenv(OUTBOX_URL_ENV, raising=False)
    ids = asyncio.run(queued_in_file(outbox_path(tmp_path)))

    outputs = []
    for _ in range(2):
        assert main(["outbox", "migrate", "--from", str(outbox_path(tmp_path)), "--to", url]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0].startswith("3 message(s) copied from")
    assert outputs[1].startswith("0 message(s) copied from")
    assert "3 already there" in outputs[1]

    queued, dead, seen = asyncio.run(on_database(url))
    assert [i.id for i in queued] == ids[:2]
    assert (queued[0].message, queued[1].message) == ({"text": "first"}, None)
    assert dead == 1
    assert seen is not None

    monkeypatch.setenv(OUTBOX_URL_ENV, url)
    assert main(["outbox", "list"]) == 0
    listing = capsys.readouterr().out
    assert [line.split()[0] for line in listing.splitlines() if line[:1] != " "] == ids[:2]
    assert main(["outbox", "list", "--dead"]) == 0
    assert "310000" in capsys.readouterr().out
    assert main(["outbox", "retry"]) == 0
    outputs.append(capsys.readouterr().out)
    assert outputs[-1].startswith("1 dead letter(s) queued again")
    assert [i.id for i in asyncio.run(on_database(url))[0]] == ids  # back at the end
    assert main(["outbox", "purge", "--id", ids[0]]) == 0
    outputs.append(capsys.readouterr().out)
    assert outputs[-1].startswith("1 pending message(s) deleted")

    back = tmp_path / "back.db"
    assert main(["outbox", "migrate", "--from", url, "--to", str(back)]) == 0
    outputs.append(capsys.readouterr().out)
    assert outputs[-1].startswith("2 message(s) copied")
    assert asyncio.run(in_file(back)) == ids[1:]
    for output in outputs:
        assert postgres_server.password not in output


def test_a_database_that_cannot_be_reached_is_exit_2_without_the_password(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg")
    closed = postgres_server.dsn.replace(f":{postgres_server.port}/", f":{free_port()}/")
    monkeypatch.setenv(OUTBOX_URL_ENV, closed)
    assert main(["outbox", "list"]) == 2
    err = capsys.readouterr().err
    assert "outbox database postgresql://127.0.0.1" in err
    assert postgres_server.password not in err
