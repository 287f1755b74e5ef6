"""The running service: config, router, renderer, outbox and one delivery worker per receiver.

`accept` is the whole inbound path after parsing: filter and route, render, enqueue. It returns
only once every message is queued, so the HTTP answer never promises more than the outbox holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import httpx

from app.config import Config
from app.delivery import Worker
from app.metrics import Metrics
from app.models import Notification
from app.outbox import MemoryOutbox, Outbox
from app.redaction import Redactor
from app.render import Renderer
from app.routing import Router
from app.senders import SENDERS
from app.senders.base import Message

log = logging.getLogger("alertbridge")


@dataclass(frozen=True, slots=True)
class Accepted:
    messages: int  # queued, over all receivers
    receivers: list[str]
    filtered: int
    unrouted: int


class Bridge:
    def __init__(
        self,
        config: Config,
        *,
        config_source: str,
        metrics: Metrics | None = None,
        redactor: Redactor | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.config = config
        self.config_source = config_source
        self.loaded_at = time.time()
        self.metrics = metrics or Metrics()
        self.redactor = redactor or Redactor()
        self.redactor.update(config.secrets())
        self.router = Router(config)
        server = config.server
        self.renderer = Renderer(
            timezone=server.timezone,
            cards_dir=server.cards_dir,
            alertmanager_url=server.alertmanager_url,
            on_template_error=self.template_failed,
        )
        self.outbox: Outbox = outbox or MemoryOutbox(server.max_backlog)
        self.workers: dict[str, Worker] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def template_failed(self, platform: str, template: str) -> None:
        self.metrics.template_errors.labels(platform, template).inc()

    def accept(self, notification: Notification, source: str, only: str | None = None) -> Accepted:
        """Route, render and enqueue; raises OutboxFull when the outbox cannot take it all."""
        plan = self.router.plan(notification, only)
        if plan.filtered:
            self.metrics.dropped.labels(source, "filtered").inc(plan.filtered)
        if plan.unrouted:
            self.metrics.dropped.labels(source, "unrouted").inc(plan.unrouted)
        batch: dict[str, list[Message]] = {}
        for name, part in plan.notifications.items():
            receiver = self.config.receiver(name)
            if receiver is not None:
                batch[name] = self.renderer.render(receiver, part)
        self.outbox.enqueue(batch)
        for name, messages in batch.items():
            platform = self.platform_of(name)
            self.metrics.enqueued.labels(name, platform).inc(len(messages))
            self.metrics.queue_depth.labels(name).set(self.outbox.backlog(name))
        self.metrics.received.labels(source).inc()
        return Accepted(
            sum(len(m) for m in batch.values()), list(batch), plan.filtered, plan.unrouted
        )

    def platform_of(self, receiver: str) -> str:
        found = self.config.receiver(receiver)
        return found.platform if found else "unknown"

    def start(self, client: httpx.AsyncClient) -> None:
        """One worker task per receiver, all sharing one HTTP client."""
        for receiver in self.config.receivers:
            sender = SENDERS[receiver.platform](receiver.webhook_url, receiver.secret, client)
            worker = Worker(receiver.name, sender, self.outbox, self.metrics)
            self.workers[receiver.name] = worker
            self.tasks.append(asyncio.create_task(worker.run(), name=f"worker-{receiver.name}"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
