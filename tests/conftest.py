"""Test-session set-up shared by every test module: the Hypothesis profile (support/profiles.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
