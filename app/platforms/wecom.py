"""WeCom group robot: markdown messages (the key in the URL is the only credential), its
markdown escaping, <@userid> mentions and the plain-text fallback."""

from __future__ import annotations

from typing import Any

from app.models import MentionSet, Message
from app.platforms.base import INERT_AT, Dialect, Platform, inert_markdown, plain_text
from app.platforms.sending import (
    Answer,
    ErrorCodes,
    HttpSender,
    RateLimit,
    business_code,
    classify,
    encode_json,
    error_text,
)
from app.text import Trusted

# chat-platforms.md 3.6 (S-W1, S-W6): 20 messages/min per robot; markdown.content <= 4096 bytes
# UTF-8, rejected with 40058 when longer (not truncated).
WECOM_RATE_PER_MINUTE = RateLimit(20, 60.0)
WECOM_MAX_CONTENT_BYTES = 4096

# chat-platforms.md 3.6: `text.content` is at most 2048 bytes (markdown has 4096).
WECOM_TEXT_MAX_BYTES = 2048

# chat-platforms.md 3.7: 45009 is the rate limit ("back off >= 60 s"); -1 is "system busy".
ERROR_CODES = ErrorCodes(
    success=0,
    rate_limited=frozenset({45009}),
    transient=frozenset({-1}),
    rate_limit_wait_seconds=60.0,
    transient_wait_seconds=5.0,
)


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

    @classmethod
    def message_bytes_at_most(cls, text: str) -> int | None:
        # Measuring the content field is cheap already: no bound is needed.
        return None

    def check_answer(self, body: dict[str, Any]) -> Answer:
        code = business_code(body.get("errcode"))
        # errmsg ends in ", from ip: ..., more info at ...": keep only the reason.
        text = error_text(str(body.get("errmsg", "")).split(", hint:")[0])
        return classify("wecom", code, text, ERROR_CODES)


def mention_markup(mentions: MentionSet) -> Trusted:
    # WeCom markdown knows only <@userid>: no phone numbers, and @all is undocumented there
    # (chat-platforms.md 3.4), so both are left out rather than sent as dead text.
    return Trusted(" ".join(f"<@{user}>" for user in mentions.users))


def text_message(text: str, mentions: MentionSet) -> Message:
    content = {"content": text, "mentioned_list": [*mentions.users] + ["@all"] * mentions.all}
    content["mentioned_mobile_list"] = [*mentions.mobiles]
    return {"msgtype": "text", "text": content}


WECOM = Platform(
    name="wecom",
    sender=WecomSender,
    dialect=Dialect(inert_markdown, plain_text(INERT_AT)),
    type_key="msgtype",
    mention_markup=mention_markup,
    text_message=text_message,
    max_text_bytes=WECOM_TEXT_MAX_BYTES,
)
