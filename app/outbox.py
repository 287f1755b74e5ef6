"""The delivery queue contract (Outbox) and its in-memory implementation.

A message is enqueued before the inbound request is answered and leaves the queue only when the
platform accepted it (ack) or it is given up on (bury, a dead letter). Each receiver's queue is
served in order by one worker, which always gets the oldest pending message first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.senders.base import Message


class OutboxFull(Exception):
    """The outbox cannot take more now; the caller answers 503 so the sender retries later."""


@dataclass(slots=True)
class OutboxItem:
    id: str  # stable across retries, so a duplicate after an ambiguous timeout is recognisable
    receiver: str
    message: Message
    created_at: float  # wall-clock seconds
    attempts: int = 0
    not_before: float = 0.0  # wall-clock seconds; the worker waits until then
    last_error: str = ""


@dataclass(slots=True)
class DeadLetter:
    item: OutboxItem
    reason: str
    at: float = field(default_factory=time.time)


class Outbox(Protocol):
    def enqueue(self, batch: Mapping[str, Sequence[Message]]) -> list[str]:
        """Queue all messages of `batch` (receiver → messages) or none of them (OutboxFull)."""

    async def next_item(self, receiver: str) -> OutboxItem:
        """The receiver's oldest pending message, waiting while there is none."""

    def ack(self, item: OutboxItem) -> None:
        """The platform accepted it: forget it."""

    def postpone(self, item: OutboxItem, until: float, error: str) -> None:
        """A retryable failure: keep it at the head, not to be tried again before `until`."""

    def bury(self, item: OutboxItem, reason: str) -> None:
        """Give up on it: move it to the dead letters."""

    def backlog(self, receiver: str) -> int: ...

    def dead_count(self, receiver: str) -> int: ...


class MemoryOutbox:
    """Outbox kept in process memory: fast, but a restart loses what is pending."""

    def __init__(self, max_backlog: int) -> None:
        self.max_backlog = max_backlog
        self.queues: dict[str, deque[OutboxItem]] = {}
        self.dead: dict[str, list[DeadLetter]] = {}
        self.wakeups: dict[str, asyncio.Event] = {}

    def _queue(self, receiver: str) -> deque[OutboxItem]:
        return self.queues.setdefault(receiver, deque())

    def _wakeup(self, receiver: str) -> asyncio.Event:
        return self.wakeups.setdefault(receiver, asyncio.Event())

    def enqueue(self, batch: Mapping[str, Sequence[Message]]) -> list[str]:
        for receiver, messages in batch.items():
            if len(self._queue(receiver)) + len(messages) > self.max_backlog:
                raise OutboxFull(f"backlog of receiver {receiver} is full ({self.max_backlog})")
        now = time.time()
        ids: list[str] = []
        for receiver, messages in batch.items():
            for message in messages:
                item = OutboxItem(uuid.uuid4().hex, receiver, message, created_at=now)
                self._queue(receiver).append(item)
                ids.append(item.id)
            self._wakeup(receiver).set()
        return ids

    async def next_item(self, receiver: str) -> OutboxItem:
        queue, wakeup = self._queue(receiver), self._wakeup(receiver)
        while not queue:
            wakeup.clear()
            await wakeup.wait()
        return queue[0]

    def _remove(self, item: OutboxItem) -> None:
        queue = self._queue(item.receiver)
        if queue and queue[0] is item:
            queue.popleft()
        elif item in queue:
            queue.remove(item)

    def ack(self, item: OutboxItem) -> None:
        self._remove(item)

    def postpone(self, item: OutboxItem, until: float, error: str) -> None:
        item.attempts += 1
        item.not_before = until
        item.last_error = error

    def bury(self, item: OutboxItem, reason: str) -> None:
        self._remove(item)
        self.dead.setdefault(item.receiver, []).append(DeadLetter(item, reason))

    def backlog(self, receiver: str) -> int:
        return len(self._queue(receiver))

    def dead_count(self, receiver: str) -> int:
        return len(self.dead.get(receiver, []))
