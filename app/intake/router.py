"""Alertmanager-style label matchers, filters and routes: which receivers get which alerts.

Routing is per alert, as in Alertmanager: a group whose alerts match different routes is split
into one narrowed Notification per receiver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.config.matchers import Matcher, matches_all, parse_matchers
from app.config.model import Config
from app.models import Alert, Notification


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    matchers: list[Matcher]
    receivers: list[str]
    continue_: bool


class Router:
    """Config routes and filters compiled once; answers "who gets this alert?"."""

    def __init__(self, config: Config) -> None:
        self.filters = [parse_matchers(f.matchers) for f in config.filters]
        self.routes = [
            CompiledRoute(parse_matchers(r.matchers), r.receivers, r.continue_)
            for r in config.routes
        ]
        self.default_receiver = config.default_receiver

    def is_filtered(self, labels: Mapping[str, str]) -> bool:
        for matchers in self.filters:  # noqa: SIM110 (a loop: see matches_all)
            if matches_all(matchers, labels):
                return True
        return False

    def match_receivers(self, labels: Mapping[str, str]) -> list[str]:
        """Receivers of one alert, in route order: first match wins unless it says `continue`."""
        chosen: list[str] = []
        for route in self.routes:
            if not matches_all(route.matchers, labels):
                continue
            chosen += [r for r in route.receivers if r not in chosen]
            if not route.continue_:
                break
        if not chosen and self.default_receiver:
            chosen.append(self.default_receiver)
        return chosen

    def plan(self, notification: Notification, only: str | None = None) -> RoutingPlan:
        """Split a notification into one per receiver; `only` bypasses routes, not filters."""
        per_receiver: dict[str, list[Alert]] = {}
        filtered = unrouted = 0
        for alert in notification.alerts:
            if self.is_filtered(alert.labels):
                filtered += 1
                continue
            receivers = [only] if only else self.match_receivers(alert.labels)
            if not receivers:
                unrouted += 1
            for name in receivers:
                per_receiver.setdefault(name, []).append(alert)
        # Receivers that get the same alerts share one Notification: the outbox encodes and
        # compresses each Notification of a request once (app/outbox/schema.py Blobs).
        # The alerts live as long as `notification`, so their id()s name them throughout.
        shared: dict[tuple[int, ...], Notification] = {}
        parts: dict[str, Notification] = {}
        for name, alerts in per_receiver.items():
            key = tuple(map(id, alerts))
            if key not in shared:
                shared[key] = notification.with_alerts(alerts)
            parts[name] = shared[key]
        return RoutingPlan(parts, filtered, unrouted)


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    notifications: dict[str, Notification]  # receiver name → its alerts
    filtered: int  # alerts dropped by a filter
    unrouted: int  # alerts no route (and no default receiver) took
