"""The variables a card template sees (the template contract in the README): views of the
alerts with times in the configured zone, durations, the title, the tone, links and mentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from app.models import Alert, MentionSet, Notification
from app.platforms import PLATFORMS
from app.text import Trusted, clip, human_duration, one_line, safe_url

# Shown in an alert's own heading line, so not repeated among its labels.
SHOWN_ALERT_LABELS = frozenset({"alertname", "severity"})
SHOWN_EVENT_LABELS = frozenset({"type", "namespace", "kind", "name", "reason", "severity"})
# Printed first and in this order; runbook_url becomes a link instead.
LEADING_ANNOTATIONS = ("summary", "description", "message")
LINK_ANNOTATIONS = ("runbook_url",)
_NOT_OTHER_ANNOTATIONS = frozenset(LEADING_ANNOTATIONS + LINK_ANNOTATIONS)
TITLE_NAMES = 3  # distinct alertnames (or event reasons) named in a title before "…"
# While shrinking a too-big alert, a URL longer than this many times the value limit is dropped.
URL_TO_VALUE_RATIO = 4
NO_LINK = Trusted("")


@dataclass(frozen=True, slots=True)
class CardOptions:
    """How one render call presents values."""

    zone: ZoneInfo
    now: datetime
    max_value_chars: int | None = None  # label/annotation values are clipped to this
    hidden: frozenset[str] = frozenset()  # the mention labels: routing data, not content


@dataclass(frozen=True, slots=True)
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
    generator_url: Trusted
    runbook_url: Trusted
    fingerprint: str
    count: int
    value: str  # the evaluated value Grafana reports, "B=97.2, C=1"; "" from other sources
    silence_url: Trusted  # Grafana's pages for the alert; "" when absent or not http(s)
    dashboard_url: Trusted
    panel_url: Trusted
    image_url: Trusted


@dataclass(frozen=True, slots=True)
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


# Alerts of one rule evaluation share their start: each distinct instant is formatted once.
@lru_cache(maxsize=1024)
def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """`moment` in `zone` with its UTC offset; a naive datetime is taken as UTC, never local."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        local = moment.astimezone(zone)
    except OverflowError:  # within hours of year 1 or 9999: the zone's offset would leave the range
        local = moment.astimezone(UTC)
    return f"{local:%Y-%m-%d %H:%M:%S} {utc_offset(local.utcoffset())}"


def utc_offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes > 0 else "-"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def elapsed(alert: Alert, now: datetime) -> str:
    if alert.starts_at is None:
        return ""
    end = alert.ends_at if alert.status == "resolved" and alert.ends_at else now
    return _time_between(alert.starts_at, end)


@lru_cache(maxsize=1024)  # the alerts of one rule evaluation started together
def _time_between(start: datetime, end: datetime) -> str:
    return human_duration((_aware(end) - _aware(start)).total_seconds())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_tag(notification: Notification) -> str:
    firing, resolved = len(notification.firing), len(notification.resolved)
    if firing and resolved:
        return f"[FIRING:{firing}, RESOLVED:{resolved}]"
    return f"[FIRING:{firing}]" if firing else "[RESOLVED]"


def _names(values: list[str]) -> str:
    distinct = list(dict.fromkeys(v for v in values if v))
    if len(distinct) > TITLE_NAMES:
        return ", ".join(distinct[: TITLE_NAMES - 1]) + ", …"
    return ", ".join(distinct)


def card_title(notification: Notification, part: int, parts: int, limit: int | None) -> str:
    alerts = notification.alerts
    if notification.kind == "event":
        kind = "Warning" if event_tone(notification) == "warning" else "Normal"
        head = f"[{kind}:{len(alerts)}]" if len(alerts) > 1 else f"[{kind}]"
        name = _names([a.labels.get("reason", "") for a in alerts]) or "event"
        if len(alerts) == 1:
            labels = alerts[0].labels
            where = "/".join(v for v in (labels.get("namespace"), labels.get("name")) if v)
            name = " ".join(v for v in (name, labels.get("kind", ""), where) if v)
    else:
        head = status_tag(notification)
        name = _names([a.labels.get("alertname", "") for a in alerts]) or "alerts"
    suffix = f" (part {part}/{parts})" if parts > 1 else ""
    return f"{head} {clip(one_line(name), limit)}{suffix}"


def event_tone(notification: Notification) -> str:
    warning = any(a.labels.get("type", "").lower() == "warning" for a in notification.alerts)
    return "warning" if warning else "normal"


def card_tone(notification: Notification) -> str:
    """critical | warning | info | mixed | resolved | normal: each platform maps it to colours."""
    if notification.kind == "event":
        return event_tone(notification)
    firing = notification.firing
    if firing and notification.resolved:
        return "mixed"
    if not firing:
        return "resolved"
    severities = {a.labels.get("severity", "").lower() for a in firing}
    return next((s for s in ("critical", "warning") if s in severities), "info")


