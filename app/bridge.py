"""The running service: config, router, renderer, outbox and one delivery worker per receiver.

`accept` is the whole inbound path after parsing: heartbeat, de-duplication, filter and route,
enqueue. It returns only once every message is committed to the outbox, so the HTTP answer
never promises more than the outbox holds. Cards are rendered later, by each receiver's worker
when the message is next to go (`render_card`): the request costs the same whatever the card,
and in a storm the digest spares the cards of the messages it stands for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from app.config.model import Config, Receiver
from app.delivery.storm import StormControl
from app.delivery.worker import Worker, stop_workers
from app.intake.dedup import Deduplicator, notification_key
from app.intake.heartbeat import HeartbeatMonitor
from app.intake.router import Router
from app.models import Notification, Rendered
from app.ops.metrics import Metrics
from app.ops.redaction import Redactor
from app.outbox.contract import Entry, Outbox
from app.outbox.sqlite import SqliteOutbox
from app.platforms import PLATFORMS
from app.rendering.digest import DigestRenderer
from app.rendering.renderer import Renderer

log = logging.getLogger("alertbridge")


@dataclass(frozen=True, slots=True)
class Accepted:
    messages: int  # queued, over all receivers (a card too big for one message splits when sent)
    receivers: list[str]
    filtered: int
    unrouted: int
    duplicate: bool = False  # already queued within the dedup window: nothing new queued


def open_outbox(
    config: Config, path: Path | str, clock: Callable[[], float] = time.time
) -> SqliteOutbox:
    """The outbox file for this config; ":memory:" for one that dies with the process."""
    memory = max(config.dedup.window, config.dedup.events_window)
    return SqliteOutbox(
        path,
        max_backlog=config.server.max_backlog,
        memory_seconds=memory,
        clock=clock,
        fsync_before_answer=config.server.fsync_before_answer,
    )


class Bridge:
    def __init__(
        self,
        config: Config,
        *,
        config_source: str,
        metrics: Metrics | None = None,
        redactor: Redactor | None = None,
        outbox: Outbox | None = None,
        clock: Callable[[], float] = time.time,
        cards: Mapping[str, str] | None = None,  # the checked cards of a load: render.Renderer
    ) -> None:
        self.config = config
        self.config_source = config_source
        self.clock = clock
        self.loaded_at = clock()
        self.metrics = metrics or Metrics()
        self.redactor = redactor or Redactor()
        self.redactor.update(config.secrets())
        self.router = Router(config)
        server = config.server
        self.renderer = Renderer(
            timezone=server.timezone,
            cards_dir=server.cards_dir,
            cards=cards,
            alertmanager_url=server.alertmanager_url,
            on_template_error=self.template_failed,
        )
        self.outbox: Outbox = outbox or open_outbox(config, ":memory:", clock)
        self.dedup = Deduplicator(config.dedup, self.outbox, clock)
        self.heartbeat: HeartbeatMonitor | None = None
        if config.heartbeat is not None:
            name = config.heartbeat.receiver
            self.heartbeat = HeartbeatMonitor(
                config.heartbeat, self.outbox, lambda n: self.queue(name, n), self.metrics, clock
            )
        self.workers: dict[str, Worker] = {}
        self.heartbeat_task: asyncio.Task[None] | None = None

    def template_failed(self, platform: str, template: str) -> None:
        self.metrics.template_errors.labels(platform, template).inc()

    async def accept(
        self, notification: Notification, source: str, only: str | None = None
    ) -> Accepted:
        """Route and enqueue; raises OutboxFull when the outbox cannot take it all."""
        key = notification_key(notification, only)
        if self.dedup.is_duplicate(key):  # known before routing; the commit checks again
            return self.duplicate(source, key)
        if self.heartbeat is not None:
            rest = await self.heartbeat.observe(notification)
            if rest is None:  # only heartbeats: recorded, nothing to deliver
                self.metrics.received.labels(source).inc()
                return Accepted(0, [], 0, 0)
            notification = rest
        plan = self.router.plan(notification, only)
        batch: dict[str, list[Entry]] = {}
        folded: list[str] = []
        for name, part in plan.notifications.items():
            receiver = self.config.receiver(name)
            if receiver is not None:
                batch[name] = self.entries(receiver, part, folded)
        if batch:
            started = time.perf_counter()
            ids = await self.outbox.enqueue(
                batch, seen_key=key, unless_seen_since=self.dedup.window_start()
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

    def duplicate(self, source: str, key: str) -> Accepted:
        self.metrics.duplicates.labels(source).inc()
        self.metrics.received.labels(source).inc()
        log.info("duplicate %s notification %s: already queued", source, key)
        return Accepted(0, [], 0, 0, duplicate=True)

    def entries(self, receiver: Receiver, part: Notification, folded: list[str]) -> list[Entry]:
        """The message of `part`, to render when sent; a kube-eventer repeat folded into its
        event's."""
        fold = self.dedup.fold(receiver.name, part)
        if fold is None:
            return [Entry(None, part)]
        if fold.folded:
            folded.append(receiver.name)
        return [Entry(None, fold.notification, fold.key, fold.replaces, fold.hold_until)]

    async def render_card(self, receiver: Receiver, notification: Notification) -> list[Rendered]:
        """The card's parts, rendered on a thread: a slow user card must not hold up the event
        loop (inbound requests, /status), only this receiver's queue."""
        return await asyncio.to_thread(self.renderer.render_parts, receiver, notification)

    def counted(
        self,
        source: str,
        filtered: int,
        unrouted: int,
        batch: dict[str, list[Entry]],
        folded: list[str],
    ) -> None:
        if filtered:
            self.metrics.dropped.labels(source, "filtered").inc(filtered)
        if unrouted:
            self.metrics.dropped.labels(source, "unrouted").inc(unrouted)
        for name, entries in batch.items():
            self.metrics.enqueued.labels(name, self.platform_of(name)).inc(len(entries))
            self.metrics.queue_depth.labels(name).set(self.outbox.backlog(name))
        for name in folded:
            self.metrics.folded.labels(name).inc()
        self.metrics.received.labels(source).inc()

    async def queue(self, name: str, notification: Notification) -> None:
        """Queue a card of alertbridge's own (the heartbeat's) for one receiver."""
        receiver = self.config.receiver(name)
        assert receiver is not None, "config validation checks heartbeat.receiver"
        await self.outbox.enqueue({name: [Entry(None, notification)]})
        self.metrics.enqueued.labels(name, receiver.platform).inc()

    def platform_of(self, receiver: str) -> str:
        found = self.config.receiver(receiver)
        return found.platform if found else "unknown"

    def refresh_gauges(self) -> None:
        """Backlog and dead letters from the outbox itself: the CLI may have changed them."""
        for receiver in self.config.receivers:
            self.metrics.queue_depth.labels(receiver.name).set(self.outbox.backlog(receiver.name))
            self.metrics.dead_letters.labels(receiver.name).set(
                self.outbox.dead_count(receiver.name)
            )

    def start(self, client: httpx.AsyncClient) -> None:
        """One worker task per receiver, all sharing one HTTP client; the heartbeat check."""
        storm = self.config.storm
        for receiver in self.config.receivers:
            sender = PLATFORMS[receiver.platform].sender(
                receiver.webhook_url, receiver.secret, client
            )
            digest = DigestRenderer(self.renderer, receiver, storm.max_delay)
            worker = Worker(
                receiver.name,
                sender,
                self.outbox,
                self.metrics,
                render=partial(self.render_card, receiver),
                clock=self.clock,
                max_age_seconds=self.config.delivery.max_age,
                storm=StormControl(storm.max_delay, digest) if storm.enabled else None,
            )
            self.workers[receiver.name] = worker
            worker.start()
        if self.heartbeat is not None:
            self.heartbeat_task = asyncio.create_task(self.heartbeat.run(), name="heartbeat")

    async def stop(self, grace: float | None = None) -> None:
        """Stop the workers (a send in flight gets delivery.shutdown_grace) and the heartbeat."""
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            await asyncio.gather(self.heartbeat_task, return_exceptions=True)
        grace = self.config.delivery.shutdown_grace if grace is None else grace
        await stop_workers(list(self.workers.values()), grace)

    def successor(
        self, config: Config, config_source: str, cards: Mapping[str, str] | None
    ) -> Bridge:
        """The bridge for a reloaded config: the same outbox (queued messages carry over),
        metrics, redactor and clock. Not started; app/reload.py swaps it in."""
        return Bridge(
            config,
            config_source=config_source,
            metrics=self.metrics,
            redactor=self.redactor,
            outbox=self.outbox,
            clock=self.clock,
            cards=cards,
        )
