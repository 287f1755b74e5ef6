"""The inbound path after parsing: heartbeat, de-duplication, filter and route, fold and
enqueue. `accept` returns only once every message is committed to the outbox, so the HTTP answer
never promises more than the outbox holds. Cards are rendered later, by each receiver's worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from app.config.model import Config
from app.intake.dedup import Deduplicator, fold_key, notification_key
from app.intake.heartbeat import HeartbeatMonitor
from app.intake.router import Router
from app.models import Notification
from app.ops.metrics import Metrics
from app.outbox.contract import Entry, Outbox, OutboxItem

log = logging.getLogger("alertbridge")


@dataclass(frozen=True, slots=True)
class Accepted:
    messages: int  # queued, over all receivers (a card too big for one message splits when sent)
    receivers: list[str]
    filtered: int
    unrouted: int
    duplicate: bool = False  # already queued within the dedup window: nothing new queued


class Intake:
    """Turns one parsed notification into committed outbox entries, counted in the metrics."""

    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        metrics: Metrics,
        dedup: Deduplicator,
        heartbeat: HeartbeatMonitor | None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.metrics = metrics
        self.dedup = dedup
        self.heartbeat = heartbeat
        self.router = Router(config)

    async def accept(
        self, notification: Notification, source: str, only: str | None = None
    ) -> Accepted:
        """Route and enqueue; raises OutboxFull when the outbox cannot take it all."""
        key = notification_key(notification, only)
        if await self.dedup.is_duplicate(key):  # known before routing; the commit checks again
            return self.duplicate(source, key)
        if self.heartbeat is not None:
            rest = await self.heartbeat.observe(notification)
            if rest is None:  # only heartbeats: recorded, nothing to deliver
                self.metrics.received.labels(source).inc()
                return Accepted(0, [], 0, 0)
            notification = rest
        plan = self.router.plan(notification, only)
        batch = {
            name: [Entry(None, part, fold_key(part))]
            for name, part in plan.notifications.items()
            if self.config.receiver(name) is not None
        }
        folded: set[str] = set()
        if batch:
            started = time.perf_counter()
            ids = await self.outbox.enqueue(
                batch,
                seen_key=key,
                unless_seen_since=self.dedup.window_start(),
                fold=lambda receiver, entry, queued, sent_at: self.fold(
                    folded, receiver, entry, queued, sent_at
                ),
            )
            self.metrics.enqueue_latency.observe(time.perf_counter() - started)
            if ids is None:  # another request with the same notification committed first
                return self.duplicate(source, key)
            # The ids stay with the messages through retries: the delivery log names them too.
            log.info("queued %s notification for %s as %s", source, ", ".join(batch), " ".join(ids))
        self.counted(source, plan.filtered, plan.unrouted, batch, folded)
        return Accepted(
            sum(len(m) for m in batch.values()), list(batch), plan.filtered, plan.unrouted
        )

    def fold(
        self,
        folded: set[str],
        receiver: str,
        entry: Entry,
        queued: OutboxItem | None,
        sent_at: float | None,
    ) -> Entry:
        """The dedup fold, noting which receivers got a repeat (a transaction that is tried
        again notes the same receiver again: a set)."""
        result = self.dedup.fold(receiver, entry, queued, sent_at)
        if result.folded:
            folded.add(receiver)
        return result

    def duplicate(self, source: str, key: str) -> Accepted:
        self.metrics.duplicates.labels(source).inc()
        self.metrics.received.labels(source).inc()
        log.info("duplicate %s notification %s: already queued", source, key)
        return Accepted(0, [], 0, 0, duplicate=True)

    def counted(
        self,
        source: str,
        filtered: int,
        unrouted: int,
        batch: dict[str, list[Entry]],
        folded: set[str],
    ) -> None:
        if filtered:
            self.metrics.dropped.labels(source, "filtered").inc(filtered)
        if unrouted:
            self.metrics.dropped.labels(source, "unrouted").inc(unrouted)
        for name, entries in batch.items():
            # Not the queue depth: /metrics reads it from the outbox when scraped, and each
            # worker after each send; a count per receiver here cost ~5 % of a request.
            self.metrics.enqueued.labels(name, self.platform_of(name)).inc(len(entries))
        for name in folded:
            self.metrics.folded.labels(name).inc()
        self.metrics.received.labels(source).inc()

    def platform_of(self, receiver: str) -> str:
        found = self.config.receiver(receiver)
        return found.platform if found else "unknown"
