"""Digest messages: a storm's Tally rendered with cards/<platform>/digest.json.j2. It shows as many
of the most severe groups in full as fit the platform's size limit (then, if need be, as many
name totals as fit), and is plain text when no template renders. The totals always count every
alert, whatever is shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from app.config.model import Receiver
from app.models import Message, Notification
from app.platforms import PLATFORMS
from app.rendering.context import MentionView, card_tone
from app.rendering.fallback import plain_message
from app.rendering.i18n import catalogue
from app.rendering.links import alertmanager_base, alerts_url
from app.rendering.mentions import static_mentions
from app.rendering.renderer import Renderer
from app.rendering.sandbox import render_message
from app.rendering.style import BADGES, LEVEL_OF, alert_order, card_title
from app.rendering.tally import Tally, severity_rank
from app.rendering.times import local_time
from app.rendering.views import AlertView, CardOptions, alert_view
from app.text import ELLIPSIS, Trusted, clean_text, human_duration

# A group shown in full shows at most this many of its alerts; the rest of it is counted.
GROUP_ALERTS = 5
# Names listed with their totals, what is on fire first; the rest are counted in one line.
NAME_CAP = 10
# A digest shows at least this many groups (fewer names then), when the storm has them.
MIN_GROUPS = 3
# Label and annotation values in a digest are clipped to this: it summarises, cards detail.
VALUE_CHARS = 300

Names = list[tuple[str, int, int]]  # (name, firing, resolved)


@dataclass(frozen=True, slots=True)
class GroupView:
    """One queued message shown in full inside a digest."""

    title: str
    tone: str
    kind: str
    alerts: list[AlertView]
    omitted: int  # its alerts not shown


def level_of(severity: str) -> str:
    return LEVEL_OF.get(severity, "")


def name_badge(tally: Tally, name: str, firing: int) -> str:
    return BADGES[level_of(tally.name_severity(name))] if firing else BADGES["resolved"]


def digest_tone(tally: Tally) -> str:
    """critical | warning | info | resolved, from the most severe firing alert."""
    if not tally.by_status["firing"]:
        return "resolved"
    worst = max((severity_rank(s) for s in tally.by_severity), default=0)
    if worst >= severity_rank("critical"):
        return "critical"
    return "warning" if worst >= severity_rank("warning") else "info"


def digest_title(tally: Tally, language: str = "en") -> str:
    """`🔴 Alert storm · 4610 alerts: 3457 firing, 1153 resolved`."""
    firing, resolved = tally.by_status["firing"], tally.by_status["resolved"]
    t = catalogue(language)
    totals = t["digest_title"].format(alerts=tally.alerts, firing=firing, resolved=resolved)
    return f"{BADGES[digest_tone(tally)]} {t['digest']} · {totals}"


async def most_that_fit(total: int, fits: Callable[[int], Awaitable[bool]]) -> int:
    """The largest k in 0..total with fits(k) (fits shrinks as k grows); -1 if not even 0.
    All of them first: most digests fit whole."""
    if await fits(total):
        return total
    low, high = -1, total - 1
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if await fits(middle) else (low, middle - 1)
    return low


class DigestRenderer:
    """Renders one receiver's digests with the same cards (and user overrides) as its alerts."""

    def __init__(self, renderer: Renderer, receiver: Receiver, max_delay: float) -> None:
        self.renderer = renderer
        self.receiver = receiver
        self.platform = receiver.platform
        self.max_delay = max_delay
        self.spec = PLATFORMS[receiver.platform]
        self.keyword = clean_text(receiver.keyword or "")
        self.mentions = static_mentions(receiver.mentions)
        self.external_url = ""
        self.template = f"{receiver.platform}/digest.json.j2"
        language = receiver.language or renderer.settings.language
        self.settings = replace(renderer.settings, language=language)

    async def __call__(self, tally: Tally) -> Message:
        kept = tally.groups()
        self.external_url = next((n.external_url for n in kept if n.external_url), "")
        groups = [self.group(n) for n in kept]
        for env in self.renderer.environments(self.platform):
            try:
                return await self.fitted(env, tally, groups) or self.plain(tally)
            # A card template is user code: whatever it raises means "use the next fallback".
            except Exception as exc:
                self.renderer.template_failed(self.receiver, self.template, exc, "the next one")
        return self.plain(tally)

    async def fitted(
        self, env: SandboxedEnvironment, tally: Tally, groups: list[GroupView]
    ) -> Message | None:
        """Every name total and the most groups in full that fit; with no group, the most names.
        Each try is one render of a big card (a few ms): inbound requests get in between."""
        names = tally.names()
        rendered: dict[tuple[int, int], Message] = {}

        async def card(shown_groups: int, shown_names: int) -> Message:
            if (shown_groups, shown_names) not in rendered:
                await asyncio.sleep(0)
                context = self.context(tally, groups[:shown_groups], names, shown_names)
                rendered[shown_groups, shown_names] = render_message(
                    env, self.template, context
                ).message
            return rendered[shown_groups, shown_names]

        async def fits(shown_groups: int, shown_names: int) -> bool:
            message = await card(shown_groups, shown_names)
            return self.spec.message_bytes(message) <= self.spec.max_message_bytes

        listed = min(len(names), NAME_CAP)
        shown = await most_that_fit(len(groups), lambda g: fits(g, listed))
        least = min(MIN_GROUPS, len(groups))
        if shown >= least:
            return await card(shown, listed)
        # The groups say what is on fire: fewer names rather than fewer than MIN_GROUPS groups.
        for keep in range(least, -1, -1):

            async def fits_names(n: int, keep: int = keep) -> bool:
                return await fits(keep, n)

            named = await most_that_fit(listed, fits_names)
            if named >= 0:
                return await card(keep, named)
        return None

    def group(self, notification: Notification) -> GroupView:
        options = self.options()
        alerts = notification.alerts
        if notification.kind == "alert":  # what is on fire first within a group too
            alerts = sorted(alerts, key=alert_order(self.settings))
        return GroupView(
            title=card_title(notification, 1, 1, VALUE_CHARS, self.settings),
            tone=card_tone(notification, self.settings),
            kind=notification.kind,
            alerts=[
                alert_view(a, notification.kind, set(), options) for a in alerts[:GROUP_ALERTS]
            ],
            omitted=max(0, len(alerts) - GROUP_ALERTS) + notification.truncated_alerts,
        )

    def options(self) -> CardOptions:
        mentions = self.receiver.mentions
        hidden = frozenset(mentions.from_labels + mentions.from_labels_mobiles)
        return CardOptions(
            self.renderer.zone,
            self.renderer.clock(),
            VALUE_CHARS,
            hidden,
            settings=self.settings,
            alertmanager_url=alertmanager_base(self.renderer.alertmanager_url, ""),
        )

    def context(
        self, tally: Tally, groups: list[GroupView], names: Names, shown_names: int
    ) -> dict[str, Any]:
        """Everything a digest template may use (README: "Storm control")."""
        left_out = names[shown_names:]
        t = catalogue(self.settings.language)
        base = self.base(groups)
        return {
            "platform": self.platform,
            "kind": "digest",
            "receiver": self.receiver.name,
            "title": digest_title(tally, self.settings.language),
            "tone": digest_tone(tally),
            "badge": BADGES[digest_tone(tally)],
            "t": t,
            "language": self.settings.language,
            "name_rows": [
                (name_badge(tally, name, firing), name, firing, resolved)
                for name, firing, resolved in names[:shown_names]
            ],
            "links": [(t["alertmanager"], alerts_url(base, {}))] if base else [],
            "messages": tally.messages,
            "alerts": tally.alerts,
            "firing_count": tally.by_status["firing"],
            "resolved_count": tally.by_status["resolved"],
            "truncated": tally.truncated,
            "severities": tally.severities(),
            "names": names[:shown_names],
            "names_omitted": len(left_out),
            "names_omitted_alerts": sum(f + r for _, f, r in left_out),
            "groups": groups,
            "groups_omitted": tally.messages - len(groups),
            "first_queued": self.moment(tally.first_at),
            "last_queued": self.moment(tally.last_at),
            "max_delay": human_duration(self.max_delay),
            "keyword": Trusted(self.keyword),
            "mentions": MentionView(
                all=self.mentions.all,
                users=list(self.mentions.users),
                mobiles=list(self.mentions.mobiles),
                text=self.spec.mention_markup(self.mentions),
            ),
            "timezone": self.renderer.zone.key,
        }

    def base(self, groups: list[GroupView]) -> Trusted:
        """The Alertmanager to link: server.alertmanager_url, else a shown group's."""
        return alertmanager_base(self.renderer.alertmanager_url, self.external_url)

    def moment(self, timestamp: float) -> str:
        return local_time(datetime.fromtimestamp(timestamp, UTC), self.renderer.zone)

    def plain(self, tally: Tally) -> Message:
        """Title, totals and one line per name, as many as fit; the rest counted."""
        names = tally.names()
        head = [
            digest_title(tally, self.settings.language),
            f"{tally.messages} queued messages coalesced (the bot's rate limit could not "
            f"deliver them within {human_duration(self.max_delay)})",
            "by severity: " + ", ".join(f"{s} {n}" for s, n in tally.severities()),
        ]
        if tally.truncated:
            head.append(f"{tally.truncated} more alerts left out by Alertmanager (max_alerts)")
        lines = [f"- {name}: {f} firing, {r} resolved" for name, f, r in names]

        def more(left: int) -> str:
            alerts = sum(f + r for _, f, r in names[len(names) - left :]) if left else 0
            return f"{ELLIPSIS} {left} more names ({alerts} alerts)" if left else ""

        return plain_message(self.platform, head, lines, more, self.mentions, self.keyword)
