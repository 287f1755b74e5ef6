"""The variables a card template sees (the template contract in the README): views of the
alerts with times in the configured zone, durations, the title, the tone, links and mentions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from app.models import Alert, MentionSet, Notification
from app.platforms import PLATFORMS
from app.rendering import links
from app.rendering.i18n import catalogue
from app.rendering.rollup import LazyViews, RollupRow, RowView, rollup
from app.rendering.style import (
    DEFAULT_SETTINGS,
    CardSettings,
    badge_of,
    hidden_labels,
    key_values,
    level,
    title_parts,
    title_text,
    worst_level,
)
from app.rendering.times import elapsed, local_time
from app.text import Trusted, clip, one_line, safe_url

# Shown in an alert's own heading line, so not repeated among its labels.
SHOWN_ALERT_LABELS = frozenset({"alertname", "severity"})
SHOWN_EVENT_LABELS = frozenset(
    {"type", "namespace", "kind", "name", "reason", "severity", "cluster"}
)
# Printed first and in this order; runbook_url becomes a link instead.
LEADING_ANNOTATIONS = ("summary", "description", "message")
# Labels and descriptions on cards are clipped to these (the whole text is in the payload).
LABEL_CHARS = 200
TEXT_CHARS = 1000
# A card of more alerts than this rolls them up per alertname and severity (rollup.py).
ROLLUP_AFTER = 3
# (alerts shown in full, objects listed per roll-up row, roll-up rows with their summary):
# the renderer steps down this ladder until a big group fits one message.
DETAIL_LEVELS = ((3, 24, True), (1, 12, True), (0, 6, False), (0, 3, False))
# While shrinking a too-big alert, a URL longer than this many times the value limit is dropped.
URL_TO_VALUE_RATIO = 4
NO_LINK = Trusted("")
# (button text, URL) pairs, in the order the buttons go.
Links = list[tuple[str, Trusted]]
# The pages Grafana links an alert to (Alert.links), in the order their buttons go.
GRAFANA_LINKS = ("dashboard", "panel", "image", "silence")


NO_URL = Trusted("")


@dataclass(frozen=True, slots=True)
class CardOptions:
    """How one render call presents values."""

    zone: ZoneInfo
    now: datetime
    max_value_chars: int | None = None  # label/annotation values are clipped to this
    hidden: frozenset[str] = frozenset()  # the mention labels: routing data, not content
    settings: CardSettings = DEFAULT_SETTINGS
    alertmanager_url: Trusted = NO_URL  # the base of Alertmanager links
    detail: int = 0  # index into DETAIL_LEVELS


# Not frozen: frozen dataclasses pay a call per field on every build (hundreds per card), and a
# template cannot assign an attribute anyway; nothing changes a view once it is built.
@dataclass(slots=True)
class AlertView:
    """One alert (or kube-eventer event) as templates see it; every str is untrusted text."""

    status: str
    alertname: str
    severity: str
    summary: str
    description: str
    message: str
    labels: dict[str, str]
    annotations: dict[str, str]
    extra_labels: list[tuple[str, str]]  # labels not shown elsewhere on the card
    other_annotations: list[tuple[str, str]]
    starts_at: str  # formatted in the configured zone; for events: first seen
    ends_at: str  # "" while firing; for events: last seen
    duration: str  # "firing for 12m" / "lasted 1h 3m"
    elapsed: str  # the bare "12m"
    generator_url: Trusted  # on server.prometheus_url's host when that is set
    runbook_url: Trusted
    fingerprint: str
    count: int
    value: str  # the evaluated value Grafana reports, "B=97.2, C=1"; "" from other sources
    level: str  # critical | warning | info | "" (after severity_map)
    badge: str  # 🔴 🟠 🔵 ⚪, ✅ once resolved
    key_labels: list[tuple[str, str]]  # cards.key_labels present, in that order
    where: str  # their values, "/"-joined: prod-sh/payments/checkout-…
    # Grafana's silence page for a Grafana alert, else Alertmanager's silence form prefilled
    # with this alert's labels; "" for resolved alerts and events.
    silence_url: Trusted
    links: list[tuple[str, Trusted]]  # (button text, URL): Prometheus, runbook, dashboard …


# Not frozen: frozen dataclasses pay a call per field on every build (hundreds per card), and a
# template cannot assign an attribute anyway; nothing changes a view once it is built.
@dataclass(slots=True)
class MentionView:
    all: bool
    users: list[str]
    mobiles: list[str]
    text: Trusted  # the platform's inline mention markup


@dataclass(frozen=True, slots=True)
class CardPart:
    """Which alerts one message shows and where it sits among the parts."""

    alerts: list[Alert]
    part: int = 1
    parts: int = 1
    omitted: int = 0  # alerts neither shown in this message nor in an earlier part
    mentions: MentionSet = field(default_factory=MentionSet)


def status_tag(notification: Notification) -> str:
    firing, resolved = len(notification.firing), len(notification.resolved)
    if firing and resolved:
        return f"[FIRING:{firing}, RESOLVED:{resolved}]"
    return f"[FIRING:{firing}]" if firing else "[RESOLVED]"


def event_tone(notification: Notification) -> str:
    warning = any(a.labels.get("type", "").lower() == "warning" for a in notification.alerts)
    return "warning" if warning else "normal"


def card_tone(notification: Notification, settings: CardSettings = DEFAULT_SETTINGS) -> str:
    """critical | warning | info | mixed | resolved | normal: each platform maps it to colours."""
    if notification.kind == "event":
        return event_tone(notification)
    firing = notification.firing
    if firing and notification.resolved:
        return "mixed"
    if not firing:
        return "resolved"
    return worst_level(firing, settings) or "info"


def shared_labels(notification: Notification, opts: CardOptions) -> list[tuple[str, str]]:
    """Labels every alert of a multi-alert notification has: printed once, not per alert."""
    if notification.kind != "alert" or len(notification.alerts) < 2:
        return []
    common = notification.alerts[0].labels
    for alert in notification.alerts[1:]:
        labels = alert.labels
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    settings = opts.settings
    skip = SHOWN_ALERT_LABELS | opts.hidden | settings.hide_labels | set(settings.key_labels)
    return _pairs({k: v for k, v in common.items() if k not in skip}, _limit(opts, LABEL_CHARS))


def _limit(opts: CardOptions, default: int) -> int:
    """Card values are clipped to `default` chars, or less while shrinking a too-big alert."""
    chars = opts.max_value_chars
    return default if chars is None else min(chars, default)


def _pairs(values: dict[str, str], limit: int) -> list[tuple[str, str]]:
    return _clipped(sorted(values.items()), limit)


def _text(value: str, limit: int) -> str:
    """clip(one_line(value), limit): most values are short and one line, and pass as they are."""
    if len(value) <= limit and value.isprintable():
        return value
    return clip(one_line(value), limit)


def _clipped(pairs: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """Label and annotation pairs on one line each, clipped: `pairs` itself when all of them
    already are (the usual case, found by three C-level passes instead of a call per text)."""
    texts = list(chain.from_iterable(pairs))
    if "".join(texts).isprintable() and max(map(len, texts), default=0) <= limit:
        return pairs
    return [(_text(k, limit), _text(v, limit)) for k, v in pairs]


def _link(safe: Trusted, limit: int | None) -> Trusted:
    too_long = limit is not None and len(safe) > limit * URL_TO_VALUE_RATIO
    return Trusted("") if too_long else safe


def _buttons(
    prometheus: Trusted,
    notes: dict[str, str],
    limit: int | None,
    t: dict[str, str],
    names: tuple[str, ...],  # cards.link_annotations
) -> Links:
    """The Prometheus graph and the link annotations, without duplicates."""
    buttons = [(t["prometheus"], prometheus)] if prometheus else []
    for name in names:
        raw = notes.get(name)
        url = _link(safe_url(raw), limit) if raw else NO_URL
        if url and all(url != u for _, u in buttons):
            buttons.append((t[links.link_name(name)], url))
    return buttons


# The alerts of one rule share their links: a row's list is made once per process, not per row.
@lru_cache(maxsize=512)
def _row_links(
    prometheus: Trusted, values: tuple[str | None, ...], names: tuple[str, ...], language: str
) -> Links:
    """A roll-up row's links (unclipped): `_buttons` of the link annotations' `values`."""
    notes = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    return _buttons(prometheus, notes, None, catalogue(language), names)


def alert_view(alert: Alert, kind: str, skip: set[str], opts: CardOptions) -> AlertView:
    limit = opts.max_value_chars
    label_chars, text_chars = _limit(opts, LABEL_CHARS), _limit(opts, TEXT_CHARS)
    settings = opts.settings
    t = catalogue(settings.language)
    shown = SHOWN_EVENT_LABELS if kind == "event" else SHOWN_ALERT_LABELS
    keys = key_values(alert.labels, settings.key_labels)
    hidden = shown | skip | opts.hidden | hidden_labels(alert, settings) | {k for k, _ in keys}
    leading = frozenset(LEADING_ANNOTATIONS + settings.link_annotations) | opts.hidden
    notes = alert.annotations
    # Sorted and clipped once, for all of them and for those not shown elsewhere.
    labels = sorted(alert.labels.items())
    label_texts = _clipped(labels, label_chars)
    annotations = sorted(notes.items())
    annotation_texts = _clipped(annotations, text_chars)
    spent = elapsed(alert, opts.now)
    prometheus = _link(links.prometheus_link(alert.generator_url, settings.prometheus_url), limit)
    buttons = _buttons(prometheus, notes, limit, t, settings.link_annotations)
    # Grafana's own pages of the alert (app/sources/grafana.py): its silence page stands in
    # for Alertmanager's, whose silences would not reach a Grafana-managed alert.
    for name in GRAFANA_LINKS:
        url = _link(safe_url(alert.links.get(name, "")), limit)
        if url and name != "silence":
            buttons.append((t[name], url))
    silence = Trusted("")
    if alert.status == "firing" and kind == "alert":
        skip_labels = opts.hidden | settings.hide_labels
        if "silence" in alert.links:  # Grafana's page; Alertmanager does not hold this alert
            silence = _link(safe_url(alert.links["silence"]), limit)
        else:
            form = links.silence_url(opts.alertmanager_url, alert.labels, skip_labels)
            silence = _link(form, limit)
        if silence:
            buttons.append((t["silence"], silence))
    key_texts = _clipped(keys, label_chars)
    alert_level = level(alert, settings)
    return AlertView(
        status=alert.status,
        alertname=_text(alert.labels.get("alertname", ""), label_chars),
        severity=_text(alert.labels.get("severity", ""), label_chars),
        summary=clip(notes.get("summary", ""), text_chars),
        description=clip(notes.get("description", ""), text_chars),
        message=clip(notes.get("message", ""), text_chars),
        labels=dict(label_texts),
        annotations=dict(annotation_texts),
        extra_labels=[c for (k, _), c in zip(labels, label_texts, strict=True) if k not in hidden],
        other_annotations=[
            c for (k, _), c in zip(annotations, annotation_texts, strict=True) if k not in leading
        ],
        starts_at=local_time(alert.starts_at, opts.zone),
        ends_at=local_time(alert.ends_at, opts.zone),
        duration=_duration_text(alert, spent, t),
        elapsed=spent,
        generator_url=prometheus,
        runbook_url=_link(safe_url(notes.get("runbook_url", "")), limit),
        fingerprint=alert.fingerprint,
        count=alert.count,
        value=_text(alert.value, label_chars),
        level=alert_level,
        badge=badge_of(alert.status, alert_level),
        key_labels=key_texts,
        where="/".join(v for _, v in key_texts),
        silence_url=silence,
        links=buttons,
    )


def row_view(alert: Alert, opts: CardOptions) -> RowView:
    settings = opts.settings
    t = catalogue(settings.language)
    label_chars, text_chars = _limit(opts, LABEL_CHARS), _limit(opts, TEXT_CHARS)
    labels = alert.labels
    keys = _clipped([(k, v) for k in settings.key_labels if (v := labels.get(k))], label_chars)
    spent = elapsed(alert, opts.now)
    alert_level = level(alert, settings)
    prometheus = links.prometheus_link(alert.generator_url, settings.prometheus_url)
    notes, names = alert.annotations, settings.link_annotations
    return RowView(
        status=alert.status,
        level=alert_level,
        badge=badge_of(alert.status, alert_level),
        alertname=_text(labels.get("alertname", ""), label_chars),
        severity=_text(labels.get("severity", ""), label_chars),
        summary=clip(alert.annotations.get("summary", ""), text_chars),
        labels=dict(keys),
        key_labels=keys,
        links=_row_links(prometheus, tuple(map(notes.get, names)), names, settings.language),
        silence_url=NO_URL,
        duration=_duration_text(alert, spent, t),
        elapsed=spent,
    )


def _duration_text(alert: Alert, spent: str, t: dict[str, str]) -> str:
    if not spent:
        return ""
    return t["lasted" if alert.status == "resolved" else "firing_for"].format(d=spent)


class CardViews:
    """Everything a template may use (README: "Card templates") for the cards of one notification
    under one set of options. What does not depend on the part is made once, and each alert's
    view once, however many cards (parts, and the size probes that plan them) are rendered.
    Templates share these values, so they must not change them (the sandbox is immutable).
    """

    def __init__(
        self,
        platform: str,
        receiver: str,
        notification: Notification,
        opts: CardOptions,
        *,
        alertmanager_url: Trusted,
        keyword: str,
        silence_link: Trusted = NO_LINK,
    ) -> None:
        self.notification = notification
        self.opts = opts
        settings = opts.settings
        shared = shared_labels(notification, opts)
        self._skip = {k for k, _ in shared}
        # Keyed by id(): the notification holds its alerts, so no id is reused meanwhile.
        self._views: dict[int, AlertView] = {}
        self._rows: dict[int, RowView] = {}
        self._titles: dict[tuple[int, int], str] = {}
        limit = _limit(opts, LABEL_CHARS)
        t = catalogue(settings.language)
        # The title of every part of this notification is made of these.
        self._title_parts = title_parts(notification, notification.alerts, settings)
        mark, word, _, where = self._title_parts
        # A group's silence and alert-list links match its group labels (else the common ones).
        group = notification.group_labels or notification.common_labels
        skip = opts.hidden | settings.hide_labels
        firing = notification.kind == "alert" and bool(notification.firing)
        silence = links.silence_url(alertmanager_url, group, skip) if firing else Trusted("")
        alerts_link = Trusted("")
        if notification.kind == "alert":
            alerts_link = links.alerts_url(alertmanager_url, group, notification.receiver)
        group_links = [(t["alertmanager"], alerts_link or alertmanager_url)]
        # The signed link silences in one step from a phone (app/rendering/silence.py); without
        # public_url and link_secret, Alertmanager's prefilled form does.
        group_silence = silence_link or silence
        group_links += [(t["silence"], group_silence)] if group_silence else []
        self._fixed: dict[str, Any] = {
            "platform": platform,
            "kind": notification.kind,
            "receiver": receiver,
            "status": notification.status,
            "tone": card_tone(notification, settings),
            "badge": mark,
            "severity_word": word,
            "subtitle": where,
            "firing_count": len(notification.firing),
            "resolved_count": len(notification.resolved),
            "shared_labels": shared,
            "group_labels": dict(_pairs(notification.group_labels, limit)),
            "common_labels": dict(_pairs(notification.common_labels, limit)),
            "common_annotations": dict(_pairs(notification.common_annotations, limit)),
            "alertmanager_url": alertmanager_url,
            # A signed link that silences these alerts in one step (app/rendering/silence.py).
            "silence_link": silence_link,
            "alerts_url": alerts_link,
            "silence_url": silence,
            "links": [(label, url) for label, url in group_links if url],
            "keyword": Trusted(keyword),
            "timezone": opts.zone.key,
            "max_value_chars": opts.max_value_chars,
            "language": settings.language,
            "t": t,
        }

    def view(self, alert: Alert) -> AlertView:
        view = self._views.get(id(alert))
        if view is None:
            view = alert_view(alert, self.notification.kind, self._skip, self.opts)
            self._views[id(alert)] = view
        return view

    def row(self, alert: Alert) -> RowView:
        row = self._rows.get(id(alert))
        if row is None:
            row = self._rows[id(alert)] = row_view(alert, self.opts)
        return row

    def title(self, part: int, parts: int) -> str:
        key = (part, parts)
        if key not in self._titles:
            self._titles[key] = title_text(
                self._title_parts,
                part,
                parts,
                self.opts.max_value_chars,
                self.opts.settings.language,
            )
        return self._titles[key]

    def context(self, part: CardPart) -> dict[str, Any]:
        """The variables of the card that shows `part`."""
        mentions = part.mentions
        platform: str = self._fixed["platform"]
        rows: list[RollupRow] = []
        views: Sequence[AlertView]
        if len(part.alerts) > ROLLUP_AFTER and self.notification.kind == "alert":
            shown, objects, summaries = DETAIL_LEVELS[self.opts.detail]
            rows = rollup([self.row(a) for a in part.alerts], objects, summaries)
            detail = [self.view(a) for a in part.alerts[:shown]]
            views = LazyViews(part.alerts, self.view)
        else:
            detail = views = [self.view(a) for a in part.alerts]
        return {
            **self._fixed,
            "title": self.title(part.part, part.parts),
            "alerts": views,
            "rollup": rows,
            "detail": detail,
            "part": part.part,
            "parts": part.parts,
            "omitted": part.omitted,
            "mentions": MentionView(
                all=mentions.all,
                users=list(mentions.users),
                mobiles=list(mentions.mobiles),
                text=PLATFORMS[platform].mention_markup(mentions),
            ),
        }
