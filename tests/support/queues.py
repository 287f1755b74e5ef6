"""Helpers for queue tests: notifications to account for, outbox entries, a clock tests move."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from app.models import Alert, Notification, Status
from app.outbox.contract import Entry, Outbox, OutboxItem

START = 1_700_000_000.0


class Clock:
    """Wall-clock seconds that only move when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def alert(
    name: str = "TestAlert",
    severity: str = "warning",
    status: Status = "firing",
    fingerprint: str = "",
    **labels: str,
) -> Alert:
    return Alert(
        status=status,
        labels={"alertname": name, "severity": severity, **labels},
        annotations={"summary": f"{name} is {status}"},
        starts_at=datetime.fromtimestamp(START, UTC),
        ends_at=datetime.fromtimestamp(START + 60, UTC) if status == "resolved" else None,
        fingerprint=fingerprint or f"{name}-{severity}-{status}",
    )


def notification(*alerts: Alert, group_key: str = "{}:{}") -> Notification:
    chosen = list(alerts) or [alert()]
    status: Status = "firing" if any(a.status == "firing" for a in chosen) else "resolved"
    return Notification(kind="alert", status=status, alerts=chosen, group_key=group_key)


def entry(message: dict[str, Any], about: Notification | None = None, **options: Any) -> Entry:
    return Entry(message, about or notification(), **options)


async def equals(value: Awaitable[int], expected: int) -> bool:
    """For wait_for predicates over the outbox's (async) counts."""
    return await value == expected


async def listed(outbox: Outbox, receiver: str, count: int = 100) -> list[OutboxItem]:
    """The receiver's due messages, oldest first, as a list."""
    return [item async for item in outbox.oldest(receiver, count)]
