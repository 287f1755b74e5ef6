"""One worker per receiver: rate limit, send, and the only retry loop (backoff, give-up).

Senders classify failures (SendError.retryable); this module decides when to try again. The head
message of a receiver's queue is retried before anything behind it, so order is kept per bot.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.metrics import Metrics
from app.outbox import Outbox, OutboxItem
from app.ratelimit import RateLimiter
from app.senders.base import Sender, SendError

log = logging.getLogger("alertbridge.delivery")

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
MAX_AGE_SECONDS = 24 * 3600.0  # give up on a message this old (a dead letter then)


@dataclass(slots=True)
class ReceiverHealth:
    """What /status shows per receiver."""

    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    sent: int = 0


def backoff_seconds(attempt: int, hint: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter, never shorter than the platform's own wait hint."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, attempt - 1))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, hint or 0.0)


class Worker:
    def __init__(
        self,
        receiver: str,
        sender: Sender,
        outbox: Outbox,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.receiver = receiver
        self.sender = sender
        self.outbox = outbox
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_age_seconds = max_age_seconds
        self.limiter = RateLimiter(sender.RATE_LIMITS)
        self.health = ReceiverHealth()

    @property
    def labels(self) -> tuple[str, str]:
        return self.receiver, self.sender.platform

    async def run(self) -> None:
        """Deliver forever; cancelled at shutdown."""
        while True:
            item = await self.outbox.next_item(self.receiver)
            wait = item.not_before - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.attempt(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The one broad catch: a bug in a sender must not kill the worker. The item is
                # retried like any transient failure.
                log.exception("unexpected error delivering %s to %s", item.id, self.receiver)
                self.retry(item, SendError("internal error", retryable=True, code="internal"))
            self.metrics.queue_depth.labels(self.receiver).set(self.outbox.backlog(self.receiver))

    async def attempt(self, item: OutboxItem) -> None:
        await self.limiter.acquire()
        started = time.monotonic()
        try:
            await self.sender.send(item.message)
        except SendError as error:
            self.metrics.send_latency.labels(self.sender.platform).observe(
                time.monotonic() - started
            )
            self.failed(item, error)
            return
        self.metrics.send_latency.labels(self.sender.platform).observe(time.monotonic() - started)
        self.outbox.ack(item)
        self.metrics.sent.labels(*self.labels).inc()
        self.health.last_success = self.clock()
        self.health.sent += 1
        log.info(
            "delivered message %s to %s (%s) after %d attempt(s)",
            item.id,
            self.receiver,
            self.sender.platform,
            item.attempts + 1,
        )

    def failed(self, item: OutboxItem, error: SendError) -> None:
        self.metrics.failed.labels(*self.labels, error.code, str(error.retryable).lower()).inc()
        self.health.last_error = f"{error.code}: {error.message}"
        self.health.last_error_at = self.clock()
        if error.retryable and error.retry_after:
            # The platform's own "slow down": pause the whole bot, not just this message.
            self.limiter.block_for(error.retry_after)
        too_old = self.clock() - item.created_at > self.max_age_seconds
        if error.retryable and not too_old:
            self.retry(item, error)
            return
        reason = "too old" if too_old else "permanent failure"
        log.error(
            "giving up on message %s to %s (%s), %s: %s",
            item.id,
            self.receiver,
            self.sender.platform,
            reason,
            error.message,
        )
        self.outbox.bury(item, f"{reason}: {error.code}: {error.message}")
        self.metrics.dead.labels(*self.labels).inc()

    def retry(self, item: OutboxItem, error: SendError) -> None:
        delay = backoff_seconds(item.attempts + 1, error.retry_after, self.rng)
        log.warning(
            "message %s to %s (%s) failed (%s: %s); attempt %d, retrying in %.1fs",
            item.id,
            self.receiver,
            self.sender.platform,
            error.code,
            error.message,
            item.attempts + 1,
            delay,
        )
        self.outbox.postpone(item, self.clock() + delay, f"{error.code}: {error.message}")
        self.metrics.retries.labels(*self.labels).inc()
