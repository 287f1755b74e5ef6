"""One worker per receiver: rate limit, send, and the only retry loop (backoff, give-up).

Senders classify failures (SendError.retryable); this module decides when to try again. The head
message of a receiver's queue is retried before anything behind it, so order is kept per bot. In
a storm (app/storm.py) one send carries a digest of the oldest messages instead of the oldest
one; it succeeds or fails for all of them together. A message is queued as its notification;
the card is rendered here, when it is the next to go (a digest needs no card of the messages it
stands for), off the event loop (a user's card may be slow).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from app.config.model import Receiver
from app.delivery.outcomes import (
    BACKOFF_FIRST_SECONDS,
    RECENT_DELIVERIES,
    Batch,
    Delivery,
    Outcome,
    ReceiverHealth,
    backoff_seconds,
)
from app.delivery.ratelimit import RateLimiter
from app.delivery.storm import StormControl
from app.models import Notification, Rendered
from app.ops.metrics import Metrics
from app.ops.redaction import Redactor
from app.outbox.contract import Lease, Outbox, OutboxItem, OutboxWriteError
from app.platforms.sending import Sender, SendError
from app.rendering.renderer import Renderer

log = logging.getLogger("alertbridge.delivery")

MAX_AGE_SECONDS = 24 * 3600.0  # give up on a message this old (a dead letter then)
# After an unexpected error (the outbox's disk, a bug), pause before looking at the queue again.
ERROR_PAUSE_SECONDS = 1.0


class Worker:
    def __init__(
        self,
        receiver: Receiver,
        sender: Sender,
        outbox: Outbox,
        metrics: Metrics,
        renderer: Renderer,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_age_seconds: float = MAX_AGE_SECONDS,
        storm: StormControl | None = None,
        backoff_first_seconds: float = BACKOFF_FIRST_SECONDS,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = receiver
        self.receiver = receiver.name
        self.sender = sender
        self.outbox = outbox
        self.metrics = metrics
        self.renderer = renderer
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_age_seconds = max_age_seconds
        self.storm = storm
        self.backoff_first_seconds = backoff_first_seconds
        # A bot may echo its token or our secret in an error text; that text is stored (the
        # outbox's last_error, `outbox list`) and shown (/status), so it is scrubbed first.
        self.redactor = redactor or Redactor([sender.webhook_url, sender.secret or ""])
        self.limiter = RateLimiter(sender.RATE_LIMITS)
        self.health = ReceiverHealth()
        self.recent: deque[Delivery] = deque(maxlen=RECENT_DELIVERIES)
        self.stopping = False  # finish the send in flight, then return
        self.sending = False
        self.paced_until = 0.0  # monotonic; after a digest, the next send waits until then
        self.task: asyncio.Task[None] | None = None
        # Replicas on PostgreSQL: only the lease holder sends, each send recorded (fenced) in the
        # shared ledger first. None: this process is the only sender (SQLite).
        self.lease: Lease | None = None
        self.epoch = 0  # of the lease when the limiter was last seeded from the ledger

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"worker-{self.receiver}")

    @property
    def labels(self) -> tuple[str, str]:
        return self.receiver, self.sender.platform

    async def run(self) -> None:
        """Deliver until stopped; cancelled at shutdown unless a send is in flight."""
        while not self.stopping:
            try:
                await self.step()
                depth = await self.outbox.backlog(self.receiver)
                self.metrics.queue_depth.labels(self.receiver).set(depth)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The one broad catch: nothing (the outbox's disk or database, a bug) may kill
                # the worker; whatever was not acked is still queued and is sent again.
                log.exception("unexpected error in the worker of %s", self.receiver)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    async def step(self) -> None:
        if self.lease is not None:
            await self.follow_lease(self.lease)
        head = await self.outbox.next_item(self.receiver)
        wait = head.not_before - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
            return  # and look again: the queue may have changed meanwhile
        if (pause := self.paced_until - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        await self.limiter.wait()
        batch = await self.take()
        if batch is None:
            return
        # Counted as sent only now: building a digest takes time, and the platform counts the
        # request when it arrives, not when its slot was free.
        await self.limiter.acquire()
        if self.lease is not None and not await self.recorded(self.lease, batch):
            return
        self.sending = True
        try:
            await self.attempt(batch)
        finally:
            self.sending = False
            if self.lease is not None:
                await self.lease.end_send("done")
        if len(batch.ids) > 1 and self.storm is not None:
            self.paced_until = time.monotonic() + self.storm.spacing(self.limiter)

    async def follow_lease(self, lease: Lease) -> None:
        """Wait until this replica holds the receiver's lease; on a takeover, start the rate
        limiter from the ledger (the sends of every replica in the platform's windows)."""
        epoch = await lease.held()
        if epoch != self.epoch:
            longest = max((lim.seconds for lim in self.limiter.limits), default=0.0)
            self.limiter.seed(await lease.recent_sends(longest))
            self.epoch = epoch

    async def recorded(self, lease: Lease, batch: Batch) -> bool:
        """The send recorded in the ledger, fenced: False if the lease is lost (nothing is sent)
        or another replica's sends fill a window (the caller looks at the queue again)."""
        verdict = await lease.begin_send(batch.ids, "digest" if len(batch.ids) > 1 else "single")
        if verdict is None:
            log.warning("%s not sent to %s: the lease is lost", batch.label, self.receiver)
            return False
        if verdict > 0:
            await asyncio.sleep(verdict)
            return False
        return True

    async def take(self) -> Batch | None:
        """The oldest message, or a digest of the oldest ones when the backlog is too long."""
        if self.storm is not None:
            due = await self.outbox.backlog(self.receiver, due_only=True)
            count = self.storm.coalesce_count(due, self.limiter)
            if count > 1:
                message, tally = await self.storm.digest(self.outbox, self.receiver, count)
                if tally.head is not None:
                    return Batch(message, tally.ids, tally.head)
        item = await self.outbox.head(self.receiver)
        if item is None:
            return None
        if item.message is None:
            return await self.rendered(item)
        return Batch(item.message, [item.id], item)

    async def render(self, notification: Notification) -> list[Rendered]:
        """The card's parts, rendered on a thread: a slow user card must not hold up the event
        loop (inbound requests, /status), only this receiver's queue."""
        return await asyncio.to_thread(self.renderer.render_parts, self.config, notification)

    async def rendered(self, item: OutboxItem) -> Batch | None:
        """The first part of the item's card, the others queued behind it; None if the item
        changed while its card was rendering (the caller looks at the queue again)."""
        try:
            parts = await self.render(item.notification)
        except Exception:
            # The renderer falls back to plain text when a card fails, so this is a bug: keep
            # the message as a dead letter (`alertbridge outbox retry` once fixed) rather than
            # block every message behind it, retrying a render that fails the same way.
            log.exception("rendering message %s for %s failed", item.id, self.receiver)
            await self.record(
                "a dead letter",
                lambda: self.outbox.bury([item.id], "render failed: internal error"),
            )
            self.metrics.dead.labels(*self.labels).inc()
            return None
        first = await self.outbox.expand(item, parts)
        if first is None:
            return None
        if len(parts) > 1:  # counted as one message when it was queued
            self.metrics.enqueued.labels(*self.labels).inc(len(parts) - 1)
        return Batch(parts[0].message, [first.id], first)

    async def attempt(self, batch: Batch) -> None:
        started = time.monotonic()
        try:
            answer = await self.sender.send(batch.message)
        except SendError as error:
            await self.failed(batch, error, self.observe(started))
            return
        except Exception:
            # A bug in a sender: retried like any transient failure.
            seconds = self.observe(started)
            log.exception("unexpected error sending %s to %s", batch.label, self.receiver)
            internal = SendError("internal error", retryable=True, code="internal")
            await self.failed(batch, internal, seconds)
            return
        seconds = self.observe(started)
        await self.record("a delivery", lambda: self.outbox.ack(batch.ids))
        self.metrics.sent.labels(*self.labels).inc()
        if len(batch.ids) > 1:
            self.metrics.digests.labels(*self.labels).inc()
            self.metrics.coalesced.labels(*self.labels).inc(len(batch.ids))
        self.health.last_success = self.clock()
        self.health.sent += 1
        self.health.failures_in_a_row = 0
        code = answer.code if answer else None
        log.info(
            "delivered %s to %s (%s) after %d attempt(s) in %.0f ms",
            batch.label,
            self.receiver,
            self.sender.platform,
            batch.head.attempts + 1,
            seconds * 1000,
            extra=self.record_outcome(batch, "delivered", code, seconds),
        )

    async def record(self, outcome: str, write: Callable[[], Awaitable[None]]) -> None:
        """Commit a send's outcome (ack, postpone, bury), trying again with backoff for as long
        as the outbox cannot (disk full, read-only). Nothing else is sent to this receiver
        meanwhile: the head message would go out again, once a second, for as long as its ack
        could not be written. A stop gives up waiting: the message stays queued and is sent
        once more after the restart, the one duplicate at-least-once allows."""
        failures = 0
        while True:
            try:
                await write()
                return
            except OutboxWriteError as error:
                failures += 1
                if self.stopping:
                    log.warning("could not record %s for %s: %s", outcome, self.receiver, error)
                    return
                delay = backoff_seconds(failures, None, self.rng, self.backoff_first_seconds)
                log.warning(
                    "cannot record %s for %s in the outbox (%s); sending nothing to it until"
                    " that works, next try in %.1fs",
                    outcome,
                    self.receiver,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)

    def observe(self, started: float) -> float:
        """Record the send's latency; returns it in seconds for the outcome's log line."""
        seconds = time.monotonic() - started
        self.metrics.send_latency.labels(self.sender.platform).observe(seconds)
        return seconds

    def record_outcome(
        self, batch: Batch, outcome: Outcome, code: str | None, seconds: float
    ) -> dict[str, object]:
        """Keep the outcome in the ring of recent deliveries (the console's) and return the
        structured fields of its one log line (shown as JSON by --log-format json; the text
        format says the same in its message)."""
        latency_ms = round(seconds * 1000, 1)
        self.recent.append(Delivery(self.clock(), outcome, code, latency_ms, len(batch.ids)))
        return {
            "receiver": self.receiver,
            "platform": self.sender.platform,
            "message_id": batch.head.id,
            "messages": len(batch.ids),  # more than one: a digest, all with the same outcome
            "attempt": batch.head.attempts + 1,
            "code": code,
            "latency_ms": latency_ms,
            "outcome": outcome,
        }

    async def failed(self, batch: Batch, error: SendError, seconds: float) -> None:
        self.metrics.failed.labels(*self.labels, error.code, str(error.retryable).lower()).inc()
        text = self.redactor.scrub(error.message)
        self.health.last_error = f"{error.code}: {text}"
        self.health.last_error_at = self.clock()
        self.health.failures_in_a_row += 1
        if error.retryable and error.retry_after:
            # The platform's own "slow down": pause the whole bot, not just this message.
            self.limiter.block_for(error.retry_after)
            if self.lease is not None:
                await self.lease.block_for(error.retry_after)
        too_old = self.clock() - batch.head.created_at > self.max_age_seconds
        if error.retryable and not too_old:
            await self.retry(batch, error, text, seconds)
            return
        reason = "too old" if too_old else "permanent failure"
        log.error(
            "giving up on %s to %s (%s) after %d attempt(s), %s: %s",
            batch.label,
            self.receiver,
            self.sender.platform,
            batch.head.attempts + 1,
            reason,
            text,
            extra=self.record_outcome(batch, "dead", error.code, seconds),
        )
        dead = f"{reason}: {error.code}: {text}"
        await self.record("a dead letter", lambda: self.outbox.bury(batch.ids, dead))
        self.metrics.dead.labels(*self.labels).inc(len(batch.ids))

    async def retry(self, batch: Batch, error: SendError, text: str, seconds: float) -> None:
        """Postpone with backoff; `text` is the error's message, scrubbed."""
        item = batch.head
        delay = backoff_seconds(
            item.attempts + 1, error.retry_after, self.rng, self.backoff_first_seconds
        )
        log.warning(
            "%s to %s (%s) failed (%s: %s); attempt %d, retrying in %.1fs",
            batch.label,
            self.receiver,
            self.sender.platform,
            error.code,
            text,
            item.attempts + 1,
            delay,
            extra=self.record_outcome(batch, "retry", error.code, seconds),
        )
        until = self.clock() + delay
        await self.record(
            "a retry", lambda: self.outbox.postpone(item, until, f"{error.code}: {text}")
        )
        self.metrics.retries.labels(*self.labels).inc()


async def stop_workers(workers: Sequence[Worker], grace: float) -> None:
    """Idle workers stop at once; a send in flight may finish within `grace`, else it is
    cancelled. Nothing is lost either way: what was not acked stays queued."""
    tasks = [w.task for w in workers if w.task is not None]
    for worker in workers:
        worker.stopping = True
        if not worker.sending and worker.task is not None:
            worker.task.cancel()
    busy = [w.receiver for w in workers if w.sending]
    if busy:
        log.info("waiting up to %.1fs for sends in flight to %s", grace, ", ".join(busy))
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
