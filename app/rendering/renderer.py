"""Notification → platform messages: sandboxed Jinja2 cards whose every {{ value }} is escaped,
split to the platform's size limit, falling back to the built-in card and then to plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import BaseLoader, ChoiceLoader, DictLoader, FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

import app
from app.config.model import Receiver
from app.models import Alert, MentionSet, Message, Notification, Rendered
from app.platforms import PLATFORMS
from app.rendering.card import Card
from app.rendering.context import DETAIL_LEVELS, CardPart, CardViews
from app.rendering.fallback import fallback_message
from app.rendering.links import alertmanager_base
from app.rendering.mentions import dynamic_mentions, static_mentions
from app.rendering.sandbox import card_environment, render_message
from app.rendering.silence import SilenceLinks
from app.rendering.split import Line, SplitSizes, largest_fitting
from app.rendering.style import (
    DEFAULT_SETTINGS,
    LEVEL_RANK,
    CardSettings,
    card_title,
    levels_of,
    most_severe_first,
    worst_of,
)
from app.rendering.views import CardOptions
from app.text import Trusted, clean_text, clip, safe_url

log = logging.getLogger("alertbridge.render")

# Bots take 20 messages a minute (chat-platforms.md 2.6, 3.6): one group never sends more than
# this many parts; the last one counts the alerts it could not show.
MAX_PARTS = 5
# A group of up to this many alerts is rolled up into one message on every platform (fewer
# alerts in full, fewer objects listed) before it is split.
ONE_MESSAGE_ALERTS = 50
SPLIT_DETAIL = 1  # the DETAIL_LEVELS step of the parts of a bigger group
# Ladder of value lengths tried, halving, when a single alert alone is too big.
SHRINK_START_CHARS = 1024
SHRINK_MIN_CHARS = 16
ERROR_TEXT_CHARS = 300


def builtin_cards_dir() -> Path:
    """`app/cards` inside an installed wheel, else the repository's `cards/` next to `app/`."""
    package = Path(app.__file__).parent
    packaged = package / "cards"
    return packaged if packaged.is_dir() else package.parent / "cards"


@dataclass(frozen=True, slots=True)
class Chunk:
    """The alerts of one planned part; `minimal` means it becomes the plain-text fallback."""

    start: int  # where its alerts begin in the notification's list
    alerts: list[Alert]
    omitted: int
    max_value_chars: int | None = None
    minimal: bool = False


# (first alert, alert count, part, parts, omitted, max value chars, detail level): all a card
# depends on.
CardKey = tuple[int, int, int, int, int, int | None, int]


class Renderer:
    """Renders notifications with the built-in cards, or a user's overrides of some of them."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        cards_dir: Path | None = None,
        cards: Mapping[str, str] | None = None,
        alertmanager_url: str = "",
        settings: CardSettings = DEFAULT_SETTINGS,
        on_template_error: Callable[[str, str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        silence_links: SilenceLinks | None = None,
    ) -> None:
        """The user's cards are `cards` (name relative to cards_dir → text) when given: the
        version a config load checked (app/config_files.py), so a file changed after it is not
        used before it is checked too. Else they are read from `cards_dir` when first used."""
        self.zone = ZoneInfo(timezone)
        self.alertmanager_url = alertmanager_url
        self.silence_links = silence_links
        self.settings = settings  # receivers may choose their own language
        self.on_template_error = on_template_error
        self.clock = clock
        builtin: BaseLoader = FileSystemLoader(builtin_cards_dir())
        user: BaseLoader | None = None
        if cards is not None:
            user = DictLoader(dict(cards))
        elif cards_dir is not None:
            user = FileSystemLoader(cards_dir)
        # A user may override one file; every other name still resolves to the built-in one.
        loaders = [ChoiceLoader([user, builtin])] if user is not None else []
        self._loaders = [*loaders, builtin]
        self._environments: dict[str, list[SandboxedEnvironment]] = {}

    def environments(self, platform: str) -> list[SandboxedEnvironment]:
        """The user's cards (if any), then the built-in ones: the order fallbacks go in."""
        if platform not in self._environments:
            envs = [card_environment(loader, platform) for loader in self._loaders]
            self._environments[platform] = envs
        return self._environments[platform]

    def template_failed(
        self, receiver: Receiver, template: str, exc: Exception, instead: str
    ) -> None:
        """A card template raised (user code): logged, counted, and the caller falls back."""
        reason = clip(f"{type(exc).__name__}: {exc}", ERROR_TEXT_CHARS)
        # Only the receiver's name: its webhook URL and secret never reach a log line.
        log.error(
            "card template %s failed for receiver %s: %s; sending %s instead",
            template,
            receiver.name,
            reason,
            instead,
        )
        if self.on_template_error is not None:
            self.on_template_error(receiver.platform, template)

    def render(self, receiver: Receiver, notification: Notification) -> list[Message]:
        """One or more messages, each within the platform's size limit; never none."""
        return [part.message for part in self.render_parts(receiver, notification)]

    def render_parts(self, receiver: Receiver, notification: Notification) -> list[Rendered]:
        """`render`, with the alerts each message accounts for."""
        return _Job(self, receiver, notification).run()

    def preview(
        self, receiver: Receiver, notification: Notification
    ) -> tuple[list[Message], list[str]]:
        """`render`, and the errors of the templates that failed on the way, which the
        console's preview shows instead of logging and counting them (a preview of a broken
        card must not fire the template-error alert)."""
        job = _Job(self, receiver, notification, report=False)
        return [part.message for part in job.run()], job.errors


