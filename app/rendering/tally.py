"""What a storm digest stands for: a Tally of the queued messages it replaces, counting every
alert by status, severity and name, and keeping the most severe groups in full (memory bounded
by KEEP_GROUPS, however long the backlog). It counts from each message's Summary, so only the
kept groups' notifications need to be read whole (Tally.wanted, Tally.supply).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from app.models import Notification, Summary, alert_name, alert_severity
from app.outbox.contract import OutboxItem, Queued

__all__ = ["KEEP_GROUPS", "Tally", "alert_name", "alert_severity", "group_rank", "severity_rank"]

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


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)


def group_rank(summary: Summary) -> tuple[int, int]:
    """Firing before resolved, then the most severe firing alert, then the most firing alerts."""
    firing = [(severity, n) for status, severity, _, n in summary.counts if status == "firing"]
    worst = max((severity_rank(severity) for severity, _ in firing), default=-1)
    return worst, sum(n for _, n in firing)


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
    # Min-heap of (rank, -order, id): the least severe, newest group is dropped first.
    _groups: list[tuple[tuple[int, int], int, str]] = field(default_factory=list)
    _notifications: dict[str, Notification] = field(default_factory=dict)  # of kept groups

    @property
    def messages(self) -> int:
        return len(self.ids)

    def add(self, item: OutboxItem) -> None:
        """A message read whole: counted, and its notification at hand if its group is kept."""
        if self.head is None:
            self.head = item
        self.count(Queued(item.id, item.created_at, Summary.of(item.notification)))
        self.supply([item])

    def count(self, queued: Queued) -> None:
        """A message read by its summary; Tally.wanted names the groups to read whole."""
        summary = queued.summary
        order = len(self.ids)
        self.ids.append(queued.id)
        self.first_at = queued.created_at if order == 0 else min(self.first_at, queued.created_at)
        self.last_at = max(self.last_at, queued.created_at)
        self.kinds.add(summary.kind)
        self.truncated += summary.truncated_alerts
        for status, severity, name, alerts in summary.counts:
            self.alerts += alerts
            self.by_status[status] += alerts
            self.by_severity[severity] += alerts
            self.by_name.setdefault(name, Counter())[status] += alerts
            if status == "firing":
                rank = severity_rank(severity) + 1  # 0: nothing firing
                self.name_rank[name] = max(self.name_rank[name], rank)
        if summary.counts:
            heapq.heappush(self._groups, (group_rank(summary), -order, queued.id))
            if len(self._groups) > self.keep_groups:
                _, _, dropped = heapq.heappop(self._groups)
                self._notifications.pop(dropped, None)

    def wanted(self) -> list[str]:
        """The kept groups whose notifications are not at hand yet."""
        return [i for _, _, i in self._groups if i not in self._notifications]

    def supply(self, items: list[OutboxItem]) -> None:
        """The notifications of kept groups, read whole; others are ignored."""
        kept = {i for _, _, i in self._groups}
        self._notifications.update((i.id, i.notification) for i in items if i.id in kept)

    def groups(self) -> list[Notification]:
        """The kept groups, most severe first, the older first among equals (those not read
        whole, gone from the queue meanwhile, left out)."""
        kept = sorted(self._groups, key=lambda g: (g[0], g[1]), reverse=True)
        return [self._notifications[i] for _, _, i in kept if i in self._notifications]

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
