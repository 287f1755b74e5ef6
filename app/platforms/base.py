"""The platform spec: everything the rest of alertbridge knows about one chat platform, and the
markup helpers the platforms share. Each platform module (feishu.py, dingtalk.py, ...) builds one
`Platform`; app/platforms/__init__.py lists them. Nothing outside app/platforms/ branches on a
platform's name: it asks its `Platform` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.models import MentionSet, Message
from app.platforms.sending import RateLimit, Sender
from app.text import Trusted, clean_text


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a platform's cards escape untrusted text."""

    markdown: Callable[[str], str]  # the default for every {{ value }}
    plain: Callable[[str], str]  # the `plain` filter: titles and other non-markdown fields


@dataclass(frozen=True, slots=True)
class Platform:
    """One chat platform: how to send to it, how its text escapes, how it mentions people."""

    name: str  # one lowercase word: config `platform:`, cards/<name>/, metric label
    sender: type[Sender]
    dialect: Dialect
    # The key every message of the platform has; a card rendered without it is broken.
    type_key: str
    # Inline mention markup for a card, built only from validated ids.
    mention_markup: Callable[[MentionSet], Trusted]
    # The last-resort message: `text` (already escaped for the platform) with the mentions.
    text_message: Callable[[str, MentionSet], Message]
    # A plain-text message may have a smaller limit than a card (WeCom: text 2048, markdown 4096).
    max_text_bytes: int | None = None
    needs_webhook_url: bool = True  # False only for the console, which posts nowhere

    @property
    def max_message_bytes(self) -> int:
        return self.sender.MAX_MESSAGE_BYTES

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        return self.sender.RATE_LIMITS

    def message_bytes(self, message: Message) -> int:
        """A message's size as the platform's limit counts it."""
        return self.sender.message_bytes(message)

    def message_bytes_at_most(self, text: str) -> int | None:
        """An upper bound of message_bytes for the message that JSON `text` (integers its only
        numbers) decodes to, or None."""
        return self.sender.message_bytes_at_most(text)

    def text_overage(self, message: Message) -> int:
        """How many bytes a plain-text message is over the limit (<= 0 when it fits)."""
        limit = self.max_message_bytes
        if self.max_text_bytes is not None:
            limit = min(limit, self.max_text_bytes)
        return self.message_bytes(message) - limit


# Fullwidth look-alikes: no chat client parses them as tags or mentions, whatever it does with
# HTML entities, and a reader still sees the character that was meant.
INERT_ANGLES = {"<": "\uff1c", ">": "\uff1e"}
# "@" becomes the fullwidth at sign U+FF20 rather than "@" + a zero-width space: it stays
# visible, so nobody wonders why "@all" did not ping, and copying the text carries no hidden
# characters; a zero-width character is also what some clients strip before matching mentions.
INERT_AT = {"@": "\uff20"}


def backslashed(chars: str) -> dict[str, str]:
    return {c: "\\" + c for c in chars}


# DingTalk (chat-platforms.md 2.5) and WeCom (3.5) document no escaping at all and entity
# decoding is unverified, so "<" ">" become inert look-alikes (no <font>, no <@userid>) and "@"
# cannot ping. The markup characters get a backslash only where they could form markup (a
# reader may see the backslash, oncall-cards.md §2), as CommonMark parses them:
# - "`" always (a code span can swallow the text between two values);
# - "*" unless spaces surround it ("2 * 3"), "_" unless it sits inside a word ("user_id");
# - "]" when "(", "[" or ":" follows it, or at the end of the value (what follows is not
#   known): no "](" link, "][" reference or "]:" definition can form, so "[" stays as it is;
# - "\\" before punctuation or at the end of the value (elsewhere it escapes nothing).
INERT_MARKDOWN = str.maketrans({**INERT_ANGLES, **INERT_AT})
_MARKUP = re.compile(
    r"`"
    r"|(?<![ ])\*|\*(?![ ])"
    r"|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"
    r"|\](?=[(\[:]|$)"
    r"|\\(?=[!-/:-@\[-`{-~]|$)",
    re.DOTALL,
)
# A value that starts a line must not start a heading, list or setext underline either.
_LINE_START = re.compile(r"^([ ]*)([-+=#]|\d+(?=\.\s))", re.MULTILINE)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    # "1." becomes "1\." (not a list item); "-", "+", "=" and "#" get the backslash in front.
    return f"{indent}{marker}\\" if marker[0].isdigit() else f"{indent}\\{marker}"


def escape_line_starts(value: str) -> str:
    return _LINE_START.sub(_escape_line_start, value)


def inert_markdown(value: str) -> str:
    """Markdown for dialects without documented escaping (DingTalk, WeCom)."""
    text = clean_text(value).translate(INERT_MARKDOWN)
    return escape_line_starts(_MARKUP.sub(_backslash, text))


def _backslash(match: re.Match[str]) -> str:
    return "\\" + match.group(0)


def plain_text(extra: dict[str, str]) -> Callable[[str], str]:
    """The `plain` filter of a dialect: one line, no tags, plus the dialect's own `extra`."""
    table = str.maketrans({"\n": " ", **INERT_ANGLES, **extra})

    def plain(value: str) -> str:
        return clean_text(value).translate(table)

    return plain
