"""What a card says first: each alert's severity level and badge, the key labels that say where,
and the title (push line) that says what, where and how bad, in the receiver's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from app.config.model import (
    DEFAULT_HIDE_LABELS,
    DEFAULT_KEY_LABELS,
    DEFAULT_LINK_ANNOTATIONS,
    Config,
)
from app.models import Alert, Notification
from app.rendering.i18n import catalogue
from app.text import clip, one_line

# Severity words as Prometheus rules spell them, onto the three levels cards show.
LEVEL_OF = {
    "critical": "critical",
    "error": "critical",
    "high": "critical",
    "page": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
LEVEL_RANK = {"critical": 3, "warning": 2, "info": 1, "": 0}
BADGES = {"critical": "🔴", "warning": "🟠", "info": "🔵", "": "⚪", "resolved": "✅"}
TIMES = "\u00d7"  # the multiplication sign, as in "x5"
TITLE_NAMES = 3  # distinct alertnames (or event reasons) named in a title before "…"
# Labels hidden only when redundant: `container` is kube-prometheus plumbing when it names the
# scrape target (= job) or when the summary or description already says it.
REDUNDANT_LABELS = frozenset({"container"})


@dataclass(frozen=True)
class CardSettings:
    """The config keys that shape cards (config `cards:`, `server.prometheus_url`, language)."""

    language: str = "en"
    key_labels: tuple[str, ...] = DEFAULT_KEY_LABELS
    hide_labels: frozenset[str] = frozenset(DEFAULT_HIDE_LABELS)
    link_annotations: tuple[str, ...] = DEFAULT_LINK_ANNOTATIONS
    # (word, level) pairs: hashable, so that a word's level is looked up once per process.
    severity_map: tuple[tuple[str, str], ...] = ()
    prometheus_url: str = ""


DEFAULT_SETTINGS = CardSettings()


def card_settings(config: Config) -> CardSettings:
    cards = config.cards
    return CardSettings(
        language=config.server.language,
        key_labels=tuple(cards.key_labels),
        hide_labels=frozenset(cards.hide_labels),
        link_annotations=tuple(cards.link_annotations),
        severity_map=tuple(sorted(cards.severity_map.items())),
        prometheus_url=config.server.prometheus_url,
    )


def level(alert: Alert, settings: CardSettings = DEFAULT_SETTINGS) -> str:
    """critical | warning | info, or "" for a severity nobody declared."""
    if "alertname" not in alert.labels and "reason" in alert.labels:  # a kube-eventer event
        return "warning" if alert.labels.get("type", "").lower() == "warning" else "info"
    return _level_of(alert.labels.get("severity", ""), settings.severity_map)


@lru_cache(maxsize=256)
def _level_of(raw: str, severity_map: tuple[tuple[str, str], ...]) -> str:
    word = raw.strip()
    mapped = dict(severity_map)
    return LEVEL_OF.get((mapped.get(word) or mapped.get(word.lower()) or word).lower(), "")


def badge(alert: Alert, settings: CardSettings = DEFAULT_SETTINGS) -> str:
    return badge_of(alert.status, level(alert, settings))


def badge_of(status: str, alert_level: str) -> str:
    """`badge` for an alert whose level is already known."""
    return BADGES["resolved"] if status == "resolved" else BADGES[alert_level]


def worst_level(alerts: Sequence[Alert], settings: CardSettings = DEFAULT_SETTINGS) -> str:
    # The distinct levels first (a few), then the worst of those: each level has its own rank.
    levels = {level(a, settings) for a in alerts}
    return max(levels, key=LEVEL_RANK.__getitem__, default="")


def levels_of(alerts: Sequence[Alert], settings: CardSettings) -> dict[int, str]:
    """Each alert's level by id(): worked out once per render, then read by the sort, the title,
    the tone, the views and the roll-up rows (some 80 lookups of a 20-alert card)."""
    return {id(alert): level(alert, settings) for alert in alerts}


def worst_of(levels: Iterable[str]) -> str:
    return max(set(levels), key=LEVEL_RANK.__getitem__, default="")


def most_severe_first(notification: Notification, levels: Mapping[int, str]) -> Notification:
    """Its alerts in `alert_order` (stable), reading the levels of `levels_of`; events as they
    came."""
    alerts = notification.alerts
    if notification.kind != "alert":
        return notification
    ordered = sorted(alerts, key=lambda a: (a.status == "resolved", -LEVEL_RANK[levels[id(a)]]))
    return notification if ordered == alerts else replace(notification, alerts=ordered)


def alert_order(settings: CardSettings) -> Callable[[Alert], tuple[bool, int]]:
    """Sort key: firing before resolved, the most severe first."""

    def key(alert: Alert) -> tuple[bool, int]:
        return (alert.status == "resolved", -LEVEL_RANK[level(alert, settings)])

    return key


def key_values(labels: Mapping[str, str], keys: Sequence[str]) -> list[tuple[str, str]]:
    return [(k, one_line(labels[k])) for k in keys if labels.get(k)]


def shared_where(alerts: Sequence[Alert], keys: Sequence[str]) -> str:
    """The key label values every alert shares, "/"-joined: prod-sh/payments(/checkout-…)."""
    if not alerts:
        return ""
    first = alerts[0].labels
    shared = [
        one_line(first[k])
        for k in keys
        if first.get(k) and all(a.labels.get(k) == first[k] for a in alerts[1:])
    ]
    return "/".join(shared)


def _names(values: Sequence[str]) -> str:
    distinct = list(dict.fromkeys(v for v in values if v))
    if len(distinct) > TITLE_NAMES:
        return ", ".join(distinct[: TITLE_NAMES - 1]) + ", …"
    return ", ".join(distinct)


def title_parts(
    notification: Notification,
    alerts: Sequence[Alert],
    settings: CardSettings,
    worst: str | None = None,  # the worst level of the firing `alerts`, when already known
) -> tuple[str, str, str, str]:
    """(badge, severity word, names and counts, where) of the card for `alerts`."""
    t = catalogue(settings.language)
    if notification.kind == "event":
        warning = any(a.labels.get("type", "").lower() == "warning" for a in alerts)
        mark, word = ("🟠", t["event_warning"]) if warning else ("🔵", t["event_normal"])
        name = _names([a.labels.get("reason", "") for a in alerts]) or "event"
        if len(alerts) == 1:
            labels = alerts[0].labels
            obj = "/".join(v for v in (labels.get("namespace"), labels.get("name")) if v)
            name = " ".join(v for v in (name, labels.get("kind", ""), obj) if v)
            where = one_line(labels.get("cluster", ""))
        else:
            name = f"{TIMES}{len(alerts)} {name}"
            where = shared_where(alerts, ("cluster", "namespace"))
        return mark, word, name, where
    firing = [a for a in alerts if a.status == "firing"]
    resolved = len(alerts) - len(firing)
    if worst is None:
        worst = worst_level(firing, settings)
    if firing:
        mark, word = BADGES[worst], t[worst or "none"]
    else:
        mark, word = BADGES["resolved"], t["resolved"]
    name = _names([a.labels.get("alertname", "") for a in alerts]) or "alerts"
    if len(alerts) > 1:
        counts = [t["firing_count"].format(n=len(firing))] * bool(firing)
        counts += [t["resolved_count"].format(n=resolved)] * bool(resolved)
        name = ", ".join(counts) + " · " + name
    return mark, word, name, shared_where(alerts, settings.key_labels)


def card_title(
    notification: Notification,
    part: int,
    parts: int,
    limit: int | None,
    settings: CardSettings = DEFAULT_SETTINGS,
) -> str:
    """`🔴 CRITICAL · KubePodNotReady · prod-sh/payments/checkout-…`: the push line."""
    parts_of_title = title_parts(notification, notification.alerts, settings)
    return title_text(parts_of_title, part, parts, limit, settings.language)


def title_text(
    title: tuple[str, str, str, str], part: int, parts: int, limit: int | None, language: str
) -> str:
    """`card_title` from the title_parts of the whole notification, made once per render."""
    mark, word, name, where = title
    text = f"{mark} {word} · {clip(one_line(name), limit)}"
    if where:
        text += f" · {clip(where, limit)}"
    if parts > 1:
        text += " (" + catalogue(language)["part"].format(part=part, parts=parts) + ")"
    return text


def hidden_labels(alert: Alert, settings: CardSettings) -> set[str]:
    """The hide_labels this alert does not need: plumbing, or redundant with its text."""
    labels, notes = alert.labels, alert.annotations
    hidden = set()
    for name in settings.hide_labels:
        value = labels.get(name)
        if value is None:
            continue
        if name in REDUNDANT_LABELS:
            said = notes.get("summary", "") + notes.get("description", "")
            if value != labels.get("job") and value not in said:
                continue
        hidden.add(name)
    return hidden
