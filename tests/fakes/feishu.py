"""Fake Feishu/Lark custom bot, `POST /open-apis/bot/v2/hook/{token}` (reference 1.8).

Check order (the real one is undocumented): token, size and JSON, signature, msg_type, content
shape, keywords, card 2.0 tags, rate. The body must be parsed before the signature can be read,
so "non-JSON" comes before "signature" here although 1.8 lists them the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.records import Message, Reply, parse_object
from tests.fakes.signing import feishu_sign, same
from tests.fakes.windows import SlidingWindow

MAX_BODY_BYTES = 20_000  # 1.6: "≤ 20 KB", decimal vs binary not stated, so the smaller one.
SIGN_SKEW_SECONDS = 3600  # 1.2: timestamp within one hour of server time.
RATE_PER_MINUTE = 100  # 1.6: 100 requests/min and 5 requests/s per bot.
RATE_PER_SECOND = 5

SUCCESS: Message = {
    "StatusCode": 0,
    "StatusMessage": "success",
    "code": 0,
    "data": {},
    "msg": "success",
}
SIGN_FAILED = "sign match fail or timestamp is not within one hour from current time"
TOKEN_INVALID = "param invalid: incoming webhook access token invalid"
BAD_CONTENT = "Bad Request: fail to parse content"
RATE_LIMITED = "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]"
# 1.7 [OBS]: the HTTP 400 rate-limit variant carries StatusCode 0 next to a non-zero code, a trap
# for clients that look at StatusCode alone.
TOO_MANY_REQUEST: Message = {
    "StatusCode": 0,
    "StatusMessage": "",
    "code": 9499,
    "msg": "too many request",
}

# Keys whose string values are message text for the keyword check (1.2: text and titles count,
# hrefs/urls do not). Everything under a builder template's variables counts too.
TEXT_KEYS = frozenset({"text", "title", "content", "subtitle"})
# Card JSON 2.0 removed these (1.3); sending them yields 11246 with inner 200861.
V2_GONE_TAGS = frozenset({"note", "action"})
# Top-level 1.0 keys that 2.0 no longer has (1.3: elements moved under body, no i18n_elements or
# fallback). 2.0 rejects unknown properties; the inner code for that is UNVERIFIED, 200621 chosen.
V2_GONE_KEYS = ("elements", "i18n_elements", "fallback")


@dataclass(slots=True)
class FeishuBot:
    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    rate_variant: Literal["11232", "9499"] = "11232"
    # 1.8: the HTTP status of 9499 "Bad Request" is UNVERIFIED; 200 by default, 400 on request.
    bad_request_status: int = 200
    per_minute: SlidingWindow = field(default_factory=lambda: SlidingWindow(RATE_PER_MINUTE, 60.0))
    per_second: SlidingWindow = field(default_factory=lambda: SlidingWindow(RATE_PER_SECOND, 1.0))


Check = Callable[[FeishuBot, Message, float], Reply | None]


def answer(bot: FeishuBot | None, raw: bytes, now: float, rate_limits: bool) -> Reply:
    if bot is None:
        return _error(19001, TOKEN_INVALID)
    body = parse_object(raw) if len(raw) <= MAX_BODY_BYTES else None
    if body is None:
        return _error(9499, "Bad Request", bot.bad_request_status)
    checks: tuple[Check, ...] = (_signature, _msg_type, _content, _keywords, _card_schema)
    for check in checks:
        if (refusal := check(bot, body, now)) is not None:
            return refusal
    if rate_limits and (bot.per_minute.full(now) or bot.per_second.full(now)):
        if bot.rate_variant == "9499":
            return Reply(9499, dict(TOO_MANY_REQUEST), http_status=400)
        return _error(11232, RATE_LIMITED)
    bot.per_minute.add(now)
    bot.per_second.add(now)
    return Reply(0, dict(SUCCESS), accepted=body)


def _error(code: int, msg: str, http_status: int = 200) -> Reply:
    return Reply(code, {"code": code, "data": {}, "msg": msg}, http_status=http_status)


def _card_error(inner_code: int, inner_msg: str) -> Reply:
    # 11246 wraps the card error table's code (1.7 [OBS]; 11246 itself is UNVERIFIED in docs).
    return _error(11246, f"ErrCode: {inner_code}; ErrMsg: {inner_msg}")


def _signature(bot: FeishuBot, body: Message, now: float) -> Reply | None:
    if bot.secret is None:
        return None
    timestamp, sign = _seconds(body.get("timestamp")), body.get("sign")
    if timestamp is None or not isinstance(sign, str) or abs(now - timestamp) > SIGN_SKEW_SECONDS:
        return _error(19021, SIGN_FAILED)
    return None if same(feishu_sign(timestamp, bot.secret), sign) else _error(19021, SIGN_FAILED)


def _seconds(value: Any) -> int | None:
    # 1.2: a string in the official example, a number from some clients; accept both. Floats and
    # booleans are refused: no documented client sends them.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _msg_type(bot: FeishuBot, body: Message, now: float) -> Reply | None:
    if isinstance(body.get("msg_type"), str):
        return None
    return _error(19002, "params error, msg_type need")


def _content(bot: FeishuBot, body: Message, now: float) -> Reply | None:
    """Minimal shape checks per msg_type (1.3). The codes for a bad shape are not documented:
    a card that is missing or not an object gets the card table's 200621 "parse card json err"
    (a JSON-string card is UNVERIFIED, so it is refused to keep clients on the documented
    object form); any other bad shape, or an unknown msg_type, gets 9499 "fail to parse content".
    """
    kind = body["msg_type"]
    if kind == "interactive" and not isinstance(body.get("card"), dict):
        return _card_error(200621, "parse card json err")
    if kind == "interactive":
        return None
    content = body.get("content")
    # `content` is an object, never a JSON-encoded string (1.1: that is the app IM API's shape).
    if not isinstance(content, dict) or not _content_ok(kind, content):
        return _error(9499, BAD_CONTENT, bot.bad_request_status)
    return None


def _content_ok(kind: str, content: Message) -> bool:
    if kind == "text":
        return isinstance(content.get("text"), str) and content["text"] != ""
    if kind == "post":
        post = content.get("post")
        locales = ("zh_cn", "en_us")
        return isinstance(post, dict) and any(isinstance(post.get(loc), dict) for loc in locales)
    if kind == "image":
        return isinstance(content.get("image_key"), str)
    if kind == "share_chat":
        # Doc says share_chat_id, go-lark sends share_open_chat_id; which one works is UNVERIFIED.
        return any(isinstance(content.get(k), str) for k in ("share_chat_id", "share_open_chat_id"))
    return False


def _keywords(bot: FeishuBot, body: Message, now: float) -> Reply | None:
    if not bot.keywords:
        return None
    texts = [*_texts(body.get("content")), *_texts(body.get("card"))]
    if any(word in text for word in bot.keywords for text in texts):
        return None
    return _error(19024, "Key Words Not Found")


def _texts(node: Any, key: str | None = None, everything: bool = False) -> Iterator[str]:
    if isinstance(node, str):
        if everything or key in TEXT_KEYS:
            yield node
    elif isinstance(node, dict):
        for k, value in node.items():
            yield from _texts(value, k, everything or k == "template_variable")
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value, key, everything)


def _card_schema(bot: FeishuBot, body: Message, now: float) -> Reply | None:
    card = body.get("card")
    if not isinstance(card, dict) or card.get("schema") != "2.0":
        return None
    for key in V2_GONE_KEYS:
        if key in card:
            return _card_error(200621, f"parse card json err; ErrorValue: {key}")
    for tag in _tags(card):
        if tag in V2_GONE_TAGS:
            return _card_error(
                200861,
                "cards of schema V2 no longer support this capability; "
                f"unsupported tag {tag}; ErrorValue: {tag}",
            )
    return None


def _tags(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("tag"), str):
            yield node["tag"]
        for value in node.values():
            yield from _tags(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tags(value)
