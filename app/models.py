"""The normalised shape every source produces and every card renders: Notification and Alert.

It mirrors Alertmanager's template data, so a kube-eventer event is an Alert too: its labels carry
type/namespace/kind/name/reason (what filters and routes match on) and its message is an annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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
