"""Hot reload of the config and cards, on SIGHUP and when their files change: a new version is
checked as at start-up and swapped in as a new Bridge over the same outbox; a bad one is logged,
counted and rejected, and the running config stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI

from app.bridge import Bridge
from app.config.files import Loaded, current_fingerprint
from app.config.model import RESTART_KEYS, Config, ConfigError
from app.ops.metrics import Metrics
from app.ops.sighup import hold_sighup, take_sighup
from app.rendering.checks import load_checked

log = logging.getLogger("alertbridge.reload")

# A Kubernetes ConfigMap volume shows an update a minute or so after it is made; polling more
# often than this gains nothing and reads the files for nothing.
POLL_SECONDS = 2.0

Trigger = Literal["SIGHUP", "files changed"]
Result = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """The last reload, for /status."""

    at: float
    trigger: Trigger
    result: Result
    error: str | None = None


def restart_keys_changed(running: Config, new: Config) -> list[str]:
    return [key for key in RESTART_KEYS if value_at(running, key) != value_at(new, key)]


def value_at(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


class Reloader:
    """One task does every reload, the watcher's and SIGHUP's, so two never overlap."""

    def __init__(
        self,
        path: Path | None,
        loaded: Loaded,
        metrics: Metrics,
        *,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path  # None: the embedded default, which SIGHUP rebuilds and nothing watches
        self.loaded = loaded
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.last: Attempt | None = None
        self.tried = loaded.fingerprint  # the version last loaded or rejected
        self.seen = loaded.fingerprint  # the version the previous poll found
        self.requested = asyncio.Event()
        self.swapping = asyncio.Lock()
        self.app: FastAPI | None = None
        self.client: httpx.AsyncClient | None = None
        self.task: asyncio.Task[None] | None = None
        self.on_sighup = False

    def start(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        """Watch the files and take SIGHUP; `app.state.bridge` is the bridge to replace."""
        self.app, self.client = app, client
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.requested.set)
            self.on_sighup = True
            if take_sighup():  # one came during start-up (app/ops/sighup.py): reload now
                self.requested.set()
        except (ValueError, RuntimeError, NotImplementedError):
            # Signals reach only the main thread (a test's app runs in another one).
            log.info("SIGHUP does not reload here: the event loop is not in the main thread")
        self.task = asyncio.create_task(self.run(), name="config-reload")

    async def stop(self) -> None:
        if self.on_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            hold_sighup()  # that restored the default, which would end the process mid-shutdown
            self.on_sighup = False
        async with self.swapping:  # a swap under way finishes: never half a bridge
            if self.task is not None:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.requested.wait(), self.poll_seconds)
            if self.requested.is_set():
                self.requested.clear()
                await self.reload("SIGHUP")
            elif await self.files_settled():
                await self.reload("files changed")

    async def files_settled(self) -> bool:
        """The files differ from the version last tried and stayed the same since the previous
        poll: a file an editor is still writing is not worth a rejection."""
        if self.path is None:
            return False
        now = await self.version()
        settled = now == self.seen and now != self.tried
        self.seen = now
        return settled

    async def version(self) -> str:
        """The fingerprint of the files as they are now."""
        if self.path is None:
            return ""
        cards_dir = self.loaded.config.server.cards_dir
        return await asyncio.to_thread(current_fingerprint, self.path, cards_dir)

    async def reload(self, trigger: Trigger) -> bool:
        """Load, check and swap in the files' current version; False if it was rejected."""
        async with self.swapping:
            log.info("reloading the config from %s (%s)", self.loaded.source, trigger)
            # Not tried again until the files change: the same bytes would fail the same way.
            self.tried = await self.version()
            try:
                loaded = await asyncio.to_thread(load_checked, self.path)
                new = self.successor(loaded)
            except ConfigError as exc:
                self.rejected(trigger, str(exc))
                return False
            # This task is the only one that reloads: an unforeseen error must not end it.
            except Exception as exc:
                log.exception("unexpected error while reloading the config")
                self.rejected(trigger, f"internal error: {type(exc).__name__}")
                return False
            await self.swap(loaded, new)
            self.done(Attempt(self.clock(), trigger, "success"))
            return True

    def successor(self, loaded: Loaded) -> Bridge:
        changed = restart_keys_changed(self.loaded.config, loaded.config)
        if changed:
            raise ConfigError(
                f"{', '.join(changed)} changed: only a restart applies that; nothing reloaded"
            )
        running = self.bridge()
        new = running.successor(loaded.config, loaded.source, loaded.cards)
        if running.heartbeat is not None and new.heartbeat is not None:
            new.heartbeat.continue_from(running.heartbeat)
        return new

    async def swap(self, loaded: Loaded, new: Bridge) -> None:
        """New requests go to `new` at once; its workers start once the old ones have stopped
        (each may finish its send in flight), so no message is sent twice. What the old workers
        had not sent is in the outbox, which the new ones share."""
        assert self.app is not None, "start() comes first"
        assert self.client is not None, "start() comes first"
        old = self.bridge()
        self.app.state.bridge = new
        self.loaded, self.tried = loaded, loaded.fingerprint
        await old.stop()
        new.start(self.client)
        if old.heartbeat is not None and new.heartbeat is None:
            self.metrics.heartbeat_missing.set(0)
        await self.forget_removed(old, new)
        receivers = ", ".join(f"{r.name} ({r.platform})" for r in loaded.config.receivers)
        log.info("config reloaded, digest %s; receivers: %s", loaded.digest, receivers)

    async def forget_removed(self, old: Bridge, new: Bridge) -> None:
        """Receivers gone from the config: their gauges go; their messages stay queued."""
        for receiver in old.config.receivers:
            name = receiver.name
            if new.config.receiver(name) is not None:
                continue
            backlog = await old.outbox.backlog(name)
            dead = await old.outbox.dead_count(name)
            if backlog or dead:
                log.warning(
                    "receiver %s is no longer configured; its %d queued and %d dead message(s) "
                    "stay in the outbox (`alertbridge outbox list|purge --receiver %s`)",
                    name,
                    backlog,
                    dead,
                    name,
                )
            for gauge in (self.metrics.queue_depth, self.metrics.dead_letters):
                with contextlib.suppress(KeyError):
                    gauge.remove(name)

    def rejected(self, trigger: Trigger, error: str) -> None:
        error = self.bridge().redactor.scrub(error)
        log.error(
            "config reload (%s) rejected; the config loaded before (digest %s) stays in force: %s",
            trigger,
            self.loaded.digest,
            error,
        )
        self.done(Attempt(self.clock(), trigger, "failure", error))

    def done(self, attempt: Attempt) -> None:
        self.last = attempt
        self.metrics.config_reloads.labels(attempt.result).inc()
        self.metrics.config_last_reload_successful.set(int(attempt.result == "success"))

    def bridge(self) -> Bridge:
        assert self.app is not None, "start() comes first"
        bridge: Bridge = self.app.state.bridge
        return bridge
