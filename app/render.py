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
from app.card_context import CardOptions, CardPart, card_context, card_title, clip
from app.config import Receiver
from app.escaping import clean_text, safe_url
from app.fallback import fallback_message
from app.mentions import MentionSet, dynamic_mentions, static_mentions
from app.models import Alert, Notification
from app.senders import SENDERS
from app.senders.base import Message
from app.templating import card_environment, render_message

log = logging.getLogger("alertbridge.render")

# Bots take 20 messages a minute (chat-platforms.md 2.6, 3.6): one group never sends more than
# this many parts; the last one counts the alerts it could not show.
MAX_PARTS = 5
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
class Rendered:
    """One message and the alerts it accounts for, shown or counted (what a digest tallies)."""

    message: Message
    notification: Notification


@dataclass(frozen=True, slots=True)
class Chunk:
    """The alerts of one planned part; `minimal` means it becomes the plain-text fallback."""

    alerts: list[Alert]
    omitted: int
    max_value_chars: int | None = None
    minimal: bool = False


class Renderer:
    """Renders notifications with the built-in cards, or a user's overrides of some of them."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        cards_dir: Path | None = None,
        cards: Mapping[str, str] | None = None,
        alertmanager_url: str = "",
        on_template_error: Callable[[str, str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """The user's cards are `cards` (name relative to cards_dir → text) when given: the
        version a config load checked (app/config_files.py), so a file changed after it is not
        used before it is checked too. Else they are read from `cards_dir` when first used."""
        self.zone = ZoneInfo(timezone)
        self.alertmanager_url = alertmanager_url
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

    def render(self, receiver: Receiver, notification: Notification) -> list[Message]:
        """One or more messages, each within the platform's size limit; never none."""
        return [part.message for part in self.render_parts(receiver, notification)]

    def render_parts(self, receiver: Receiver, notification: Notification) -> list[Rendered]:
        """`render`, with the alerts each message accounts for."""
        return _Job(self, receiver, notification).run()


