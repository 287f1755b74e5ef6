"""The last-resort message: plain text built in code and cut to the platform's limit, used when
no card template renders or a single alert cannot be made to fit a card.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from app.models import Alert
from app.platforms import SENDERS
from app.platforms.base import Message
from app.rendering.context import clip
from app.rendering.mentions import MentionSet
from app.text import DIALECTS, clean_text

# chat-platforms.md 3.6: WeCom `text.content` is at most 2048 bytes (markdown has 4096).
WECOM_TEXT_MAX_BYTES = 2048
LINE_CHARS = 200
ELLIPSIS = "…"


def alert_line(alert: Alert) -> str:
    name = alert.labels.get("alertname") or alert.labels.get("reason") or "alert"
    about = alert.annotations.get("summary") or alert.annotations.get("message") or ""
    return f"- {alert.status.upper()} {name}" + (f": {about}" if about else "")


def text_message(platform: str, mentions: MentionSet, text: str) -> Message:
    """A `text` message; `text` is already escaped for the platform."""
    if platform == "feishu":
        tags = ['<at user_id="all"></at>'] * mentions.all
        tags += [f'<at user_id="{user}"></at>' for user in mentions.users]
        return {"msg_type": "text", "content": {"text": " ".join([text, *tags]).strip()}}
    if platform == "dingtalk":
        names = " ".join(f"@{m}" for m in mentions.mobiles + mentions.users)
        at = {"atMobiles": [*mentions.mobiles], "atUserIds": [*mentions.users]}
        text = f"{text}\n{names}".strip()
        return {"msgtype": "text", "text": {"content": text}, "at": {**at, "isAtAll": mentions.all}}
    if platform == "wecom":
        content = {"content": text, "mentioned_list": [*mentions.users] + ["@all"] * mentions.all}
        content["mentioned_mobile_list"] = [*mentions.mobiles]
        return {"msgtype": "text", "text": content}
    return {"title": text.split("\n", 1)[0], "text": text}


def fallback_message(
    platform: str,
    title: str,
    alerts: list[Alert],
    omitted: int,
    mentions: MentionSet,
    keyword: str,
) -> Message:
    """Keyword, title and as many alert lines as fit; the rest counted as "… N more alerts"."""
    lines = [clip(alert_line(a), LINE_CHARS) for a in alerts]

    def more(left: int) -> str:
        return f"{ELLIPSIS} {omitted + left} more alerts" if omitted + left else ""

    return plain_message(platform, [title], lines, more, mentions, keyword)


def plain_message(
    platform: str,
    head: list[str],
    lines: list[str],
    more: Callable[[int], str],
    mentions: MentionSet,
    keyword: str,
) -> Message:
    """Keyword, `head` and as many of `lines` as fit, then `more(lines left out)` if not ""."""
    plain = DIALECTS[platform].plain
    keyword = clean_text(keyword)
    top = [keyword, *(plain(clip(line, LINE_CHARS)) for line in head)]
    body = [plain(line) for line in lines]

    def text(count: int) -> str:
        tail = more(len(body) - count)
        return "\n".join([*top, *body[:count], *([tail] if tail else [])]).strip()

    over = _overage(platform)
    build = partial(text_message, platform, mentions)
    low, high = -1, len(body)  # the most lines that fit; -1: not even none
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if over(build(text(middle))) <= 0 else (low, middle - 1)
    if low >= 0:
        return build(text(low))
    return _cut_to_fit(platform, text(0), mentions, len(keyword.encode()))


def _overage(platform: str) -> Callable[[Message], int]:
    """How many bytes a message is over the platform's limit (<= 0 when it fits)."""
    sender = SENDERS[platform]
    limit = sender.MAX_MESSAGE_BYTES
    if platform == "wecom":
        limit = min(limit, WECOM_TEXT_MAX_BYTES)
    return lambda message: sender.message_bytes(message) - limit


def _cut_to_fit(platform: str, text: str, mentions: MentionSet, keep: int) -> Message:
    """Only a huge keyword or mention list gets here: drop mentions, then cut even the keyword."""
    over = _overage(platform)
    for who, floor in ((mentions, keep), (MentionSet(), keep), (MentionSet(), 0)):
        build = partial(text_message, platform, who)
        budget = len(text.encode())
        candidate = text
        while (excess := over(message := build(candidate))) > 0 and budget > floor:
            # JSON escaping can make one byte of text cost two in the body: measure again.
            budget = max(floor, budget - excess)
            size = max(budget - len(ELLIPSIS.encode()), floor)
            candidate = text.encode()[:size].decode(errors="ignore") + ELLIPSIS
        if excess <= 0:
            return message
    raise AssertionError("a text message of one ellipsis always fits")
