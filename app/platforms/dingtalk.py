"""DingTalk custom robot: markdown messages, signature in the URL query (DingTalk's variant),
its markdown escaping, @ mentions through the `at` object and the plain-text fallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from app.models import MentionSet, Message
from app.platforms.base import INERT_AT, Dialect, Platform, inert_markdown, plain_text
from app.platforms.sending import (
    Answer,
    ErrorCodes,
    HttpSender,
    RateLimit,
    business_code,
    classify,
    error_text,
)
from app.text import Trusted

# chat-platforms.md 2.6 (S-D1, S-D5): 20 messages/min per robot, then a 10-minute block.
DINGTALK_RATE_PER_MINUTE = RateLimit(20, 60.0)
# 460101 "message too long, exceed 20000 bytes" (S-D13, S-D14).
DINGTALK_MAX_BODY_BYTES = 20_000

# chat-platforms.md 2.7: both generations of rate-limit codes plus the transient ones. A robot
# over 20/min is throttled for 10 minutes (S-D1); waiting less only earns more refusals.
ERROR_CODES = ErrorCodes(
    success=0,
    rate_limited=frozenset({130101, 410100}),
    transient=frozenset({-1, 500100}),
    rate_limit_wait_seconds=600.0,
    transient_wait_seconds=5.0,
    rate_limit_words=("too fast", "限流"),
)


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk signs with key = secret over "<ts>\\n<secret>"; the caller URL-encodes once."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


class DingtalkSender(HttpSender):
    platform = "dingtalk"
    MAX_MESSAGE_BYTES = DINGTALK_MAX_BODY_BYTES
    RATE_LIMITS = (DINGTALK_RATE_PER_MINUTE,)

    def signed_request(self, message: Message) -> tuple[str, Message]:
        if not self.secret:
            return self.webhook_url, message
        timestamp_ms = int(self.clock() * 1000)
        sign = quote_plus(dingtalk_sign(timestamp_ms, self.secret))
        separator = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{separator}timestamp={timestamp_ms}&sign={sign}", message

    def check_answer(self, body: dict[str, Any]) -> Answer:
        code = business_code(body.get("errcode"))
        return classify("dingtalk", code, error_text(body.get("errmsg", "")), ERROR_CODES)


def dingtalk_markdown(value: str) -> str:
    # A single "\n" does not break a DingTalk line (2.5); two trailing spaces before it do.
    return inert_markdown(value).replace("\n", "  \n")


def mention_markup(mentions: MentionSet) -> Trusted:
    # The `at` object does the pinging; "@id" in the text is where the highlight shows.
    return Trusted(" ".join(f"@{m}" for m in mentions.mobiles + mentions.users))


def text_message(text: str, mentions: MentionSet) -> Message:
    names = " ".join(f"@{m}" for m in mentions.mobiles + mentions.users)
    at = {"atMobiles": [*mentions.mobiles], "atUserIds": [*mentions.users]}
    text = f"{text}\n{names}".strip()
    return {"msgtype": "text", "text": {"content": text}, "at": {**at, "isAtAll": mentions.all}}


DINGTALK = Platform(
    name="dingtalk",
    sender=DingtalkSender,
    dialect=Dialect(dingtalk_markdown, plain_text(INERT_AT)),
    type_key="msgtype",
    mention_markup=mention_markup,
    text_message=text_message,
)
