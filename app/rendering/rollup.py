"""Big groups roll up: one row per status, severity and alertname, the most severe first, with
what the alerts share (summary, runbook) printed once and the pods/instances they differ in
listed compactly. Every alert of the card is in exactly one row's count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeVar, overload

from app.models import Alert
from app.rendering.style import LEVEL_RANK
from app.text import Trusted


class AlertView(Protocol):
    """What a roll-up reads of context.AlertView."""

    @property
    def status(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def badge(self) -> str: ...
    @property
    def alertname(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def key_labels(self) -> list[tuple[str, str]]: ...
    @property
    def links(self) -> list[tuple[str, Trusted]]: ...
    @property
    def silence_url(self) -> Trusted: ...
    @property
    def duration(self) -> str: ...
    @property
    def elapsed(self) -> str: ...


# Not frozen: frozen dataclasses pay a call per field on every build (hundreds per card), and a
# template cannot assign an attribute anyway; nothing changes a view once it is built.
@dataclass(slots=True)
class RowView:
    """What a roll-up row needs of an alert: far less than an AlertView, so a big group's
    alerts that are not shown in full cost little."""

    status: str
    level: str
    badge: str
    alertname: str
    severity: str
    summary: str
    labels: dict[str, str]  # its key labels only
    key_labels: list[tuple[str, str]]
    links: list[tuple[str, Trusted]]
    silence_url: Trusted
    duration: str
    elapsed: str


V = TypeVar("V")


class LazyViews(Sequence[V]):
    """The `alerts` of a rolled-up card: each alert's view is made when a template reads it
    (the built-in cards read only the few shown in full)."""

    def __init__(self, alerts: list[Alert], view: Callable[[Alert], V]) -> None:
        self._alerts = alerts
        self._view = view

    def __len__(self) -> int:
        return len(self._alerts)

    @overload
    def __getitem__(self, index: int) -> V: ...
    @overload
    def __getitem__(self, index: slice) -> list[V]: ...
    def __getitem__(self, index: int | slice) -> V | list[V]:
        if isinstance(index, slice):
            return [self._view(a) for a in self._alerts[index]]
        return self._view(self._alerts[index])


# Not frozen: frozen dataclasses pay a call per field on every build (hundreds per card), and a
# template cannot assign an attribute anyway; nothing changes a view once it is built.
@dataclass(slots=True)
class RollupRow:
    """Alerts of one alertname, severity and status; every str is untrusted text."""

    status: str
    level: str
    badge: str
    alertname: str
    severity: str
    count: int
    objects: list[str]  # the key label values its alerts differ in (pods, instances …)
    more_objects: int  # objects not listed
    summary: str  # when all its alerts say the same
    links: list[tuple[str, Trusted]]  # the links all its alerts share (runbook, dashboard …)
    duration: str  # of its longest-firing alert


def rollup(views: Sequence[AlertView], objects: int, summaries: bool) -> list[RollupRow]:
    groups: dict[tuple[str, str, str], list[AlertView]] = {}
    for view in views:
        groups.setdefault((view.status, view.level, view.alertname), []).append(view)

    def order(item: tuple[tuple[str, str, str], list[AlertView]]) -> tuple[bool, int, int]:
        (status, level, _), members = item
        return status == "resolved", -LEVEL_RANK[level], -len(members)

    varying = _varying(views)
    rows = sorted(groups.items(), key=order)
    return [_row(members, varying, objects, summaries) for _, members in rows]


def _varying(views: Sequence[AlertView]) -> set[str]:
    """The key labels whose values differ across the card (those the title does not name)."""
    names = {name for view in views for name, _ in view.key_labels}
    return {n for n in names if len({v.labels.get(n) for v in views}) > 1}


def _row(members: list[AlertView], varying: set[str], cap: int, summaries: bool) -> RollupRow:
    first = members[0]
    found = dict.fromkeys(
        [
            "/".join([value for name, value in view.key_labels if name in varying])
            for view in members
        ]
    )
    found.pop("", None)
    listed = list(found)
    summary = first.summary if all(v.summary == first.summary for v in members) else ""
    # Alerts of one rule usually share the very list of links (context._row_links).
    others = [v.links for v in members[1:] if v.links is not first.links]
    shared = [
        (label, url)
        for label, url in first.links
        if url != first.silence_url and all((label, url) in links for links in others)
    ]
    return RollupRow(
        status=first.status,
        level=first.level,
        badge=first.badge,
        alertname=first.alertname,
        severity=first.severity,
        count=len(members),
        objects=listed[:cap],
        more_objects=max(0, len(listed) - cap),
        summary=summary if summaries else "",
        links=shared if summaries else [],
        duration=max(members, key=lambda v: _seconds(v.elapsed)).duration,
    )


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@lru_cache(maxsize=1024)  # the alerts of a rule evaluation have fired for as long
def _seconds(elapsed: str) -> int:
    """Back from human_duration's "1h 3m" to seconds, to find the longest-firing alert."""
    return sum(int(part[:-1]) * _UNITS.get(part[-1], 0) for part in elapsed.split() if part[:-1])
