"""The shapes every stage shares: Notification and Alert (what sources produce and cards show),
Message (what a platform is sent), Rendered (a message and the alerts it accounts for) and
MentionSet (validated mentions).

It mirrors Alertmanager's template data, so a kube-eventer event is an Alert too: its labels carry
type/namespace/kind/name/reason (what filters and routes match on) and its message is an annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import orjson

Kind = Literal["alert", "event"]
# A platform message: the JSON object posted to a bot.
Message = dict[str, Any]
# A label listing hundreds of ids must not blow up every card; nobody reads past this anyway.
MAX_MENTIONS = 20
Status = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Alert:
    status: Status
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None  # None while firing (Alertmanager sends 0001-01-01)
    generator_url: str = ""
    fingerprint: str = ""  # Alertmanager fingerprint, or the Event UID for kube-eventer
    count: int = 1  # how often a kube-eventer event occurred; 1 for alerts
    # Grafana's per-alert pages by name (silence, dashboard, panel, image), http(s) or dropped
    # when shown; absent from other sources and from outbox rows written before Grafana support.
    links: dict[str, str] = field(default_factory=dict)
    value: str = ""  # the evaluated value as Grafana reports it, readable: "B=97.2, C=1"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: Kind
    status: Status
    alerts: list[Alert]
    receiver: str = ""  # Alertmanager's receiver name, unescaped
    group_key: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    truncated_alerts: int = 0
    # Grafana-managed alerts: no Alertmanager holds them, so cards link to Grafana, not to it.
    from_grafana: bool = False

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]

    def with_alerts(self, alerts: list[Alert]) -> Notification:
        """The same notification narrowed to `alerts` (after filtering, or one part of a split).

        Every other field is carried over by `replace`: a field listed by hand here was once
        left out (`from_grafana`), and Grafana cards then linked to an Alertmanager that does not
        hold their alerts."""
        return replace(self, status=group_status(alerts), alerts=alerts)


def group_status(alerts: Sequence[Alert]) -> Status:
    """Firing if any alert of the group is firing: how Alertmanager itself derives it."""
    return "firing" if any(a.status == "firing" for a in alerts) else "resolved"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message and the alerts it accounts for, shown or counted (what a digest tallies)."""

    message: Message
    notification: Notification


@dataclass(frozen=True, slots=True)
class MentionSet:
    """Validated mentions; `all` can only ever come from the receiver's static config."""

    all: bool = False
    users: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()

    def __or__(self, other: MentionSet) -> MentionSet:
        return MentionSet(
            all=self.all or other.all,
            users=unique_mentions(self.users + other.users),
            mobiles=unique_mentions(self.mobiles + other.mobiles),
        )


def unique_mentions(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:MAX_MENTIONS]


def alert_name(alert: Alert) -> str:
    """The alertname, or a kube-eventer event's reason."""
    return alert.labels.get("alertname") or alert.labels.get("reason") or "(no name)"


def alert_severity(alert: Alert) -> str:
    return alert.labels.get("severity", "").lower() or "none"


@dataclass(frozen=True, slots=True)
class Summary:
    """What a storm digest counts of one notification, without its text: the outbox keeps it
    beside each queued message, so that a digest of thousands of messages reads a few bytes of
    each instead of decoding every alert (app/rendering/tally.py)."""

    kind: Kind
    truncated_alerts: int
    counts: list[tuple[Status, str, str, int]]  # (status, severity, name, alerts), first seen first

    @classmethod
    def of(cls, notification: Notification) -> Summary:
        counts: dict[tuple[Status, str, str], int] = {}
        for alert in notification.alerts:
            key = (alert.status, alert_severity(alert), alert_name(alert))
            counts[key] = counts.get(key, 0) + 1
        rows = [(status, severity, name, n) for (status, severity, name), n in counts.items()]
        return cls(notification.kind, notification.truncated_alerts, rows)

    def to_json(self) -> str:
        return orjson.dumps([self.kind, self.truncated_alerts, self.counts]).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Summary:
        kind, truncated, counts = orjson.loads(text)
        return cls(kind, truncated, [tuple(row) for row in counts])


def notification_to_json(notification: Notification) -> bytes:
    """The notification as JSON, as the outbox stores it beside each message (for digests).

    orjson writes the dataclasses and their datetimes (ISO 8601, as datetime.isoformat) itself:
    a tenth of the time of json.dumps over dataclasses.asdict, which deep-copies every dict.
    """
    return orjson.dumps(notification)


def notification_from_json(text: str | bytes) -> Notification:
    data: dict[str, Any] = orjson.loads(text)
    alerts = [
        Alert(
            **{
                **alert,
                "starts_at": _moment(alert["starts_at"]),
                "ends_at": _moment(alert["ends_at"]),
            }
        )
        for alert in data.pop("alerts")
    ]
    return Notification(**data, alerts=alerts)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