class _Job:
    """One render call: plans the parts, and steps down the fallbacks when a template fails.

    Alerts are addressed by their place in the notification: a part shows alerts[start:start+k].
    """

    def __init__(
        self,
        renderer: Renderer,
        receiver: Receiver,
        notification: Notification,
        *,
        report: bool = True,  # log and count template errors (Renderer.template_failed)
    ) -> None:
        self.renderer = renderer
        self.report = report
        self.receiver = receiver
        language = receiver.language or renderer.settings.language
        same = language == renderer.settings.language  # keep the renderer's: caches key on it
        self.settings = renderer.settings if same else replace(renderer.settings, language=language)
        self.levels = levels_of(notification.alerts, self.settings)
        # Most severe first: the first part, and the alerts shown in full, are those.
        notification = most_severe_first(notification, self.levels)
        self.notification = notification
        self.alerts = notification.alerts
        self.platform = receiver.platform
        self.spec = PLATFORMS[receiver.platform]
        self.limit = self.spec.max_message_bytes
        self.template = f"{receiver.platform}/{notification.kind}.json.j2"
        self.envs = list(renderer.environments(receiver.platform))
        self.static = static_mentions(receiver.mentions)
        # As it will print: the bot looks for these exact characters in the message.
        self.keyword = clean_text(receiver.keyword or "")
        mentions = receiver.mentions
        url = (
            Trusted("")  # its silence and alert links are Grafana's own, per alert
            if notification.from_grafana
            else alertmanager_base(renderer.alertmanager_url, notification.external_url)
        )
        self.alertmanager_url = url
        self.options = CardOptions(
            zone=renderer.zone,
            now=renderer.clock(),
            hidden=frozenset(mentions.from_labels + mentions.from_labels_mobiles),
            settings=self.settings,
            alertmanager_url=url,
        )
        self.silence_link = self.silence_link_of(notification)
        self.views: dict[tuple[int | None, int], CardViews] = {}
        self.detail = 0  # the DETAIL_LEVELS step every card of this call uses
        # Planning asks for the same card more than once (a probe is often the final part).
        self.cards: dict[CardKey, Card] = {}
        # The part count that size probes print (see plan).
        self.probe_parts = MAX_PARTS
        self.errors: list[str] = []  # "template: reason" of each template that failed

    def silence_link_of(self, notification: Notification) -> Trusted:
        """For firing alerts: a signed link silencing what they all share (the common labels;
        for a one-alert card, that alert's labels). None when they do not share an alertname:
        their common labels (a namespace, say) would silence far more than this card."""
        links = self.renderer.silence_links
        labels = notification.common_labels
        firing = notification.kind == "alert" and notification.firing
        if links is None or not firing or "alertname" not in labels:
            return Trusted("")
        if notification.from_grafana:  # the link silences in Alertmanager, which has not got it
            return Trusted("")
        return safe_url(links.link(self.receiver.name, labels))

    def run(self) -> list[Rendered]:
        truncated = self.notification.truncated_alerts
        if len(self.alerts) > ONE_MESSAGE_ALERTS:
            # Too many for one message: parts show one alert in full, the rest rolled up.
            self.detail = SPLIT_DETAIL
        whole = self.card(0, len(self.alerts), 1, 1, truncated)
        if whole is not None and whole.fits(self.limit):
            return [Rendered(whole.message, self.notification)]
        if whole is not None and len(self.alerts) <= ONE_MESSAGE_ALERTS:
            # A big group rolls up tighter before it splits: one message reads best.
            for detail in range(1, len(DETAIL_LEVELS)):
                self.detail = detail
                compact = self.card(0, len(self.alerts), 1, 1, truncated)
                if compact is None:
                    break
                if compact.fits(self.limit):
                    return [Rendered(compact.message, self.notification)]
                whole = compact
        plan = self.plan(whole) if self.envs and whole is not None else []
        if not plan or not self.envs:  # every template failed: one plain message for all
            return [Rendered(self.fallback(self.alerts, truncated, 1, 1), self.notification)]
        messages = [self.final(chunk, i, len(plan)) for i, chunk in enumerate(plan, 1)]
        return [Rendered(m, n) for m, n in zip(messages, self.accounts(plan), strict=True)]

    def accounts(self, plan: list[Chunk]) -> list[Notification]:
        """Per part, the alerts it shows; the last also counts those no part could show."""
        shown = sum(len(chunk.alerts) for chunk in plan)
        rest = self.alerts[shown:]
        last = len(plan) - 1
        return [
            replace(
                self.notification.with_alerts(chunk.alerts + (rest if i == last else [])),
                truncated_alerts=self.notification.truncated_alerts if i == last else 0,
            )
            for i, chunk in enumerate(plan)
        ]

    def mentions(self, alerts: list[Alert], part: int) -> MentionSet:
        """Nobody for good news (unless mentions.on_resolved) or below mentions.min_severity;
        static mentions ping once per notification, on its first part, not once per part."""
        policy = self.receiver.mentions
        firing = [a for a in alerts if a.status == "firing"]
        if not firing and not policy.on_resolved:
            return MentionSet()
        pinging = firing or alerts
        if policy.min_severity:
            floor = LEVEL_RANK.get(policy.min_severity.lower(), 0)
            if LEVEL_RANK[worst_of(self.levels[id(a)] for a in pinging)] < floor:
                return MentionSet()
        static = self.static if part == 1 else MentionSet()
        return static | dynamic_mentions(policy, alerts)

    def card_views(self, chars: int | None) -> CardViews:
        key = (chars, self.detail)
        if key not in self.views:
            options = replace(self.options, max_value_chars=chars, detail=self.detail)
            self.views[key] = CardViews(
                self.platform,
                self.receiver.name,
                self.notification,
                options,
                alertmanager_url=self.alertmanager_url,
                keyword=self.keyword,
                silence_link=self.silence_link,
                levels=self.levels,
            )
        return self.views[key]

    def card(
        self, start: int, count: int, part: int, parts: int, omitted: int, chars: int | None = None
    ) -> Card | None:
        """The card for alerts[start:start+count] from the first template that works; None if
        none does."""
        key = (start, count, part, parts, omitted, chars, self.detail)
        if key in self.cards:
            return self.cards[key]
        alerts = self.alerts[start : start + count]
        piece = CardPart(alerts, part, parts, omitted, self.mentions(alerts, part))
        context = self.card_views(chars).context(piece)
        while self.envs:
            try:
                card = render_message(self.envs[0], self.template, context)
            # A card template is user code: whatever it raises means "use the next fallback".
            except Exception as exc:
                self.failed(exc)
                continue
            self.cards[key] = card
            return card
        return None

    def failed(self, exc: Exception) -> None:
        self.errors.append(
            f"{self.template}: {clip(f'{type(exc).__name__}: {exc}', ERROR_TEXT_CHARS)}"
        )
        self.envs.pop(0)
        self.cards.clear()  # rendered by the template that just failed
        instead = "the built-in card" if self.envs else "a plain text message"
        if self.report:
            self.renderer.template_failed(self.receiver, self.template, exc, instead)

    def plan(self, whole: Card) -> list[Chunk]:
        """Greedy parts: each takes the longest prefix of the rest that fits."""
        total = len(self.alerts)
        sizes = SplitSizes(whole.size, total, self.limit)
        # Probes print the part count that the sizes seen so far foretell, so that the probe
        # deciding a part is, when the foretelling holds, also its final card. Any count from 2
        # to 9 makes a card of the same size ("part 1/3" or "part 1/5"), so the plan is the same.
        self.probe_parts = _parts(sizes.parts())
        chunks: list[Chunk] = []
        start = 0
        while start < total and self.envs and len(chunks) < MAX_PARTS:
            chunk = self.next_chunk(start, len(chunks) + 1, sizes)
            chunks.append(chunk)
            start += len(chunk.alerts)
            self.probe_parts = _parts(sizes.parts())
        return chunks

    def next_chunk(self, start: int, part: int, sizes: SplitSizes) -> Chunk:
        last = part == MAX_PARTS
        count = self.largest_prefix(start, part, last, sizes.line())
        if not count:
            sizes.placed(1, None)
            return self.shrunk(start, part, self.omitted(start, 1, last))
        omitted = self.omitted(start, count, last)
        probe = self.cards.get((start, count, part, self.probe_parts, omitted, None, self.detail))
        sizes.placed(count, None if probe is None else probe.size)
        return Chunk(start, self.alerts[start : start + count], omitted)

    def omitted(self, start: int, count: int, last: bool) -> int:
        """What a part must count as not shown: only the final part counts anything."""
        rest = len(self.alerts) - start
        if last or count == rest:
            return self.notification.truncated_alerts + rest - count
        return 0

    def largest_prefix(self, start: int, part: int, last: bool, line: Line) -> int:
        """The most alerts from `start` on that one card of this part can show."""

        def size_of(count: int) -> int | None:
            omitted = self.omitted(start, count, last)
            card = self.card(start, count, part, self.probe_parts, omitted)
            return None if card is None else card.size

        return largest_fitting(len(self.alerts) - start, size_of, self.limit, line)

    def shrunk(self, start: int, part: int, omitted: int) -> Chunk:
        """A lone alert too big for one message: clip its values, halving until it fits."""
        chars = SHRINK_START_CHARS
        while chars >= SHRINK_MIN_CHARS and self.envs:
            card = self.card(start, 1, part, self.probe_parts, omitted, chars)
            if card is not None and card.fits(self.limit):
                return Chunk(start, self.alerts[start : start + 1], omitted, chars)
            chars //= 2
        log.warning(
            "alert too big for a %s card even with its values clipped; sending plain text",
            self.platform,
        )
        return Chunk(start, self.alerts[start : start + 1], omitted, minimal=True)

    def final(self, chunk: Chunk, part: int, parts: int) -> Message:
        if not chunk.minimal:
            count = len(chunk.alerts)
            card = self.card(chunk.start, count, part, parts, chunk.omitted, chunk.max_value_chars)
            if card is not None and card.fits(self.limit):
                return card.message
        return self.fallback(chunk.alerts, chunk.omitted, part, parts)

    def fallback(self, alerts: list[Alert], omitted: int, part: int, parts: int) -> Message:
        title = card_title(self.notification, part, parts, SHRINK_START_CHARS, self.settings)
        mentions = self.mentions(alerts, part)
        return fallback_message(self.platform, title, alerts, omitted, mentions, self.keyword)


def _parts(foretold: int) -> int:
    """A split has 2 to MAX_PARTS parts."""
    return min(MAX_PARTS, max(2, foretold))
