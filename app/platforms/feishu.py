"""Feishu / Lark custom bot: interactive cards, signature in the body (Feishu's own variant),
lark_md escaping, <at> mentions and the plain-text fallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from app.models import MentionSet, Message
from app.platforms.base import Dialect, Platform, plain_text
from app.platforms.sending import (
    Answer,
    ErrorCodes,
    HttpSender,
    RateLimit,
    business_code,
    classify,
    error_text,
)
from app.text import Trusted, clean_text

# chat-platforms.md 1.6 (S-F1, S-F9): 100/min and 5/s per bot; whole body <= 20 KB.
FEISHU_RATE_PER_MINUTE = RateLimit(100, 60.0)
FEISHU_RATE_PER_SECOND = RateLimit(5, 1.0)
FEISHU_MAX_BODY_BYTES = 20_000
# Room for the `timestamp` and `sign` fields added after rendering.
SIGNATURE_OVERHEAD_BYTES = 100

# chat-platforms.md 1.7: 11232 is the documented rate limit; 9499 is "Bad Request" unless its
# message says "too many" (the 2023 HTTP 400 variant, S-F18).
ERROR_CODES = ErrorCodes(
    success=0,
    rate_limited=frozenset({11232}),
    rate_limit_wait_seconds=1.0,
    rate_limit_words=("too many",),
)


def feishu_sign(timestamp: int, secret: str) -> str:
    """Feishu signs with key = "<ts>\\n<secret>" over an EMPTY message (the inverse of DingTalk)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuSender(HttpSender):
    platform = "feishu"
    MAX_MESSAGE_BYTES = FEISHU_MAX_BODY_BYTES - SIGNATURE_OVERHEAD_BYTES
    RATE_LIMITS = (FEISHU_RATE_PER_MINUTE, FEISHU_RATE_PER_SECOND)

    def signed_request(self, message: Message) -> tuple[str, Message]:
        if not self.secret:
            return self.webhook_url, message
        timestamp = int(self.clock())
        sign = feishu_sign(timestamp, self.secret)
        signed = {**message, "timestamp": str(timestamp), "sign": sign}
        return self.webhook_url, signed

    def check_answer(self, body: dict[str, Any]) -> Answer:
        text = error_text(body.get("msg") or body.get("StatusMessage") or "")
        return classify("feishu", feishu_code(body), text, ERROR_CODES)


def feishu_code(body: dict[str, Any]) -> int | None:
    """The first non-zero of `code` and the older `StatusCode`, 0 when those present are 0, None
    when neither is there or one is not a number. Never trust StatusCode == 0 alone: errors
    arrive as StatusCode 0 with a non-zero code (chat-platforms.md 1.7)."""
    codes = [business_code(body[key]) for key in ("code", "StatusCode") if key in body]
    if not codes or None in codes:
        return None
    return next((code for code in codes if code), 0)


# lark_md parses <font>, <at>, <link> and HTML entities (chat-platforms.md 1.5). Feishu's
# card-markdown doc prescribes HTML entities for the characters that mark up text (&#42; for
# "*", &#95; for "_", ...) and documents no backslash escape (oncall-cards.md [F6]): a reader
# sees the character, not a backslash. "(" and ")" only make a link after an unescaped "]",
# "|" tables are 2.0-only, and "#", "-", "+", "=" and "1." only count at the start of a line.
_LARK_MD = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "*": "&#42;",
        "_": "&#95;",
        "~": "&#126;",
        "[": "&#91;",
        "]": "&#93;",
        "`": "&#96;",
        "\\": "&#92;",
    }
)
_LINE_START_ENTITIES = {"#": "&#35;", "-": "&#45;", "+": "&#43;", "=": "&#61;", ".": "&#46;"}
_LARK_LINE_START = re.compile(r"^([ ]*)([-+=#]|\d+\.)", re.MULTILINE)


def _entity_line_start(match: re.Match[str]) -> str:
    marker = match.group(2)
    return match.group(1) + marker[:-1] + _LINE_START_ENTITIES[marker[-1]]


def feishu_markdown(value: str) -> str:
    text = clean_text(value).translate(_LARK_MD)
    return _LARK_LINE_START.sub(_entity_line_start, text)


def mention_markup(mentions: MentionSet) -> Trusted:
    # Card markdown takes open_id/user_id only; Feishu cannot mention a phone number.
    tags = [f"<at id={user}></at>" for user in mentions.users]
    return Trusted(" ".join(["<at id=all></at>"] * mentions.all + tags))


def text_message(text: str, mentions: MentionSet) -> Message:
    tags = ['<at user_id="all"></at>'] * mentions.all
    tags += [f'<at user_id="{user}"></at>' for user in mentions.users]
    return {"msg_type": "text", "content": {"text": " ".join([text, *tags]).strip()}}


FEISHU = Platform(
    name="feishu",
    sender=FeishuSender,
    dialect=Dialect(feishu_markdown, plain_text({})),
    type_key="msg_type",
    mention_markup=mention_markup,
    text_message=text_message,
)
