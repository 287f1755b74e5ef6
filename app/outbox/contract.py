"""The delivery queue contract (Outbox): what the inbound path, the workers and /status rely on.

A message is enqueued before the inbound request is answered, as the notification it is about
(its worker renders the card when it comes to send it, and puts the card's parts in its place:
expand), and leaves the queue only when the platform accepted it (ack) or it is given up on
(bury: a dead letter, kept until retried or purged). Each receiver's queue is served in order
by one worker, which always gets the oldest due message first. The outbox also remembers what
de-duplication needs: Alertmanager notifications recently queued, and when each kube-eventer
event last went out per receiver.
Implementations: app/outbox/sqlite.py (the embedded default); app/outbox/admin.py is the CLI's
side of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.models import Message, Notification, Rendered, Summary

State = Literal["pending", "dead"]


class OutboxFull(Exception):
    """The outbox cannot take more now; the caller answers 503 so the sender retries later."""


class OutboxWriteError(Exception):
    """A change could not be committed (disk full, a disk gone read-only, an I/O error, a lock
    held too long); none of it was stored. The message says why, without a path or a secret."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One message to queue for a receiver, with the alerts it accounts for (digests count them).

    `message` None means "render it when it is sent": the inbound path queues notifications, not
    cards, so that a request costs the same whatever the card, and a storm's digest never pays
    for cards it replaces.

    `fold_key` names a kube-eventer event so that repeats can be folded into it; `replaces` is
    the id of a pending message this one updates in place; `hold_until` keeps it back (not
    sent before then) without holding up the messages behind it.
    """

    message: Message | None
    notification: Notification
    fold_key: str = ""
    replaces: str = ""
    hold_until: float = 0.0

    @property
    def folded(self) -> bool:
        """A repeat of a queued or recently sent event: it updates a queued message or waits."""
        return bool(self.replaces or self.hold_until)


@dataclass(slots=True)
class OutboxItem:
    id: str  # stable across retries, so a duplicate after an ambiguous timeout is recognisable
    receiver: str
    message: Message | None  # None until its worker renders it (Outbox.expand)
    notification: Notification
    created_at: float  # wall-clock seconds; the age that max_age is measured against
    attempts: int = 0
    not_before: float = 0.0  # wall-clock seconds; the worker waits until then (backoff)
    last_error: str = ""
    state: State = "pending"
    hold_until: float = 0.0
    fold_key: str = ""


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued message as a storm digest counts it: no card, no alert text."""

    id: str
    created_at: float
    summary: Summary


# The kube-eventer fold, decided inside enqueue's transaction so that no other request or
# replica can queue or send the same event in between: (the receiver, the new entry, the
# receiver's pending message with the same fold_key if one is queued, when a message with that
# key last reached the receiver if still remembered) -> the entry to store, with `replaces`
# and `hold_until` set.
FoldPolicy = Callable[[str, Entry, "OutboxItem | None", "float | None"], Entry]


class Outbox(Protocol):
    """Every method is a coroutine: an implementation may talk to a database over the network
    (PostgreSQL) or wrap synchronous calls (SQLite). Writes have committed when they return."""

    async def enqueue(
        self,
        batch: Mapping[str, Sequence[Entry]],
        *,
        seen_key: str = "",
        unless_seen_since: float | None = None,
        fold: FoldPolicy | None = None,
    ) -> list[str] | None:
        """Queue all of `batch` (receiver → entries) or none of it (OutboxFull), durably, and
        remember `seen_key` (an Alertmanager notification's identity) in the same commit; None,
        queueing nothing, when that key was remembered at or after `unless_seen_since`. Entries
        with a fold_key go through `fold` first, in the same transaction."""

    async def seen_at(self, key: str) -> float | None:
        """When a notification with this identity was last queued, if it is still remembered."""

    async def next_item(self, receiver: str) -> OutboxItem:
        """The receiver's oldest due message, waiting while there is none."""

    async def expand(self, item: OutboxItem, parts: Sequence[Rendered]) -> OutboxItem | None:
        """Put the rendered `parts` of the unrendered `item` in its place in the queue, in order,
        the first under its id; that first part, or None if the item changed meanwhile (folded,
        acked, buried), when the caller looks at the queue again."""

    async def head(self, receiver: str) -> OutboxItem | None:
        """The receiver's oldest due message, if any."""

    def oldest(self, receiver: str, count: int) -> AsyncIterator[OutboxItem]:
        """Up to `count` of the receiver's due messages, oldest first, read lazily."""

    def summaries(self, receiver: str, count: int) -> AsyncIterator[Queued]:
        """Up to `count` of the receiver's due messages as `oldest` gives them, each by its
        Summary (kept beside it since it was queued: a digest reads a few bytes a message)."""

    async def ack(self, ids: Sequence[str]) -> None:
        """The platform accepted them: forget them. Like every write below, OutboxWriteError
        when it cannot be committed."""

    async def postpone(self, item: OutboxItem, until: float, error: str) -> None:
        """A retryable failure: keep it at the head, not to be tried again before `until`."""

    async def bury(self, ids: Sequence[str], reason: str) -> None:
        """Give up on them: they become dead letters."""

    async def backlog(self, receiver: str, *, due_only: bool = False) -> int:
        """Pending messages (only those sendable now with `due_only`)."""

    async def dead_count(self, receiver: str) -> int: ...

    async def items(
        self, state: State, receiver: str, ids: Sequence[str] = (), limit: int | None = None
    ) -> list[OutboxItem]:
        """The receiver's pending or dead messages, oldest first (the console lists them)."""

    async def retry_dead(self, receiver: str, ids: Sequence[str] = ()) -> int:
        """Dead letters (all of the receiver's, or those of `ids`) back at the end of the queue
        with no attempts and a fresh age; how many."""

    async def purge(self, state: State, receiver: str, ids: Sequence[str] = ()) -> int:
        """Delete pending or dead messages (all of the receiver's, or those of `ids`)."""

    async def write_failure(self, *, probe: bool = False) -> str | None:
        """Why the last write failed, None when it committed. With `probe`, a small write is
        tried first, so the answer is about now (GET /ready); without, nothing is written
        (GET /status)."""

    async def load_state(self, name: str) -> str | None:
        """A small named value kept across restarts (the heartbeat's state)."""

    async def save_state(self, name: str, value: str) -> None: ...

    async def close(self) -> None: ...


class Lease(Protocol):
    """The right to send for one receiver (or to run the heartbeat check), held by one replica
    at a time (app/outbox/pg_lease.py: a fenced lease row and a send ledger in PostgreSQL).
    Where there is one process (SQLite), there is no lease: the worker gets None."""

    holder: str  # who this replica is: hostname/pid/random

    async def held(self) -> int:
        """Wait until this replica holds the lease; its epoch (it grows on every takeover)."""

    def is_held(self) -> bool: ...

    async def recent_sends(self, seconds: float) -> list[float]:
        """How long ago (seconds) each send to this receiver in the last `seconds` started,
        whichever replica made it: a new holder's rate limiter starts from them."""

    async def begin_send(self, ids: Sequence[str], kind: str) -> float | None:
        """Record a send about to start, if the lease is still ours and the ledger's windows
        allow one more: 0.0 (go), seconds to wait first (nothing recorded), or None (the lease
        is lost: send nothing)."""

    async def end_send(self, outcome: str) -> None:
        """The recorded send is over (whatever the platform answered)."""

    async def block_for(self, seconds: float) -> None:
        """The platform said "too fast": kept on the lease row for the next holder too."""

    async def current_holder(self) -> str | None:
        """Who holds it now, from the database (for /status)."""

    async def close(self) -> None: ...