def shared_labels(notification: Notification, opts: CardOptions) -> list[tuple[str, str]]:
    """Labels every alert of a multi-alert notification has: printed once, not per alert."""
    if notification.kind != "alert" or len(notification.alerts) < 2:
        return []
    common = set(notification.alerts[0].labels.items())
    for alert in notification.alerts[1:]:
        common &= set(alert.labels.items())
    skip = SHOWN_ALERT_LABELS | opts.hidden
    return _pairs({k: v for k, v in common if k not in skip}, opts.max_value_chars)


def _pairs(values: dict[str, str], limit: int | None) -> list[tuple[str, str]]:
    return _clipped(sorted(values.items()), limit)


def _clipped(pairs: list[tuple[str, str]], limit: int | None) -> list[tuple[str, str]]:
    if limit is None:  # nothing to clip: the usual case
        return pairs
    return [(clip(k, limit), clip(v, limit)) for k, v in pairs]


def _link(url: str, limit: int | None) -> Trusted:
    safe = safe_url(url)
    too_long = limit is not None and len(safe) > limit * URL_TO_VALUE_RATIO
    return Trusted("") if too_long else safe


def alert_view(alert: Alert, kind: str, skip: set[str], opts: CardOptions) -> AlertView:
    limit = opts.max_value_chars
    shown = SHOWN_EVENT_LABELS if kind == "event" else SHOWN_ALERT_LABELS
    hidden_labels = shown | skip | opts.hidden
    leading = _NOT_OTHER_ANNOTATIONS | opts.hidden
    notes = alert.annotations
    labels = sorted(alert.labels.items())  # sorted once for all labels and those not shown
    annotations = sorted(notes.items())
    spent = elapsed(alert, opts.now)
    return AlertView(
        status=alert.status,
        alertname=clip(one_line(alert.labels.get("alertname", "")), limit),
        severity=clip(one_line(alert.labels.get("severity", "")), limit),
        summary=clip(notes.get("summary", ""), limit),
        description=clip(notes.get("description", ""), limit),
        message=clip(notes.get("message", ""), limit),
        labels=dict(_clipped(labels, limit)),
        annotations=dict(_clipped(annotations, limit)),
        extra_labels=_clipped([p for p in labels if p[0] not in hidden_labels], limit),
        other_annotations=_clipped([p for p in annotations if p[0] not in leading], limit),
        starts_at=local_time(alert.starts_at, opts.zone),
        ends_at=local_time(alert.ends_at, opts.zone),
        duration=_duration_text(alert, spent),
        elapsed=spent,
        generator_url=_link(alert.generator_url, limit),
        runbook_url=_link(notes.get("runbook_url", ""), limit),
        fingerprint=alert.fingerprint,
        count=alert.count,
        value=clip(one_line(alert.value), limit),
        silence_url=_link(alert.links.get("silence", ""), limit),
        dashboard_url=_link(alert.links.get("dashboard", ""), limit),
        panel_url=_link(alert.links.get("panel", ""), limit),
        image_url=_link(alert.links.get("image", ""), limit),
    )


def _duration_text(alert: Alert, spent: str) -> str:
    if not spent:
        return ""
    return f"lasted {spent}" if alert.status == "resolved" else f"firing for {spent}"


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
        shared = shared_labels(notification, opts)
        self._skip = {k for k, _ in shared}
        # Keyed by id(): the notification holds its alerts, so no id is reused meanwhile.
        self._views: dict[int, AlertView] = {}
        self._titles: dict[tuple[int, int], str] = {}
        limit = opts.max_value_chars
        self._fixed: dict[str, Any] = {
            "platform": platform,
            "kind": notification.kind,
            "receiver": receiver,
            "status": notification.status,
            "tone": card_tone(notification),
            "firing_count": len(notification.firing),
            "resolved_count": len(notification.resolved),
            "shared_labels": shared,
            "group_labels": dict(_pairs(notification.group_labels, limit)),
            "common_labels": dict(_pairs(notification.common_labels, limit)),
            "common_annotations": dict(_pairs(notification.common_annotations, limit)),
            "alertmanager_url": alertmanager_url,
            # A signed link to silence these alerts (app/rendering/silence.py), or "".
            "silence_link": silence_link,
            "keyword": Trusted(keyword),
            "timezone": opts.zone.key,
            "max_value_chars": limit,
        }

    def view(self, alert: Alert) -> AlertView:
        view = self._views.get(id(alert))
        if view is None:
            view = alert_view(alert, self.notification.kind, self._skip, self.opts)
            self._views[id(alert)] = view
        return view

    def title(self, part: int, parts: int) -> str:
        key = (part, parts)
        if key not in self._titles:
            self._titles[key] = card_title(
                self.notification, part, parts, self.opts.max_value_chars
            )
        return self._titles[key]

    def context(self, part: CardPart) -> dict[str, Any]:
        """The variables of the card that shows `part`."""
        mentions = part.mentions
        platform: str = self._fixed["platform"]
        return {
            **self._fixed,
            "title": self.title(part.part, part.parts),
            "alerts": [self.view(a) for a in part.alerts],
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
