"""Watchdog as the pipeline's heartbeat: with `heartbeat:` configured, the always-firing Watchdog
alert is recorded instead of dropped. When none has arrived for `heartbeat.timeout`, a "the
alerting pipeline is broken" card goes to `heartbeat.receiver`; a recovery card follows when one
arrives again. The state is kept in the outbox, so a restart neither forgets an open alarm nor
raises a false one: the silence is measured from start-up at the earliest.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from app.config.model import Heartbeat
from app.models import Alert, Notification, Status
from app.ops.metrics import Metrics
from app.outbox.contract import Entry, Lease, Outbox, OutboxFull
from app.text import human_duration

log = logging.getLogger("alertbridge.heartbeat")

STATE_NAME = "heartbeat"
ALERTNAME = "AlertingPipelineBroken"
MAX_CHECK_SECONDS = 10.0
CHECKS_PER_TIMEOUT = 10


@dataclass
class HeartbeatState:
    last_seen: float | None = None
    missing_since: float | None = None  # set once the "broken" card is queued


def moment(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class HeartbeatMonitor:
    def __init__(
        self,
        config: Heartbeat,
        platform: str,  # of config.receiver, for its metrics
        outbox: Outbox,
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.platform = platform
        self.outbox = outbox
        self.metrics = metrics
        self.clock = clock
        self.started_at = clock()
        self.state = HeartbeatState()
        self.restored = False
        # Replicas on one PostgreSQL outbox: beats land on any replica, the check runs on one;
        # each reads the state the others saved before using it.
        self.shared = False

    async def restore(self) -> None:
        """The state a previous run saved in the outbox; read once, before the first use (every
        time when the outbox is shared by replicas)."""
        if self.restored and not self.shared:
            return
        saved = await self.outbox.load_state(STATE_NAME)
        if saved:
            self.state = HeartbeatState(**json.loads(saved))
        self.restored = True
        self.update_metrics()

    @property
    def check_seconds(self) -> float:
        return min(self.config.timeout / CHECKS_PER_TIMEOUT, MAX_CHECK_SECONDS)

    def deadline(self) -> float:
        """When the silence becomes an alarm; our own downtime does not count as silence."""
        return max(self.state.last_seen or 0.0, self.started_at) + self.config.timeout

    async def observe(self, notification: Notification) -> Notification | None:
        """`notification` without its heartbeat alerts (None when nothing else is left); a
        firing one is a beat."""
        beats = [
            a for a in notification.alerts if a.labels.get("alertname") == self.config.alertname
        ]
        if not beats:
            return notification
        await self.restore()
        if any(a.status == "firing" for a in beats):
            await self.beat()
        rest = [a for a in notification.alerts if a not in beats]
        return notification.with_alerts(rest) if rest else None

    async def beat(self) -> None:
        self.state.last_seen = self.clock()
        if self.state.missing_since is not None and await self.notify("resolved"):
            log.info("%s arrived again: the alerting pipeline works", self.config.alertname)
            self.state.missing_since = None
        await self.save()

    async def check(self) -> None:
        await self.restore()
        overdue = self.state.missing_since is None and self.clock() > self.deadline()
        if overdue and await self.notify("firing"):
            log.error(
                "no %s alert for %s: the alerting pipeline is broken",
                self.config.alertname,
                human_duration(self.config.timeout),
            )
            self.state.missing_since = self.clock()
            await self.save()

    async def run(self, lease: Lease | None = None) -> None:
        """Check every check_seconds; with a `lease` (replicas), only while holding it."""
        while True:
            try:
                if lease is not None:
                    await lease.held()
                await self.check()
            except Exception:  # the check must go on; the error is the outbox's, logged
                log.exception("heartbeat check failed")
            await asyncio.sleep(self.check_seconds)

    async def notify(self, status: Status) -> bool:
        try:
            await self.outbox.enqueue({self.config.receiver: [Entry(None, self.card(status))]})
        except OutboxFull as exc:  # tried again at the next check or beat
            log.error("cannot queue the heartbeat card: %s", exc)
            return False
        self.metrics.enqueued.labels(self.config.receiver, self.platform).inc()
        return True

    def card(self, status: Status) -> Notification:
        name, silence = self.config.alertname, human_duration(self.config.timeout)
        last = self.state.last_seen
        if status == "firing":
            summary = f"No {name} alert for {silence}: the alerting pipeline is broken"
        else:
            summary = f"{name} is arriving again: the alerting pipeline works"
        alert = Alert(
            status=status,
            labels={"alertname": ALERTNAME, "severity": "critical", "heartbeat": name},
            annotations={
                "summary": summary,
                "description": f"Started is when the last {name} arrived (or alertbridge "
                "started, if none has since). Alerts may not be reaching this group: check "
                "Prometheus, Alertmanager and its route to alertbridge.",
            },
            starts_at=moment(last if last is not None else self.started_at),
            ends_at=moment(self.clock()) if status == "resolved" else None,
            fingerprint="alertbridge-heartbeat",
        )
        return Notification(
            kind="alert", status=status, alerts=[alert], group_key="alertbridge/heartbeat"
        )

    async def save(self) -> None:
        await self.outbox.save_state(STATE_NAME, json.dumps(asdict(self.state)))
        self.update_metrics()

    def update_metrics(self) -> None:
        if self.state.last_seen is not None:
            self.metrics.heartbeat_last_seen.set(self.state.last_seen)
        self.metrics.heartbeat_missing.set(int(self.state.missing_since is not None))

    async def report(self) -> dict[str, Any]:
        await self.restore()
        return {
            "alertname": self.config.alertname,
            "receiver": self.config.receiver,
            "timeout_seconds": self.config.timeout,
            "last_seen": self.state.last_seen,
            "missing": self.state.missing_since is not None,
            "missing_since": self.state.missing_since,
            "deadline": self.deadline(),
        }

    def continue_from(self, previous: HeartbeatMonitor) -> None:
        """After a config reload: the same state, and silence still measured from start-up, so
        reloading neither hides an overdue heartbeat nor raises a false alarm. The state object
        is shared: a request still finishing on the old config records its beat here too."""
        self.started_at = previous.started_at
        self.state = previous.state
        self.restored = previous.restored
        self.update_metrics()
