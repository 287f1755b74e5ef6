"""What a worker sends and what came of it: the Batch of one send, the backoff before a retry,
and the per-receiver health and recent deliveries that /status and the console show."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from app.models import Message
from app.outbox.contract import OutboxItem

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0

Outcome = Literal["delivered", "retry", "dead"]
# Deliveries kept per worker for the console's receiver page: in memory, gone on restart.
RECENT_DELIVERIES = 50


@dataclass(slots=True)
class ReceiverHealth:
    """What /status shows per receiver."""

    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    sent: int = 0
    failures_in_a_row: int = 0  # failed attempts since the last delivery


@dataclass(frozen=True, slots=True)
class Delivery:
    """One send's outcome, as the console lists it."""

    at: float  # wall-clock seconds
    outcome: Outcome
    code: str | None  # the platform's code ("0", "19024", "http_503", "timeout")
    latency_ms: float
    messages: int  # more than one: a digest


@dataclass(frozen=True, slots=True)
class Batch:
    """What one send carries: one queued message, or a digest standing for several."""

    message: Message
    ids: list[str]
    head: OutboxItem  # the oldest: its attempts, backoff and age stand for the batch

    @property
    def label(self) -> str:
        if len(self.ids) == 1:
            return f"message {self.head.id}"
        return f"digest of {len(self.ids)} messages ({self.head.id} … {self.ids[-1]})"


def backoff_seconds(
    attempt: int, hint: float | None, rng: random.Random, first: float = BACKOFF_FIRST_SECONDS
) -> float:
    """Exponential backoff with jitter, never shorter than the platform's own wait hint."""
    ceiling = min(BACKOFF_MAX_SECONDS, first * 2 ** max(0, attempt - 1))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, hint or 0.0)
