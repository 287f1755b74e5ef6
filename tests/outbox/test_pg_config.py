"""Choosing the PostgreSQL outbox (outbox.url or env ALERTBRIDGE_OUTBOX_URL) and keeping its
password out of every output: the config's secrets, the redactor, and `serve`'s refusal to start
(exit 2, a readable message) when the database cannot be used."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from app.bridge import OUTBOX_URL_ENV, open_outbox
from app.cli.main import main
from app.config.load import parse_config
from app.config.model import ConfigError
from app.ops.redaction import Redactor
from app.outbox.pg_lease import HOLDER
from app.outbox.sqlite import SqliteOutbox
from tests.support.launcher import free_port
from tests.support.postgres import PostgresServer

PASSWORD = "pg-S3cret/p@ss+word"
URL = f"postgresql://alertbridge:{quote(PASSWORD, safe='')}@127.0.0.1:5432/alertbridge"
RECEIVERS = [{"name": "ops", "platform": "console"}]


def test_the_url_password_is_a_secret_as_written_and_decoded() -> None:
    config = parse_config({"receivers": RECEIVERS, "outbox": {"url": URL}})
    redactor = Redactor(config.secrets())
    for text in (URL, PASSWORD, quote(PASSWORD, safe="")):
        assert PASSWORD not in redactor.scrub(f"error: {text}")
        assert quote(PASSWORD, safe="") not in redactor.scrub(f"error: {text}")
    # The database's (and the user's) name stays readable: it is also the program's name.
    assert redactor.scrub("alertbridge outbox") == "alertbridge outbox"


def test_a_url_that_is_not_postgresql_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"receivers": RECEIVERS, "outbox": {"url": f"mysql://u:{PASSWORD}@h/db"}})
    assert "postgresql://" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_no_url_is_the_sqlite_file_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("psycopg")
    config = parse_config({"receivers": RECEIVERS})
    monkeypatch.delenv(OUTBOX_URL_ENV, raising=False)
    sqlite = open_outbox(config, tmp_path / "outbox.db")
    assert isinstance(sqlite, SqliteOutbox)
    sqlite.db.close()
    monkeypatch.setenv(OUTBOX_URL_ENV, URL)
    outbox = open_outbox(config, tmp_path / "other.db")
    assert type(outbox).__name__ == "PostgresOutbox"
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("wrong", ["password", "port"])
def test_serve_with_a_wrong_url_exits_2_with_a_readable_message(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    wrong: str,
) -> None:
    pytest.importorskip("psycopg")
    server = postgres_server
    if wrong == "password":
        url = server.dsn.replace(quote(server.password, safe=""), quote(PASSWORD, safe=""))
    else:
        url = server.dsn.replace(f":{server.port}/", f":{free_port()}/")
    monkeypatch.setenv(OUTBOX_URL_ENV, url)
    config = tmp_path / "config.yaml"
    config.write_text("receivers:\n  - name: ops\n    platform: console\n")
    assert main(["serve", "--config", str(config), "--data-dir", str(tmp_path / "d")]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "outbox database postgresql://127.0.0.1" in text
    assert ("password authentication failed" if wrong == "password" else "failed") in text
    for secret in (PASSWORD, quote(PASSWORD, safe=""), server.password):
        assert secret not in text


async def test_status_and_metrics_name_the_backend_and_the_holder_but_not_the_password(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    from app.bridge import Bridge
    from tests.support.app import running_app
    from tests.support.postgres import scratch_dsn

    url = scratch_dsn(postgres_server)
    monkeypatch.setenv(OUTBOX_URL_ENV, url)
    config = parse_config({"receivers": RECEIVERS, "heartbeat": {"receiver": "ops"}})
    bridge = Bridge(config, config_source="test", outbox=open_outbox(config, ":memory:"))
    async with running_app(config, bridge=bridge) as client:
        for _ in range(50):
            report = (await client.get("/status")).json()
            if report["receivers"]["ops"]["lease_holder"]:
                break
            await asyncio.sleep(0.1)
        metrics = (await client.get("/metrics")).text
        console = (await client.get("/ui/")).text  # a loopback client: read-only, no login
        texts = [str(report), metrics, console]
    assert f"{HOLDER} (this replica)" in console  # the overview's Lease column
    assert report["outbox"] == {"backend": "postgresql"}
    assert report["receivers"]["ops"]["lease_holder"] == HOLDER
    assert report["receivers"]["ops"]["lease_held_here"] is True
    assert 'alertbridge_ha_lease_changes_total{receiver="ops"} 1.0' in metrics
    assert 'alertbridge_ha_lease_changes_total{receiver="_heartbeat"} 1.0' in metrics
    assert "alertbridge_outbox_db_errors_total 0.0" in metrics
    for text in texts:
        assert postgres_server.password not in text
        assert quote(postgres_server.password, safe="") not in text


async def cut_off(server: PostgresServer) -> None:
    """Terminate the outbox's connections until none is left (one being opened when the
    port changed may still complete)."""
    sql = "FROM pg_stat_activity WHERE application_name = 'alertbridge'"
    for _ in range(50):
        server.psql_as_superuser(f"SELECT pg_terminate_backend(pid) {sql}")
        await asyncio.sleep(0.2)
        if server.psql_as_superuser(f"SELECT count(*) {sql}").strip() == "0":
            return
    raise AssertionError("the outbox's connections keep coming back")


async def test_a_database_outage_is_503_on_ready_and_inbound_while_status_answers(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    from app.bridge import Bridge
    from tests.support.app import running_app
    from tests.support.postgres import scratch_dsn

    monkeypatch.setenv(OUTBOX_URL_ENV, scratch_dsn(postgres_server))
    config = parse_config({"receivers": RECEIVERS})
    outbox: Any = open_outbox(config, ":memory:")
    bridge = Bridge(config, config_source="test", outbox=outbox)
    alert = {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "2024-01-01T00:00:00Z"}
    body = {"version": "4", "status": "firing", "alerts": [alert]}
    async with running_app(config, bridge=bridge) as client:
        assert (await client.get("/ready")).json() == {"ready": True}
        # The database goes away: no new connection can be made, every pooled one dies.
        outbox.pool.kwargs["port"] = free_port()
        await cut_off(postgres_server)
        ready = await client.get("/ready")
        started = time.monotonic()
        inbound = await client.post("/alertmanager", json=body)
        took = time.monotonic() - started  # Alertmanager must get its 503 promptly, never a hang
        status = await client.get("/status")
        metrics = (await client.get("/metrics")).text
    assert ready.status_code == 503
    assert inbound.status_code == 503
    assert status.status_code == 200
    assert status.json()["receivers"]["ops"]["backlog"] is None
    assert "error" in status.json()["outbox"]
    assert took < 10
    assert "alertbridge_outbox_db_errors_total 0.0" not in metrics
    for text in (ready.text, inbound.text, status.text, metrics):
        assert postgres_server.password not in text
