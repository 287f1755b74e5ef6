"""The variables a card template sees (the template contract in the README): views of the
alerts with times in the configured zone, durations, the title, the tone, links and mentions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.models import Alert, MentionSet, Notification
from app.platforms import PLATFORMS
from app.rendering import links
from app.rendering.i18n import catalogue
from app.rendering.rollup import LazyViews, RollupRow, rollup
from app.rendering.style import (
    DEFAULT_SETTINGS,
    CardSettings,
    levels_of,
    title_parts,
    title_text,
    worst_level,
    worst_of,
)
from app.rendering.views import (
    LABEL_CHARS,
    SHOWN_ALERT_LABELS,
    AlertView,
    CardOptions,
    alert_view,
    sorted_pairs,
    value_limit,
)
from app.text import Trusted

# A card of more alerts than this rolls them up per alertname and severity (rollup.py).
ROLLUP_AFTER = 3
# (alerts shown in full, objects listed per roll-up row, roll-up rows with their summary):
# the renderer steps down this ladder until a big group fits one message.
DETAIL_LEVELS = ((3, 24, True), (1, 12, True), (0, 6, False), (0, 3, False))
NO_LINK = Trusted("")


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


def card_tone(
    notification: Notification,
    settings: CardSettings = DEFAULT_SETTINGS,
    worst: str | None = None,  # the worst level of its firing alerts, when already known
) -> str:
    """critical | warning | info | mixed | resolved | normal: each platform maps it to colours."""
    if notification.kind == "event":
        return event_tone(notification)
    firing = notification.firing
    if firing and notification.resolved:
        return "mixed"
    if not firing:
        return "resolved"
    return (worst_level(firing, settings) if worst is None else worst) or "info"


def shared_labels(notification: Notification, opts: CardOptions) -> list[tuple[str, str]]:
    """Labels every alert of a multi-alert notification has: printed once, not per alert."""
    if notification.kind != "alert" or len(notification.alerts) < 2:
        return []
    # Set operations on the (name, value) pairs run in C; the order is lost but they are
    # sorted below anyway. Once the first few alerts have narrowed the set, the others usually
    # hold all of it: a subset test, not a new set per alert.
    common = set(notification.alerts[0].labels.items())
    for alert in notification.alerts[1:]:
        labels = alert.labels.items()
        if not labels >= common:
            common = {pair for pair in common if pair in labels}
    settings = opts.settings
    skip = SHOWN_ALERT_LABELS | opts.hidden | settings.hide_labels | set(settings.key_labels)
    return sorted_pairs({k: v for k, v in common if k not in skip}, value_limit(opts, LABEL_CHARS))


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
        levels: Mapping[int, str] | None = None,  # style.levels_of(notification.alerts)
    ) -> None:
        self.notification = notification
        self.opts = opts
        settings = opts.settings
        shared = shared_labels(notification, opts)
        self._skip = {k for k, _ in shared}
        # Keyed by id(): the notification holds its alerts, so no id is reused meanwhile.
        self._views: dict[int, AlertView] = {}
        self._titles: dict[tuple[int, int], str] = {}
        limit = value_limit(opts, LABEL_CHARS)
        t = catalogue(settings.language)
        # The title of every part of this notification is made of these.
        if levels is None:
            levels = levels_of(notification.alerts, settings)
        self._levels = levels
        # The title and the tone (card colour) share one worst level.
        worst = worst_of(levels[id(a)] for a in notification.alerts if a.status == "firing")
        self._title_parts = title_parts(notification, notification.alerts, settings, worst)
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
            "tone": card_tone(notification, settings, worst),
            "badge": mark,
            "severity_word": word,
            "subtitle": where,
            "firing_count": len(notification.firing),
            "resolved_count": len(notification.resolved),
            "shared_labels": shared,
            "group_labels": dict(sorted_pairs(notification.group_labels, limit)),
            "common_labels": dict(sorted_pairs(notification.common_labels, limit)),
            "common_annotations": dict(sorted_pairs(notification.common_annotations, limit)),
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
            kind, rank = self.notification.kind, self._levels[id(alert)]
            view = alert_view(alert, kind, self._skip, self.opts, rank)
            self._views[id(alert)] = view
        return view

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
            rows = rollup(part.alerts, self.opts, objects, summaries, self._levels)
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
