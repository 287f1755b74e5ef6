"""Fixtures for the end-to-end tests: a process launcher that always kills what it started, the
fake bots on a loopback port, a throwaway PostgreSQL, and the processes' logs attached to every
failing test's report."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.bots import Bots, serving_bots
from tests.support.launcher import Processes
from tests.support.postgres import PostgresServer, running_postgres


def _processes(log_dir: Path) -> Iterator[Processes]:
    with Processes(log_dir) as processes:
        yield processes


def _bots() -> Iterator[Bots]:
    with serving_bots() as bots:
        yield bots


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start processes with `processes.start(...)`; all are stopped (then killed) at teardown."""
    yield from _processes(tmp_path)


@pytest.fixture(scope="module")
def module_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    yield from _processes(tmp_path_factory.mktemp("processes"))


@pytest.fixture
def bots() -> Iterator[Bots]:
    yield from _bots()


@pytest.fixture(scope="module")
def module_bots() -> Iterator[Bots]:
    yield from _bots()


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for this test (skipped without psycopg or PostgreSQL)."""
    pytest.importorskip("psycopg")
    with running_postgres() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, add each started process's log and the fake bots' request log to the report."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        values = getattr(item, "funcargs", {}).values()
        for value in values:
            if isinstance(value, Processes):
                report.sections.extend(value.report())
            elif isinstance(value, Bots):
                report.sections.append(("fake bots", value.summary()))
    return report
