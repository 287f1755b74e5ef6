"""WeCom group robot: markdown messages; the key in the URL is the only credential."""

from __future__ import annotations

from typing import Any

from app.platforms.base import (
    Answer,
    HttpSender,
    Message,
    RateLimit,
    SendError,
    encode_json,
    error_text,
)

# chat-platforms.md 3.6 (S-W1, S-W6): 20 messages/min per robot; markdown.content <= 4096 bytes
# UTF-8, rejected with 40058 when longer (not truncated).
WECOM_RATE_PER_MINUTE = RateLimit(20, 60.0)
WECOM_MAX_CONTENT_BYTES = 4096

# chat-platforms.md 3.7: 45009 is the rate limit ("back off >= 60 s"); -1 is "system busy".
RATE_LIMITED_CODES = {45009}
TRANSIENT_CODES = {-1}
RATE_LIMIT_WAIT_SECONDS = 60.0
TRANSIENT_WAIT_SECONDS = 5.0


class WecomSender(HttpSender):
    platform = "wecom"
    MAX_MESSAGE_BYTES = WECOM_MAX_CONTENT_BYTES
    RATE_LIMITS = (WECOM_RATE_PER_MINUTE,)

    @classmethod
    def message_bytes(cls, message: Message) -> int:
        """WeCom limits the content field of the message type, not the whole body."""
        msgtype = message.get("msgtype")
        part = message.get(msgtype) if isinstance(msgtype, str) else None
        if isinstance(part, dict) and isinstance(part.get("content"), str):
            return len(part["content"].encode())
        return len(encode_json(message))

    def check_answer(self, body: dict[str, Any]) -> Answer:
        code = body.get("errcode", 0)
        # errmsg ends in ", from ip: ..., more info at ...": keep only the reason.
        text = error_text(str(body.get("errmsg", "")).split(", hint:")[0])
        if code == 0:
            return Answer(str(code), text)
        rate_limited = code in RATE_LIMITED_CODES
        transient = code in TRANSIENT_CODES
        retryable = rate_limited or transient
        wait = RATE_LIMIT_WAIT_SECONDS if rate_limited else TRANSIENT_WAIT_SECONDS
        raise SendError(
            f"wecom answered {code}: {text}",
            retryable=retryable,
            code=str(code),
            retry_after=wait if retryable else None,
        )
