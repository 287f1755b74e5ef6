"""Fake WeCom group robot, `POST /cgi-bin/webhook/send?key=...` (reference 3.8).

Always HTTP 200. Check order (undocumented): key, JSON, msgtype, content, rate. Every errmsg gets
the live diagnostic suffix (3.7) so clients are tested against it, not against a bare reason.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.records import Message, Reply, parse_object
from tests.fakes.windows import SlidingWindow

TEXT_MAX_BYTES = 2048  # 3.6 [DOC]; a live error once said 5120, hence `text_limit` per bot.
MARKDOWN_MAX_BYTES = 4096  # 3.6: markdown and markdown_v2, enforced with 40058.
NEWS_MAX_ARTICLES = 8  # 3.6: 1-8 articles; the code for more is UNVERIFIED, 40058 chosen.
NEWS_TITLE_MAX_BYTES = 128  # 3.6: title and description are silently truncated, not refused.
NEWS_DESCRIPTION_MAX_BYTES = 512
RATE_PER_MINUTE = 20  # 3.6; the penalty is undocumented, so only the window itself refuses.

OK: Message = {"errcode": 0, "errmsg": "ok"}
INVALID_PARAMETER = "Invalid input invalid Request Parameter"
MORE_INFO = "https://open.work.weixin.qq.com/devtool/query?e="
CONTENT_TYPES = ("text", "markdown", "markdown_v2")
# 3.3: what each remaining msgtype cannot do without (UNVERIFIED codes: 40058 for all).
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "image": ("base64", "md5"),
    "file": ("media_id",),
    "voice": ("media_id",),
    "template_card": ("card_type",),
}

_hints = itertools.count(1)


@dataclass(slots=True)
class WecomBot:
    key: str
    text_limit: int = TEXT_MAX_BYTES
    window: SlidingWindow = field(default_factory=lambda: SlidingWindow(RATE_PER_MINUTE, 60.0))


def answer(
    bot: WecomBot | None, key: str | None, raw: bytes, now: float, *, ip: str, rate_limits: bool
) -> Reply:
    def error(code: int, reason: str) -> Reply:
        hint = f"{int(now)}_{next(_hints)}_{uuid.uuid4().hex}"
        errmsg = f"{reason}, hint: [{hint}], from ip: {ip}, more info at {MORE_INFO}{code}"
        return Reply(code, {"errcode": code, "errmsg": errmsg})

    if not key:
        return error(40058, "invalid param 'key'")
    if bot is None:
        return error(93000, "invalid webhook url")
    body = parse_object(raw)
    if body is None:
        return error(40058, INVALID_PARAMETER)  # 3.8: code for bad JSON is UNVERIFIED.
    kind = body.get("msgtype")
    if not isinstance(kind, str) or kind not in (*CONTENT_TYPES, "news", *REQUIRED_FIELDS):
        return error(40008, "invalid message type")
    payload = body.get(kind)
    payload = payload if isinstance(payload, dict) else {}
    if (problem := _problem(kind, payload, bot.text_limit)) is not None:
        return error(*problem)
    if rate_limits and bot.window.full(now):
        return error(45009, "api freq out of limit")
    bot.window.add(now)
    return Reply(0, dict(OK), accepted=_as_shown(body))


def _problem(kind: str, payload: Message, text_limit: int) -> tuple[int, str] | None:
    if kind in CONTENT_TYPES:
        content = payload.get("content")
        if not isinstance(content, str) or content == "":
            return 44004, "empty content"
        limit = text_limit if kind == "text" else MARKDOWN_MAX_BYTES
        if len(content.encode()) > limit:
            return 40058, f"{kind}.content exceed max length {limit}. {INVALID_PARAMETER}"
        return None
    if kind == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= NEWS_MAX_ARTICLES:
            return 40058, f"news.articles size must be 1-{NEWS_MAX_ARTICLES}. {INVALID_PARAMETER}"
        if not all(isinstance(a, dict) and isinstance(a.get("title"), str) for a in articles):
            return 40058, f"news.articles.title missing. {INVALID_PARAMETER}"
        return None
    missing = [name for name in REQUIRED_FIELDS[kind] if not isinstance(payload.get(name), str)]
    return (40058, f"{kind}.{missing[0]} missing. {INVALID_PARAMETER}") if missing else None


def _as_shown(body: Message) -> Message:
    """The accepted message as the group sees it: news titles/descriptions cut to their limits."""
    if body["msgtype"] != "news":
        return body
    articles = [_truncated(article) for article in body["news"]["articles"]]
    return {**body, "news": {**body["news"], "articles": articles}}


def _truncated(article: dict[str, Any]) -> dict[str, Any]:
    limits = {"title": NEWS_TITLE_MAX_BYTES, "description": NEWS_DESCRIPTION_MAX_BYTES}
    cut = {
        name: _cut_utf8(article[name], limit)
        for name, limit in limits.items()
        if isinstance(article.get(name), str)
    }
    return article | cut


def _cut_utf8(text: str, limit: int) -> str:
    # Cut on a byte budget without leaving half a multi-byte character behind.
    return text.encode()[:limit].decode("utf-8", "ignore")
