"""The composition root: one config's intake, renderer, outbox and one delivery worker per
receiver, built, started, stopped, and handed over to the bridge of a reloaded config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

import httpx

from app.config.model import Config, dsn_secrets
from app.delivery.outcomes import Delivery
from app.delivery.storm import StormControl
from app.delivery.worker import Worker, stop_workers
from app.intake.accept import Accepted, Intake
from app.intake.dedup import Deduplicator
from app.intake.heartbeat import HeartbeatMonitor
from app.models import Notification
from app.ops.metrics import Metrics
from app.ops.redaction import Redactor
from app.outbox.contract import Lease, Outbox
from app.outbox.sqlite import SqliteOutbox
from app.platforms import PLATFORMS
from app.rendering.digest import DigestRenderer
from app.rendering.renderer import Renderer
from app.rendering.silence import SilenceLinks
from app.rendering.style import card_settings

log = logging.getLogger("alertbridge")
HEARTBEAT_LEASE = "_heartbeat"
READY_TIMEOUT_SECONDS = 2.0


OUTBOX_URL_ENV = "ALERTBRIDGE_OUTBOX_URL"


def outbox_url(config: Config) -> str:
    """The PostgreSQL outbox's URL: env ALERTBRIDGE_OUTBOX_URL, else outbox.url; "" = SQLite."""
    return os.environ.get(OUTBOX_URL_ENV) or config.outbox.url


def open_outbox(config: Config, path: Path | str, clock: Callable[[], float] = time.time) -> Outbox:
    """The PostgreSQL outbox when a URL is set (not connected yet: Bridge.prepare does, in the
    service's event loop); else the outbox file, ":memory:" for one that dies with the process."""
    memory = max(config.dedup.window, config.dedup.events_window)
    url = outbox_url(config)
    if url:
        from app.outbox.postgres import PostgresOutbox

        return PostgresOutbox(
            url,
            max_backlog=config.server.max_backlog,
            memory_seconds=memory,
            clock=clock,
            send_timeout=config.server.send_timeout_seconds,
        )
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
        self.redactor.update(dsn_secrets(os.environ.get(OUTBOX_URL_ENV, "")))
        server = config.server
        self.renderer = Renderer(
            timezone=server.timezone,
            cards_dir=server.cards_dir,
            cards=cards,
            alertmanager_url=server.alertmanager_url,
            settings=card_settings(config),
            on_template_error=self.template_failed,
            silence_links=SilenceLinks.of(server),
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
            self.heartbeat.shared = self.backend == "postgresql"
        self.intake = Intake(config, self.outbox, self.metrics, self.dedup, self.heartbeat)
        self.workers: dict[str, Worker] = {}
        # Each receiver's recent deliveries (the console's), handed on by a reload.
        self.recent: dict[str, deque[Delivery]] = {}
        self.heartbeat_task: asyncio.Task[None] | None = None
        self.leases: dict[str, Lease] = {}  # PostgreSQL only: who sends for which receiver

    @property
    def backend(self) -> str:
        return "postgresql" if hasattr(self.outbox, "lease") else "sqlite"

    async def prepare(self) -> None:
        """Connect the outbox if it needs to (PostgreSQL), in the service's event loop."""
        opening = getattr(self.outbox, "open", None)
        if opening is not None and not getattr(self.outbox, "opened", True):
            await opening()
        if hasattr(self.outbox, "on_db_error"):
            self.outbox.on_db_error = self.metrics.db_errors.inc

    def lease(self, name: str, limits: list[tuple[int, float]]) -> Lease | None:
        """The replica-wide lease of `name`, with the metrics of its changes; None on SQLite."""
        make = getattr(self.outbox, "lease", None)
        if make is None:
            return None
        lease = make(name, limits)
        lease.on_change = self.metrics.lease_changes.labels(name).inc
        lease.on_possible_duplicates = self.metrics.possible_duplicates.labels(name).inc
        self.leases[name] = lease
        return cast(Lease, lease)

    def template_failed(self, platform: str, template: str) -> None:
        self.metrics.template_errors.labels(platform, template).inc()

    async def accept(
        self, notification: Notification, source: str, only: str | None = None
    ) -> Accepted:
        """Route and enqueue (app/intake/accept.py); OutboxFull when the outbox cannot take it."""
        return await self.intake.accept(notification, source, only)

    async def ready(self) -> str | None:
        """None while this replica can accept alerts; else why not (the database unreachable),
        without secrets. The SQLite file is always there."""
        ping = getattr(self.outbox, "ping", None)
        if ping is None:
            return None
        try:
            await asyncio.wait_for(ping(), READY_TIMEOUT_SECONDS)
        except Exception as exc:  # whatever it is, this replica cannot commit now
            return self.redactor.scrub(f"outbox database: {type(exc).__name__}: {exc}")
        return None

    async def refresh_gauges(self) -> None:
        """Backlog and dead letters from the outbox itself: the CLI may have changed them.
        Left as they were while the outbox cannot be read (its database is down)."""
        with contextlib.suppress(Exception):
            await self._refresh_gauges()

    async def _refresh_gauges(self) -> None:
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
                redactor=self.redactor,
            )
            if receiver.name in self.recent:
                worker.recent = self.recent[receiver.name]
            limits = [(lim.count, lim.seconds) for lim in worker.limiter.limits]
            worker.lease = self.lease(receiver.name, limits)
            self.workers[receiver.name] = worker
            worker.start()
        if self.heartbeat is not None:
            # With replicas, one of them checks (and queues the "pipeline broken" card).
            run = self.heartbeat.run(self.lease(HEARTBEAT_LEASE, []))
            self.heartbeat_task = asyncio.create_task(run, name="heartbeat")

    async def stop(self, grace: float | None = None) -> None:
        """Stop the workers (a send in flight gets delivery.shutdown_grace) and the heartbeat."""
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            await asyncio.gather(self.heartbeat_task, return_exceptions=True)
        grace = self.config.delivery.shutdown_grace if grace is None else grace
        await stop_workers(list(self.workers.values()), grace)
        for lease in self.leases.values():  # released: another replica takes over at once
            await lease.close()
        self.leases.clear()

    def successor(
        self, config: Config, config_source: str, cards: Mapping[str, str] | None
    ) -> Bridge:
        """The bridge for a reloaded config: the same outbox (queued messages carry over),
        metrics, redactor and clock, and the receivers' recent deliveries. Not started;
        app/reload.py swaps it in."""
        bridge = Bridge(
            config,
            config_source=config_source,
            metrics=self.metrics,
            redactor=self.redactor,
            outbox=self.outbox,
            clock=self.clock,
            cards=cards,
        )
        bridge.recent = {name: worker.recent for name, worker in self.workers.items()}
        return bridge
