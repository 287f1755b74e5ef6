"""Big groups roll up: one row per status, severity and alertname, the most severe first, with
what the alerts share (summary, runbook) printed once and the pods/instances they differ in
listed compactly. Every alert of the card is in exactly one row's count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import TypeVar, overload

from app.models import Alert
from app.rendering import links
from app.rendering.i18n import catalogue
from app.rendering.style import LEVEL_RANK, badge_of, level
from app.rendering.times import elapsed
from app.rendering.views import (
    LABEL_CHARS,
    TEXT_CHARS,
    CardOptions,
    card_text,
    duration_text,
    row_links,
    value_limit,
)
from app.text import Trusted, clip

V = TypeVar("V")
KeyLabels = list[tuple[str, str]]


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


def rollup(
    alerts: Sequence[Alert],
    opts: CardOptions,
    objects: int,
    summaries: bool,
    levels: Mapping[int, str] | None = None,  # each alert's level by id(), when known
) -> list[RollupRow]:
    """The rows of `alerts`, built from the alerts themselves: a row reads only its first
    alert in full, so a card of many alerts makes a few rows, not a view per alert."""
    label_chars = value_limit(opts, LABEL_CHARS)
    objects_of = _objects(alerts, opts.settings.key_labels, label_chars)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, alert in enumerate(alerts):
        rank = levels[id(alert)] if levels is not None else level(alert, opts.settings)
        name = card_text(alert.labels.get("alertname", ""), label_chars)
        groups.setdefault((alert.status, rank, name), []).append(i)

    def order(item: tuple[tuple[str, str, str], list[int]]) -> tuple[bool, int, int]:
        (status, rank, _), members = item
        return status == "resolved", -LEVEL_RANK[rank], -len(members)

    rows = []
    for (_, rank, name), members in sorted(groups.items(), key=order):
        shown = [alerts[i] for i in members]
        listed = [objects_of[i] for i in members]
        rows.append(_row(shown, rank, name, listed, opts, objects, summaries))
    return rows


def _objects(alerts: Sequence[Alert], names: Sequence[str], limit: int) -> list[str]:
    """Each alert's values of the key labels that differ across the card (the pods, instances
    … a row lists), "/"-joined. Gathered a key label at a time: a card holds some hundred key
    label values, nearly always short already (then none is clipped) and mostly all alike."""
    labels = [alert.labels for alert in alerts]
    # Per key label, each alert's value; None where it has none, or an empty one.
    columns = [[v or None for v in map(dict.get, labels, repeat(name))] for name in names]
    named = [(name, column) for name, column in zip(names, columns, strict=True) if any(column)]
    texts = [name for name, _ in named] + [v for _, column in named for v in column if v]
    if not ("".join(texts).isprintable() and max(map(len, texts), default=0) <= limit):
        named = [
            (card_text(name, limit), [v if v is None else card_text(v, limit) for v in column])
            for name, column in named
        ]
    # A name two key labels share once clipped holds, per alert, the last one it has.
    merged: dict[str, list[str | None]] = {}
    for name, column in named:
        before = merged.get(name)
        merged[name] = (
            column
            if before is None
            else [b if v is None else v for v, b in zip(column, before, strict=True)]
        )
    varying = {name for name, column in merged.items() if len(set(column)) > 1}
    shown = [column for name, column in named if name in varying]
    if not shown:
        return [""] * len(alerts)
    return ["/".join([v for v in values if v is not None]) for values in zip(*shown, strict=True)]


def _row(
    members: list[Alert],
    rank: str,
    name: str,
    objects_of: list[str],
    opts: CardOptions,
    cap: int,
    summaries: bool,
) -> RollupRow:
    first = members[0]
    found = dict.fromkeys(objects_of)
    found.pop("", None)
    listed = list(found)
    spent = list(map(elapsed, members, repeat(opts.now)))
    seconds = list(map(_seconds, spent))
    longest = seconds.index(max(seconds))  # the first of the longest, as max() would pick
    t = catalogue(opts.settings.language)
    return RollupRow(
        status=first.status,
        level=rank,
        badge=badge_of(first.status, rank),
        alertname=name,
        severity=card_text(first.labels.get("severity", ""), value_limit(opts, LABEL_CHARS)),
        count=len(members),
        objects=listed[:cap],
        more_objects=max(0, len(listed) - cap),
        summary=_shared_summary(members, value_limit(opts, TEXT_CHARS)) if summaries else "",
        links=_shared_links(members, opts) if summaries else [],
        duration=duration_text(members[longest], spent[longest], t),
    )


def _shared_summary(members: list[Alert], chars: int) -> str:
    """The (clipped) summary when all the alerts say the same, else ""."""
    texts = [alert.annotations.get("summary", "") for alert in members]
    if texts.count(texts[0]) == len(texts):  # the usual case: no need to clip each one
        return clip(texts[0], chars)
    summary = clip(texts[0], chars)
    return summary if all(clip(text, chars) == summary for text in texts) else ""


def _shared_links(members: list[Alert], opts: CardOptions) -> list[tuple[str, Trusted]]:
    """The links all the alerts have (runbook, dashboard …), in the first one's order."""
    settings = opts.settings
    names = settings.link_annotations
    # Alerts of one rule usually share their generator URL and link annotations: each distinct
    # (URL, annotations) is made into links once, in the order the alerts first have it.
    distinct = dict.fromkeys(
        [(a.generator_url, tuple(map(a.annotations.get, names))) for a in members]
    )
    first, *others = [
        row_links(
            links.prometheus_link(url, settings.prometheus_url), values, names, settings.language
        )
        for url, values in distinct
    ]
    return [pair for pair in first if all(pair in found for found in others)]


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@lru_cache(maxsize=1024)  # the alerts of a rule evaluation have fired for as long
def _seconds(elapsed: str) -> int:
    """Back from human_duration's "1h 3m" to seconds, to find the longest-firing alert."""
    return sum(int(part[:-1]) * _UNITS.get(part[-1], 0) for part in elapsed.split() if part[:-1])
