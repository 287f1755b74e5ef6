"""Fake DingTalk custom robot, `POST /robot/send?access_token=...` (reference 2.8).

Check order (undocumented): token, throttling penalty, signature, size, JSON and msgtype, content
shape, keywords, rate. Error texts are the bare live ones from 2.7 (clients must match on errcode;
errmsg only tells the 310000 cases apart).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.records import Message, Reply, parse_object
from tests.fakes.signing import dingtalk_sign, same
from tests.fakes.windows import SlidingWindow

MAX_BODY_BYTES = 20_000  # 2.6 [OBS]: 460101 "message too long, exceed 20000 bytes".
SIGN_SKEW_MS = 3_600_000  # 2.2: timestamp in ms, within one hour.
RATE_PER_MINUTE = 20  # 2.6: 20 messages/min per robot, then a 10-minute block.

OK: Message = {"errcode": 0, "errmsg": "ok"}
TOKEN_MESSAGES = {
    300001: "token is not exist",
    300005: "token is not exist",
    400101: "access_token不存在",
}
RATE_MESSAGES = {130101: "send too fast, exceed 20 times per minute", 410100: "发送速度太快而限流"}
UNSUPPORTED = 400105  # 2.7: 不支持的消息类型 (UNVERIFIED live).
UNSUPPORTED_MSG = "不支持的消息类型"

# Required string fields per webhook msgtype (2.3). A missing one has no documented code; the
# fake answers 400105 like an unknown msgtype, which every client treats as permanent (2.7).
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "text": ("content",),
    "markdown": ("title", "text"),
    "link": ("title", "text", "messageUrl"),
    "actionCard": ("title", "text"),
    "feedCard": (),
}
# Which fields the keyword check scans is UNVERIFIED (2.2); the fake scans only the body text,
# never titles, so a client that relies on a keyword in a title fails here rather than in prod.
KEYWORD_FIELDS: Mapping[str, str] = {
    "text": "content",
    "markdown": "text",
    "link": "text",
    "actionCard": "text",
}


@dataclass(slots=True)
class DingtalkBot:
    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    rate_code: int = 130101  # 410100 for the current official table's generation.
    penalty_seconds: float = 600.0
    window: SlidingWindow = field(default_factory=lambda: SlidingWindow(RATE_PER_MINUTE, 60.0))
    throttled_until: float = -math.inf


def answer(
    bot: DingtalkBot | None,
    query: Mapping[str, str],
    raw: bytes,
    now: float,
    *,
    rate_limits: bool,
    bad_token_code: int,
) -> Reply:
    if bot is None:
        return _error(bad_token_code, TOKEN_MESSAGES.get(bad_token_code, "token is not exist"))
    if rate_limits and now < bot.throttled_until:
        return _throttled(bot)
    if (refusal := _signature(bot, query, now)) is not None:
        return refusal
    if len(raw) > MAX_BODY_BYTES:
        return _error(460101, "message too long, exceed 20000 bytes")
    body = parse_object(raw)
    if body is None:
        return _error(UNSUPPORTED, f"{UNSUPPORTED_MSG}: body is not a JSON object")
    if (refusal := _shape(body)) is not None:
        return refusal
    if (refusal := _keywords(bot, body)) is not None:
        return refusal
    if rate_limits and bot.window.full(now):
        bot.throttled_until = now + bot.penalty_seconds
        return _throttled(bot)
    bot.window.add(now)
    return Reply(0, dict(OK), accepted=body)


def _error(code: int, errmsg: str) -> Reply:
    return Reply(code, {"errcode": code, "errmsg": errmsg})


def _throttled(bot: DingtalkBot) -> Reply:
    payload: Message = {"errcode": bot.rate_code, "errmsg": RATE_MESSAGES.get(bot.rate_code, "")}
    if bot.rate_code == 130101:
        # 2.7 [OBS]: the live 130101 body carries these; "wait": 5 contradicts the documented
        # 10-minute block (section 5, item 5) and is reproduced as seen.
        payload |= {"status": 1111, "wait": 5, "source": "x5", "punish": "deny"}
        payload["uuid"] = str(uuid.uuid4())
    return Reply(bot.rate_code, payload)


def _signature(bot: DingtalkBot, query: Mapping[str, str], now: float) -> Reply | None:
    if bot.secret is None:
        return None
    # The framework already URL-decoded `sign` once (2.2), so a double-encoded or an unencoded
    # "+" (decoded to a space) no longer matches, as on the real server.
    timestamp, sign = query.get("timestamp", ""), query.get("sign")
    if not (timestamp.isascii() and timestamp.isdigit()):
        return _error(310000, "invalid timestamp")
    if abs(now * 1000 - int(timestamp)) > SIGN_SKEW_MS:
        return _error(310000, "invalid timestamp")
    if sign is None or not same(dingtalk_sign(timestamp, bot.secret), sign):
        return _error(310000, "sign not match")
    return None


def _shape(body: Message) -> Reply | None:
    kind = body.get("msgtype")
    if not isinstance(kind, str) or kind not in REQUIRED_FIELDS:
        return _error(UNSUPPORTED, UNSUPPORTED_MSG)
    payload = body.get(kind)
    if not isinstance(payload, dict):
        return _error(UNSUPPORTED, f"{UNSUPPORTED_MSG}: {kind} is required")
    for name in REQUIRED_FIELDS[kind]:
        if not isinstance(payload.get(name), str) or payload[name] == "":
            return _error(UNSUPPORTED, f"{UNSUPPORTED_MSG}: {kind}.{name} is required")
    if kind == "feedCard" and not (isinstance(payload.get("links"), list) and payload["links"]):
        return _error(UNSUPPORTED, f"{UNSUPPORTED_MSG}: feedCard.links is required")
    return None


def _keywords(bot: DingtalkBot, body: Message) -> Reply | None:
    if not bot.keywords:
        return None
    texts = list(_body_texts(body))
    if any(word in text for word in bot.keywords for text in texts):
        return None
    return _error(310000, "keywords not in content")


def _body_texts(body: Message) -> Iterator[str]:
    kind = body["msgtype"]
    payload: dict[str, Any] = body[kind]
    if kind in KEYWORD_FIELDS:
        yield payload[KEYWORD_FIELDS[kind]]
    elif kind == "feedCard":
        # Feed cards have no body text, only link titles.
        for link in payload["links"]:
            if isinstance(link, dict) and isinstance(link.get("title"), str):
                yield link["title"]
