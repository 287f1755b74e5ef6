"""Test-session set-up shared by every test module: the Hypothesis profile (support/profiles.py)."""

from __future__ import annotations

import weakref
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


@pytest.fixture(autouse=True, scope="session")
def outboxes_close_their_database_when_collected() -> Iterator[None]:
    """Test harnesses open in-memory SQLite outboxes and drop them without `close()` (some
    outlive a test: module-scoped services). Python 3.13 warns about a connection collected
    unclosed, and `filterwarnings = error` then fails whichever test the collector runs in; so
    each outbox closes its connection when it is collected itself."""
    init = SqliteOutbox.__init__

    def init_closing_when_collected(self: SqliteOutbox, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        weakref.finalize(self, self.db.close)  # holds the connection, not the outbox

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SqliteOutbox, "__init__", init_closing_when_collected)
        yield
