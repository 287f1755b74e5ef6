"""The normalised shape every source produces and every card renders: Notification and Alert.

It mirrors Alertmanager's template data, so a kube-eventer event is an Alert too: its labels carry
type/namespace/kind/name/reason (what filters and routes match on) and its message is an annotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

Kind = Literal["alert", "event"]
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

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]

    def with_alerts(self, alerts: list[Alert]) -> Notification:
        """The same notification narrowed to `alerts` (after filtering, or one part of a split)."""
        status: Status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        return Notification(
            kind=self.kind,
            status=status,
            alerts=alerts,
            receiver=self.receiver,
            group_key=self.group_key,
            group_labels=self.group_labels,
            common_labels=self.common_labels,
            common_annotations=self.common_annotations,
            external_url=self.external_url,
            truncated_alerts=self.truncated_alerts,
        )


def notification_to_json(notification: Notification, encoded: dict[int, str] | None = None) -> str:
    """The notification as JSON, as the outbox stores it beside each message (for digests).

    `encoded` (alert id() → its JSON) lets the caller encode each alert once when one request
    queues the same alerts for several receivers: the alerts must outlive that dict.
    """
    # By hand: dataclasses.asdict deep-copies every dict and costs more than the commit.
    cache = {} if encoded is None else encoded
    alerts = ",".join(_alert_json(alert, cache) for alert in notification.alerts)
    head = json.dumps(
        {f: getattr(notification, f) for f in NOTIFICATION_FIELDS},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return f'{head[:-1]},"alerts":[{alerts}]}}'


def _alert_json(alert: Alert, cache: dict[int, str]) -> str:
    text = cache.get(id(alert))
    if text is None:
        fields = {
            **{f: getattr(alert, f) for f in ALERT_FIELDS},
            "starts_at": _iso(alert.starts_at),
            "ends_at": _iso(alert.ends_at),
        }
        text = cache[id(alert)] = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return text


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def notification_from_json(text: str) -> Notification:
    data: dict[str, Any] = json.loads(text)
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


NOTIFICATION_FIELDS = [f.name for f in fields(Notification) if f.name != "alerts"]
ALERT_FIELDS = [f.name for f in fields(Alert) if f.name not in ("starts_at", "ends_at")]


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
