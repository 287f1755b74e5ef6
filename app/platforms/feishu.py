"""Feishu / Lark custom bot: interactive cards, signature in the body (Feishu's own variant)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from app.platforms.base import Answer, HttpSender, Message, RateLimit, SendError, error_text

# chat-platforms.md 1.6 (S-F1, S-F9): 100/min and 5/s per bot; whole body <= 20 KB.
FEISHU_RATE_PER_MINUTE = RateLimit(100, 60.0)
FEISHU_RATE_PER_SECOND = RateLimit(5, 1.0)
FEISHU_MAX_BODY_BYTES = 20_000
# Room for the `timestamp` and `sign` fields added after rendering.
SIGNATURE_OVERHEAD_BYTES = 100

# chat-platforms.md 1.7: 11232 is the documented rate limit; 9499 is "Bad Request" unless its
# message says "too many" (the 2023 HTTP 400 variant, S-F18).
RATE_LIMITED_CODES = {11232}
RATE_LIMIT_WAIT_SECONDS = 1.0


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
        code = body.get("code")
        status_code = body.get("StatusCode")
        # Never trust StatusCode == 0 alone: errors arrive as StatusCode 0 with a non-zero code.
        failed = (code is not None and code != 0) or (status_code is not None and status_code != 0)
        number = code if code not in (None, 0) else status_code
        text = error_text(body.get("msg") or body.get("StatusMessage") or "")
        if not failed:
            return Answer(str(number or 0), text)
        rate_limited = number in RATE_LIMITED_CODES or (
            number == 9499 and "too many" in text.lower()
        )
        raise SendError(
            f"feishu answered {number}: {text}",
            retryable=rate_limited,
            code=str(number),
            retry_after=RATE_LIMIT_WAIT_SECONDS if rate_limited else None,
        )
