"""Test-session set-up shared by every test module: the Hypothesis profile (support/profiles.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app.outbox.sqlite import SqliteOutbox
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.profiles import load_from_environment

load_from_environment()


def pytest_configure(config: pytest.Config) -> None:
    # When a property fails, Hypothesis's pytest plugin imports libcst to suggest an @example
    # patch; libcst 1.0 touches the deprecated mypy_extensions.TypedDict, and `filterwarnings =
    # error` turned that into an INTERNALERROR that aborted the session instead of a failure.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the session (tests/support/postgres.py): skips without
    PostgreSQL installed, fails under CI=true. Tests keep apart with a schema each."""
    with running_postgres() as server:
        yield server


@pytest.fixture(autouse=True)
def close_the_outboxes_a_test_left_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Closes, at the end of each test, every SQLite outbox it opened and left open (the
    in-memory ones of test harnesses, mostly). Python 3.13 warns about a connection that is
    garbage-collected unclosed, and `filterwarnings = error` then fails whichever later test
    the collector happens to run in."""
    opened: list[SqliteOutbox] = []
    init = SqliteOutbox.__init__

    def recording_init(self: SqliteOutbox, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(SqliteOutbox, "__init__", recording_init)
    yield
    for outbox in opened:
        asyncio.run(outbox.close())  # closing twice is harmless: the test may have closed it
