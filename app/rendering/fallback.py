"""The last-resort message: plain text built in code and cut to the platform's limit, used when
no card template renders or a single alert cannot be made to fit a card.
"""

from __future__ import annotations

from collections.abc import Callable

from app.models import Alert, MentionSet, Message
from app.platforms import PLATFORMS
from app.text import ELLIPSIS, clean_text, clip

LINE_CHARS = 200


def alert_line(alert: Alert) -> str:
    name = alert.labels.get("alertname") or alert.labels.get("reason") or "alert"
    about = alert.annotations.get("summary") or alert.annotations.get("message") or ""
    return f"- {alert.status.upper()} {name}" + (f": {about}" if about else "")


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
    spec = PLATFORMS[platform]
    plain = spec.dialect.plain
    keyword = clean_text(keyword)
    top = [keyword, *(plain(clip(line, LINE_CHARS)) for line in head)]
    body = [plain(line) for line in lines]

    def text(count: int) -> str:
        tail = more(len(body) - count)
        return "\n".join([*top, *body[:count], *([tail] if tail else [])]).strip()

    over = spec.text_overage

    def build(text: str) -> Message:
        return spec.text_message(text, mentions)

    low, high = -1, len(body)  # the most lines that fit; -1: not even none
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if over(build(text(middle))) <= 0 else (low, middle - 1)
    if low >= 0:
        return build(text(low))
    return _cut_to_fit(platform, text(0), mentions, len(keyword.encode()))


def _cut_to_fit(platform: str, text: str, mentions: MentionSet, keep: int) -> Message:
    """Only a huge keyword or mention list gets here: drop mentions, then cut even the keyword."""
    spec = PLATFORMS[platform]
    for who, floor in ((mentions, keep), (MentionSet(), keep), (MentionSet(), 0)):
        budget = len(text.encode())
        candidate = text
        while (
            excess := spec.text_overage(message := spec.text_message(candidate, who))
        ) > 0 and budget > floor:
            # JSON escaping can make one byte of text cost two in the body: measure again.
            budget = max(floor, budget - excess)
            size = max(budget - len(ELLIPSIS.encode()), floor)
            candidate = text.encode()[:size].decode(errors="ignore") + ELLIPSIS
        if excess <= 0:
            return message
    raise AssertionError("a text message of one ellipsis always fits")
