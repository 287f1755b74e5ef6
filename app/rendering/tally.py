"""What a storm digest stands for: a Tally of the queued messages it replaces, counting every
alert by status, severity and name, and keeping the most severe groups in full (memory bounded
by KEEP_GROUPS, however long the backlog).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from app.models import Alert, Notification
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
    head: OutboxItem | None = None  # the oldest message: its attempts and age stand for all
    alerts: int = 0
    truncated: int = 0  # alerts Alertmanager left out of its notifications (max_alerts)
    by_status: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    by_name: dict[str, Counter[str]] = field(default_factory=dict)
    name_rank: Counter[str] = field(default_factory=Counter)  # worst firing severity per name
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
        if self.head is None:
            self.head = item
        self.ids.append(item.id)
        self.first_at = item.created_at if order == 0 else min(self.first_at, item.created_at)
        self.last_at = max(self.last_at, item.created_at)
        self.kinds.add(notification.kind)
        self.truncated += notification.truncated_alerts
        for alert in notification.alerts:
            self.alerts += 1
            self.by_status[alert.status] += 1
            self.by_severity[alert_severity(alert)] += 1
            name = alert_name(alert)
            self.by_name.setdefault(name, Counter())[alert.status] += 1
            if alert.status == "firing":
                rank = severity_rank(alert_severity(alert)) + 1  # 0: nothing firing
                self.name_rank[name] = max(self.name_rank[name], rank)
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
        """(name, firing, resolved): what is on fire first (worst firing severity, then the
        most firing), then the most frequent."""
        rows = [(name, c["firing"], c["resolved"]) for name, c in self.by_name.items()]
        rank = self.name_rank
        return sorted(rows, key=lambda r: (-rank[r[0]], -r[1], -(r[1] + r[2]), r[0]))

    def name_severity(self, name: str) -> str:
        """The worst severity `name` fires with ("" when none of it fires)."""
        rank = self.name_rank[name] - 1
        return next((s for s, r in SEVERITY_RANK.items() if r == rank), "") if rank > 0 else ""
