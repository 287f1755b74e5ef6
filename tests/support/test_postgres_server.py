"""The throwaway PostgreSQL server (tests/support/postgres.py): it answers psql over TCP with its
password DSN and only with the right password, keeps its data across a restart (also a crash
restart), stops and starts again, leaves nothing behind, keeps the password out of what a test
prints, and skips without PostgreSQL except under CI=true."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.postgres import PostgresError, PostgresServer, ShutdownMode, running_postgres


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres() as started:
        yield started


def refuses_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((postgres.LOOPBACK, port)) != 0


def test_answers_psql_over_tcp_with_the_password_dsn(server: PostgresServer) -> None:
    answer = server.psql("SELECT current_user, current_database(), inet_server_addr()")

    assert answer.strip() == f"{server.user}|{server.database}|{postgres.LOOPBACK}"


def test_user_owns_its_database_and_can_create_tables(server: PostgresServer) -> None:
    server.psql("CREATE TABLE owned (id int)")

    owner = server.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'owned'")

    assert owner.strip() == server.user


def test_refuses_a_wrong_password(server: PostgresServer) -> None:
    wrong = server.dsn.replace(server.password, "not-the-password")

    with pytest.raises(PostgresError, match="password authentication failed"):
        server.psql("SELECT 1", dsn=wrong)


@pytest.mark.parametrize("mode", ["fast", "immediate"], ids=["clean-restart", "crash-restart"])
def test_keeps_committed_rows_across_a_restart(server: PostgresServer, mode: ShutdownMode) -> None:
    table = f"kept_{mode}"
    server.psql(f"CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (1), (2)")
    port = server.port

    server.restart(mode=mode)

    assert server.port == port, "the DSN stays valid across a restart"
    assert server.psql(f"SELECT sum(n) FROM {table}").strip() == "3"


def test_stops_and_starts_again(server: PostgresServer) -> None:
    server.stop()
    stopped = (server.is_running(), refuses_connections(server.port))

    server.start()

    assert stopped == (False, True)
    assert server.is_running()
    assert server.psql("SELECT 1").strip() == "1"


def test_runs_as_the_postgres_os_user_when_root(server: PostgresServer) -> None:
    owner = server.data_dir.stat().st_uid

    if os.geteuid() == 0:
        assert (server.run_as, owner) == ("postgres", pwd.getpwnam("postgres").pw_uid)
    else:
        assert (server.run_as, owner) == (None, os.geteuid())


def test_listens_on_loopback_only_with_its_socket_inside_its_directory(
    server: PostgresServer,
) -> None:
    settings = server.psql_as_superuser(
        "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')"
    )

    assert settings.strip() == f"{postgres.LOOPBACK}|{server.root}"
    assert (server.root / f".s.PGSQL.{server.port}").is_socket()


def test_keeps_the_password_out_of_reprs_errors_and_its_log(server: PostgresServer) -> None:
    with pytest.raises(PostgresError) as failed:
        server.psql("SELECT no_such_column FROM no_such_table")
    texts = {
        "repr": repr(server),
        "error": str(failed.value),
        "redacted dsn": server.redacted_dsn,
        "server log": server.log_tail(),
    }

    # Only booleans in the comparison: a failing assert must not print the password itself.
    leaks = {name: server.password in text for name, text in texts.items()}

    assert leaks == dict.fromkeys(texts, False)
    assert "no_such_table" in texts["error"]


def test_removal_stops_the_server_and_deletes_its_directory() -> None:
    with running_postgres(database="scratch", user="someone") as scratch:
        root, port = scratch.root, scratch.port
        assert scratch.psql("SELECT current_database()").strip() == "scratch"

    assert not root.exists()
    assert refuses_connections(port)


def test_servers_are_independent(server: PostgresServer) -> None:
    with running_postgres() as other:
        assert (other.port, other.root) != (server.port, server.root)
        assert other.password != server.password
        with pytest.raises(PostgresError, match="password authentication failed"):
            server.psql("SELECT 1", dsn=other.dsn.replace(str(other.port), str(server.port)))


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("", pytest.skip.Exception), ("true", pytest.fail.Exception)],
    ids=["skips-locally", "fails-under-ci"],
)
def test_without_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(postgres, "candidate_bindirs", lambda: iter([tmp_path]))

    with pytest.raises(outcome, match="PostgreSQL is not installed"):
        postgres.start_postgres()
