"""One alert as a card shows it: in full (AlertView: every label, annotation and link, times
in the configured zone), its texts on one line and clipped; what a roll-up row reads of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from zoneinfo import ZoneInfo

from app.models import Alert
from app.rendering import links
from app.rendering.i18n import catalogue
from app.rendering.style import (
    DEFAULT_SETTINGS,
    CardSettings,
    badge_of,
    hidden_labels,
    key_values,
    level,
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
# While shrinking a too-big alert, a URL longer than this many times the value limit is dropped.
URL_TO_VALUE_RATIO = 4
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


def value_limit(opts: CardOptions, default: int) -> int:
    """Card values are clipped to `default` chars, or less while shrinking a too-big alert."""
    chars = opts.max_value_chars
    return default if chars is None else min(chars, default)


def sorted_pairs(values: dict[str, str], limit: int) -> list[tuple[str, str]]:
    return clipped(sorted(values.items()), limit)


def card_text(value: str, limit: int) -> str:
    """clip(one_line(value), limit): most values are short and one line, and pass as they are."""
    if len(value) <= limit and value.isprintable():
        return value
    return clip(one_line(value), limit)


def clipped(pairs: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """Label and annotation pairs on one line each, clipped: `pairs` itself when all of them
    already are (the usual case, found by three C-level passes instead of a call per text)."""
    texts = list(chain.from_iterable(pairs))
    joined = "".join(texts)
    # No text is longer than all of them together: the lengths are read one by one only when
    # that is over the limit.
    if joined.isprintable() and (len(joined) <= limit or max(map(len, texts), default=0) <= limit):
        return pairs
    return [(card_text(k, limit), card_text(v, limit)) for k, v in pairs]


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
def row_links(
    prometheus: Trusted, values: tuple[str | None, ...], names: tuple[str, ...], language: str
) -> Links:
    """A roll-up row's links (unclipped): `_buttons` of the link annotations' `values`."""
    notes = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    return _buttons(prometheus, notes, None, catalogue(language), names)


def alert_view(
    alert: Alert,
    kind: str,
    skip: set[str],
    opts: CardOptions,
    alert_level: str | None = None,  # style.level(alert), when the caller knows it already
) -> AlertView:
    limit = opts.max_value_chars
    label_chars, text_chars = value_limit(opts, LABEL_CHARS), value_limit(opts, TEXT_CHARS)
    settings = opts.settings
    t = catalogue(settings.language)
    shown = SHOWN_EVENT_LABELS if kind == "event" else SHOWN_ALERT_LABELS
    keys = key_values(alert.labels, settings.key_labels)
    hidden = shown | skip | opts.hidden | hidden_labels(alert, settings) | {k for k, _ in keys}
    leading = frozenset(LEADING_ANNOTATIONS + settings.link_annotations) | opts.hidden
    notes = alert.annotations
    # Sorted and clipped once, for all of them and for those not shown elsewhere.
    labels = sorted(alert.labels.items())
    label_texts = clipped(labels, label_chars)
    annotations = sorted(notes.items())
    annotation_texts = clipped(annotations, text_chars)
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
    key_texts = clipped(keys, label_chars)
    if alert_level is None:
        alert_level = level(alert, settings)
    return AlertView(
        status=alert.status,
        alertname=card_text(alert.labels.get("alertname", ""), label_chars),
        severity=card_text(alert.labels.get("severity", ""), label_chars),
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
        duration=duration_text(alert, spent, t),
        elapsed=spent,
        generator_url=prometheus,
        runbook_url=_link(safe_url(notes.get("runbook_url", "")), limit),
        fingerprint=alert.fingerprint,
        count=alert.count,
        value=card_text(alert.value, label_chars),
        level=alert_level,
        badge=badge_of(alert.status, alert_level),
        key_labels=key_texts,
        where="/".join(v for _, v in key_texts),
        silence_url=silence,
        links=buttons,
    )


def duration_text(alert: Alert, spent: str, t: dict[str, str]) -> str:
    if not spent:
        return ""
    return t["lasted" if alert.status == "resolved" else "firing_for"].format(d=spent)
