"""The composition root: one config's intake, renderer, outbox and one delivery worker per
receiver, built, started, stopped, and handed over to the bridge of a reloaded config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from app.config.model import Config
from app.delivery.storm import StormControl
from app.delivery.worker import Worker, stop_workers
from app.intake.accept import Accepted, Intake
from app.intake.dedup import Deduplicator
from app.intake.heartbeat import HeartbeatMonitor
from app.models import Notification
from app.ops.metrics import Metrics
from app.ops.redaction import Redactor
from app.outbox.contract import Outbox
from app.outbox.sqlite import SqliteOutbox
from app.platforms import PLATFORMS
from app.rendering.digest import DigestRenderer
from app.rendering.renderer import Renderer
from app.rendering.style import card_settings

log = logging.getLogger("alertbridge")


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
        server = config.server
        self.renderer = Renderer(
            timezone=server.timezone,
            cards_dir=server.cards_dir,
            cards=cards,
            alertmanager_url=server.alertmanager_url,
            settings=card_settings(config),
            on_template_error=self.template_failed,
        )
        self.outbox: Outbox = outbox or open_outbox(config, ":memory:", clock)
        self.dedup = Deduplicator(config.dedup, self.outbox, clock)
        self.heartbeat: HeartbeatMonitor | None = None
        if config.heartbeat is not None:
            receiver = config.receiver(config.heartbeat.receiver)
            assert receiver is not None, "config validation checks heartbeat.receiver"
            self.heartbeat = HeartbeatMonitor(
                config.heartbeat, receiver.platform, self.outbox, self.metrics, clock
            )
        self.intake = Intake(config, self.outbox, self.metrics, self.dedup, self.heartbeat)
        self.workers: dict[str, Worker] = {}
        self.heartbeat_task: asyncio.Task[None] | None = None

    def template_failed(self, platform: str, template: str) -> None:
        self.metrics.template_errors.labels(platform, template).inc()

    async def accept(
        self, notification: Notification, source: str, only: str | None = None
    ) -> Accepted:
        """Route and enqueue (app/intake/accept.py); OutboxFull when the outbox cannot take it."""
        return await self.intake.accept(notification, source, only)

    async def refresh_gauges(self) -> None:
        """Backlog and dead letters from the outbox itself: the CLI may have changed them."""
        for receiver in self.config.receivers:
            name = receiver.name
            self.metrics.queue_depth.labels(name).set(await self.outbox.backlog(name))
            self.metrics.dead_letters.labels(name).set(await self.outbox.dead_count(name))

    def start(self, client: httpx.AsyncClient) -> None:
        """One worker task per receiver, all sharing one HTTP client; the heartbeat check."""
        storm = self.config.storm
        for receiver in self.config.receivers:
            sender = PLATFORMS[receiver.platform].sender(
                receiver.webhook_url, receiver.secret, client
            )
            digest = DigestRenderer(self.renderer, receiver, storm.max_delay)
            worker = Worker(
                receiver,
                sender,
                self.outbox,
                self.metrics,
                self.renderer,
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