class _Job:
    """One render call: plans the parts, and steps down the fallbacks when a template fails."""

    def __init__(self, renderer: Renderer, receiver: Receiver, notification: Notification) -> None:
        self.renderer = renderer
        self.receiver = receiver
        self.notification = notification
        self.platform = receiver.platform
        self.sender = SENDERS[receiver.platform]
        self.template = f"{receiver.platform}/{notification.kind}.json.j2"
        self.envs = list(renderer.environments(receiver.platform))
        self.static = static_mentions(receiver.mentions)
        # As it will print: the bot looks for these exact characters in the message.
        self.keyword = clean_text(receiver.keyword or "")
        mentions = receiver.mentions
        self.options = CardOptions(
            zone=renderer.zone,
            now=renderer.clock(),
            hidden=frozenset(mentions.from_labels + mentions.from_labels_mobiles),
        )
        url = safe_url(notification.external_url) or safe_url(renderer.alertmanager_url)
        self.alertmanager_url = url

    def run(self) -> list[Rendered]:
        alerts = self.notification.alerts
        truncated = self.notification.truncated_alerts
        whole = self.card(alerts, 1, 1, truncated)
        if whole is not None and self.fits(whole):
            return [Rendered(whole, self.notification)]
        plan = self.plan(alerts) if self.envs else []
        if not plan or not self.envs:  # every template failed: one plain message for all
            return [Rendered(self.fallback(alerts, truncated, 1, 1), self.notification)]
        messages = [self.final(chunk, i, len(plan)) for i, chunk in enumerate(plan, 1)]
        return [Rendered(m, n) for m, n in zip(messages, self.accounts(plan), strict=True)]

    def accounts(self, plan: list[Chunk]) -> list[Notification]:
        """Per part, the alerts it shows; the last also counts those no part could show."""
        shown = sum(len(chunk.alerts) for chunk in plan)
        rest = self.notification.alerts[shown:]
        last = len(plan) - 1
        return [
            replace(
                self.notification.with_alerts(chunk.alerts + (rest if i == last else [])),
                truncated_alerts=self.notification.truncated_alerts if i == last else 0,
            )
            for i, chunk in enumerate(plan)
        ]

    def fits(self, message: Message) -> bool:
        return self.sender.message_bytes(message) <= self.sender.MAX_MESSAGE_BYTES

    def mentions(self, alerts: list[Alert], part: int) -> MentionSet:
        # Static mentions ping once per notification, on its first part, not once per part.
        static = self.static if part == 1 else MentionSet()
        return static | dynamic_mentions(self.receiver.mentions, alerts)

    def card(
        self, alerts: list[Alert], part: int, parts: int, omitted: int, chars: int | None = None
    ) -> Message | None:
        """The card for these alerts from the first template that works; None if none does."""
        piece = CardPart(alerts, part, parts, omitted, self.mentions(alerts, part))
        options = CardOptions(self.options.zone, self.options.now, chars, self.options.hidden)
        context = card_context(
            self.platform,
            self.receiver.name,
            self.notification,
            piece,
            options,
            alertmanager_url=self.alertmanager_url,
            keyword=self.keyword,
        )
        while self.envs:
            try:
                return render_message(self.envs[0], self.template, context)
            # A card template is user code: whatever it raises means "use the next fallback".
            except Exception as exc:
                self.failed(exc)
        return None

    def failed(self, exc: Exception) -> None:
        self.envs.pop(0)
        instead = "the built-in card" if self.envs else "a plain text message"
        reason = clip(f"{type(exc).__name__}: {exc}", ERROR_TEXT_CHARS)
        # Only the receiver's name: its webhook URL and secret never reach a log line.
        log.error(
            "card template %s failed for receiver %s: %s; sending %s instead",
            self.template,
            self.receiver.name,
            reason,
            instead,
        )
        if self.renderer.on_template_error is not None:
            self.renderer.on_template_error(self.platform, self.template)

    def plan(self, alerts: list[Alert]) -> list[Chunk]:
        """Greedy parts: each takes the longest prefix of the rest that fits (binary search)."""
        chunks: list[Chunk] = []
        rest = alerts
        while rest and self.envs:
            part = len(chunks) + 1
            last = part == MAX_PARTS
            count = self.largest_prefix(rest, part, last)
            if count:
                chunks.append(Chunk(rest[:count], self.omitted(rest, count, last)))
            else:
                count = 1
                chunks.append(self.shrunk(rest[0], part, self.omitted(rest, 1, last)))
            rest = rest[count:]
            if last:
                break
        return chunks

    def omitted(self, rest: list[Alert], count: int, last: bool) -> int:
        """What a part must count as not shown: only the final part counts anything."""
        if last or count == len(rest):
            return self.notification.truncated_alerts + len(rest) - count
        return 0

    def largest_prefix(self, rest: list[Alert], part: int, last: bool) -> int:
        """Galloping then binary search: O(log k) renders for a part of k alerts."""
        low, probe = 0, 1
        while probe <= len(rest) and self.prefix_fits(rest, probe, part, last):
            low, probe = probe, probe * 2
        high = min(probe, len(rest) + 1) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.prefix_fits(rest, middle, part, last):
                low = middle
            else:
                high = middle - 1
        return low

    def prefix_fits(self, rest: list[Alert], count: int, part: int, last: bool) -> bool:
        # Sized with MAX_PARTS as the part count: "(part 1/5)" is as long as "(part 1/3)".
        card = self.card(rest[:count], part, MAX_PARTS, self.omitted(rest, count, last))
        return card is not None and self.fits(card)

    def shrunk(self, alert: Alert, part: int, omitted: int) -> Chunk:
        """A lone alert too big for one message: clip its values, halving until it fits."""
        chars = SHRINK_START_CHARS
        while chars >= SHRINK_MIN_CHARS and self.envs:
            card = self.card([alert], part, MAX_PARTS, omitted, chars)
            if card is not None and self.fits(card):
                return Chunk([alert], omitted, chars)
            chars //= 2
        log.warning(
            "alert too big for a %s card even with its values clipped; sending plain text",
            self.platform,
        )
        return Chunk([alert], omitted, minimal=True)

    def final(self, chunk: Chunk, part: int, parts: int) -> Message:
        if not chunk.minimal:
            card = self.card(chunk.alerts, part, parts, chunk.omitted, chunk.max_value_chars)
            if card is not None and self.fits(card):
                return card
        return self.fallback(chunk.alerts, chunk.omitted, part, parts)

    def fallback(self, alerts: list[Alert], omitted: int, part: int, parts: int) -> Message:
        title = card_title(self.notification, part, parts, SHRINK_START_CHARS)
        mentions = self.mentions(alerts, part)
        return fallback_message(self.platform, title, alerts, omitted, mentions, self.keyword)
