"""De-duplication: Alertmanager HA duplicates are queued once; repeats of one kube-eventer event
become one message per receiver and window. The memory of both lives in the outbox (SQLite), so
it survives a restart.

- Alertmanager: a notification with the same groupKey, status and set of (fingerprint, status,
  startsAt, endsAt) as one queued within `dedup.window` is answered 200 and not queued again.
- kube-eventer (a body with one event; its identity is the Event UID, else its object and
  reason, else its message and reason): while a message for the event is still queued, a repeat
  updates it in place (count, last seen; first seen kept). Once one has been sent, repeats
  within `dedup.events_window` of that send are held in one message that goes out when the
  window ends. So a crash-looping pod gives one card per window, each with the latest count and
  first/last times, and a repeat is never lost.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo

from app.config.model import Dedup
from app.models import Alert, Notification
from app.outbox.contract import Entry, Outbox, OutboxItem


def notification_key(notification: Notification, only: str | None) -> str:
    """The identity Alertmanager HA peers share for one notification; "" for events."""
    if notification.kind != "alert":
        return ""
    alerts = sorted(
        [
            (
                a.fingerprint,
                a.status,
                _iso(a.starts_at, a.starts_at.tzinfo) if a.starts_at else "",
                _iso(a.ends_at, a.ends_at.tzinfo) if a.ends_at else "",
            )
            for a in notification.alerts
        ]
    )
    identity = [only or "", notification.group_key, notification.status, alerts]
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return f"am:{digest}"


# isoformat() of an aware datetime (~3 µs) was half of the key's time; the same moments come in
# every repeat of a group. Keyed by the zone too: equal instants in different zones print apart.
@functools.lru_cache(maxsize=4096)
def _iso(moment: datetime, zone: tzinfo | None) -> str:
    return moment.isoformat()


def event_key(event: Alert) -> str:
    """The Event UID when the body has one, else the object (kind/namespace/name) and reason;
    kube-eventer's default body names no object, so there its message stands in for the name
    (it says which pod, "Back-off restarting failed container web in pod web-7c5d…")."""
    if event.fingerprint:
        return f"uid:{event.fingerprint}"
    labels = event.labels
    parts = [labels.get(k, "") for k in ("kind", "namespace", "name", "reason")]
    if not labels.get("name"):
        parts.append(event.annotations.get("message", ""))
    return "object:" + json.dumps(parts, ensure_ascii=False)


def merge_events(queued: Alert, repeat: Alert) -> Alert:
    """One event from a queued one and its repeat: the repeat's text, the whole time span, and
    the count. With a UID the count is the Event's own running total; without one each body
    stands for its own occurrences, which add up."""
    count = max(queued.count, repeat.count) if repeat.fingerprint else queued.count + repeat.count
    starts = [t for t in (queued.starts_at, repeat.starts_at) if t is not None]
    ends = [t for t in (queued.ends_at, repeat.ends_at) if t is not None]
    return replace(
        repeat,
        count=count,
        starts_at=min(starts) if starts else None,
        ends_at=max(ends) if ends else None,
    )


def fold_key(notification: Notification) -> str:
    """The event a one-event kube-eventer notification is about; "" for anything else."""
    if notification.kind != "event" or len(notification.alerts) != 1:
        return ""
    return event_key(notification.alerts[0])


class Deduplicator:
    def __init__(self, config: Dedup, outbox: Outbox, clock: Callable[[], float]) -> None:
        self.config = config
        self.outbox = outbox
        self.clock = clock

    def window_start(self) -> float:
        return self.clock() - self.config.window

    async def is_duplicate(self, key: str) -> bool:
        """Alertmanager sent this notification (another HA peer did) within the window."""
        at = await self.outbox.seen_at(key) if key else None
        return at is not None and at >= self.window_start()

    def fold(
        self, receiver: str, entry: Entry, queued: OutboxItem | None, sent_at: float | None
    ) -> Entry:
        """The outbox's FoldPolicy: a repeat updates the receiver's queued message for the
        event in place; one that follows a send within `events_window` waits for its end."""
        event = entry.notification.alerts[0]
        if queued is not None and len(queued.notification.alerts) == 1:
            merged = merge_events(queued.notification.alerts[0], event)
            notification = entry.notification.with_alerts([merged])
            return replace(
                entry, notification=notification, replaces=queued.id, hold_until=queued.hold_until
            )
        window_end = (sent_at or 0.0) + self.config.events_window
        hold = window_end if sent_at is not None and self.clock() < window_end else 0.0
        return replace(entry, hold_until=hold)
