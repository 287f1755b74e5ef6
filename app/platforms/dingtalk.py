"""DingTalk custom robot: markdown messages, signature in the URL query (DingTalk's variant)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from app.platforms.base import Answer, HttpSender, Message, RateLimit, SendError, error_text

# chat-platforms.md 2.6 (S-D1, S-D5): 20 messages/min per robot, then a 10-minute block.
DINGTALK_RATE_PER_MINUTE = RateLimit(20, 60.0)
# 460101 "message too long, exceed 20000 bytes" (S-D13, S-D14).
DINGTALK_MAX_BODY_BYTES = 20_000

# chat-platforms.md 2.7: both generations of rate-limit codes plus the transient ones.
RATE_LIMITED_CODES = {130101, 410100}
TRANSIENT_CODES = {-1, 500100}
# A robot over 20/min is throttled for 10 minutes (S-D1); waiting less only earns more refusals.
RATE_LIMIT_WAIT_SECONDS = 600.0
TRANSIENT_WAIT_SECONDS = 5.0


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
        code = body.get("errcode", 0)
        text = error_text(body.get("errmsg", ""))
        if code == 0:
            return Answer(str(code), text)
        rate_limited = code in RATE_LIMITED_CODES or "too fast" in text or "限流" in text
        transient = code in TRANSIENT_CODES
        wait = RATE_LIMIT_WAIT_SECONDS if rate_limited else TRANSIENT_WAIT_SECONDS
        raise SendError(
            f"dingtalk answered {code}: {text}",
            retryable=rate_limited or transient,
            code=str(code),
            retry_after=wait if (rate_limited or transient) else None,
        )
