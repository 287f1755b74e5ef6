"""Storm control: when a receiver's backlog cannot be sent within `max_delay` at its bot's rate
limit, the next send carries a digest of the oldest messages instead of the oldest one, just
enough of them that the rest can still go out in time; digests are spaced at the bot's sustained
rate. The Tally of a digest accounts for every alert of the messages it replaces, in memory
bounded by the groups it keeps in full.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from app.delivery.ratelimit import RateLimiter
from app.models import Alert, Message, Notification
from app.outbox.contract import OutboxItem

# How an alert's severity label ranks; anything else ranks below "info".
SEVERITY_RANK = {
    "critical": 6,
    "error": 5,
    "high": 5,
    "warning": 4,
    "medium": 3,
    "info": 2,
    "low": 1,
}
# The most severe groups a digest can show in full; it shows fewer when they do not fit.
KEEP_GROUPS = 10
# A digest of thousands of messages is read in steps this big, letting inbound requests in
# between. Reading a queued 20-alert notification costs ~110 µs, and a request needs several
# turns of the event loop while three workers may each take a step per turn: steps of 50 gave
# an ack p99 of ~150 ms at 200 notifications/s during a storm, steps of 10 ~20 ms.
ITEMS_PER_STEP = 10


def alert_name(alert: Alert) -> str:
    """The alertname, or a kube-eventer event's reason."""
    return alert.labels.get("alertname") or alert.labels.get("reason") or "(no name)"


def alert_severity(alert: Alert) -> str:
    return alert.labels.get("severity", "").lower() or "none"


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)


def group_rank(notification: Notification) -> tuple[int, int]:
    """Firing before resolved, then the most severe firing alert, then the most firing alerts."""
    firing = notification.firing
    worst = max((severity_rank(alert_severity(a)) for a in firing), default=-1)
    return worst, len(firing)


@dataclass
class Tally:
    """What one digest accounts for: totals by status, severity and name, and the most severe
    groups (queued messages) kept whole to show in full."""

    keep_groups: int = KEEP_GROUPS
    ids: list[str] = field(default_factory=list)
    alerts: int = 0
    truncated: int = 0  # alerts Alertmanager left out of its notifications (max_alerts)
    by_status: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    by_name: dict[str, Counter[str]] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)
    first_at: float = 0.0
    last_at: float = 0.0
    _groups: list[tuple[tuple[int, int], int, Notification]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return len(self.ids)

    def add(self, item: OutboxItem) -> None:
        notification = item.notification
        order = len(self.ids)
        self.ids.append(item.id)
        self.first_at = item.created_at if order == 0 else min(self.first_at, item.created_at)
        self.last_at = max(self.last_at, item.created_at)
        self.kinds.add(notification.kind)
        self.truncated += notification.truncated_alerts
        for alert in notification.alerts:
            self.alerts += 1
            self.by_status[alert.status] += 1
            self.by_severity[alert_severity(alert)] += 1
            self.by_name.setdefault(alert_name(alert), Counter())[alert.status] += 1
        if notification.alerts:
            # Min-heap on (rank, -order): the least severe, newest group is dropped first.
            heapq.heappush(self._groups, (group_rank(notification), -order, notification))
            if len(self._groups) > self.keep_groups:
                heapq.heappop(self._groups)

    def groups(self) -> list[Notification]:
        """The kept groups, most severe first, the older first among equals."""
        return [n for _, _, n in sorted(self._groups, key=lambda g: (g[0], g[1]), reverse=True)]

    def severities(self) -> list[tuple[str, int]]:
        return sorted(self.by_severity.items(), key=lambda s: (-severity_rank(s[0]), s[0]))

    def names(self) -> list[tuple[str, int, int]]:
        """(name, firing, resolved), the most frequent first."""
        rows = [(name, c["firing"], c["resolved"]) for name, c in self.by_name.items()]
        return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))


class StormControl:
    """Decides how many messages the next send carries, and builds the digest when it is many."""

    def __init__(self, max_delay: float, render: Callable[[Tally], Awaitable[Message]]) -> None:
        self.max_delay = max_delay
        self.render = render

    def coalesce_count(self, due: int, limiter: RateLimiter) -> int:
        """1 while the rest of the backlog can go out within max_delay after this send; else
        the number of oldest messages to fold into this send so that the rest can. Called when
        the limiter has a slot free for this send."""
        slots = limiter.slots_within(self.max_delay, cap=due)  # this send's slot included
        return max(1, due - slots + 1)

    async def digest(self, items: Iterable[OutboxItem]) -> tuple[Message, Tally]:
        tally = Tally()
        for index, item in enumerate(items, 1):
            tally.add(item)
            if index % ITEMS_PER_STEP == 0:
                await asyncio.sleep(0)
        return await self.render(tally), tally

    @staticmethod
    def spacing(limiter: RateLimiter) -> float:
        """Seconds between digests: the bot's sustained rate (DingTalk 3 s, Feishu 0.6 s). In a
        storm the budget is spread over the window instead of spent in one burst: the group
        gets a steady digest, and alertbridge does not build five a second for Feishu."""
        return max((limit.seconds / limit.count for limit in limiter.limits), default=0.0)
