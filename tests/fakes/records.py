"""What the fake bots remember (every request, every accepted message) and what they answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Platform = Literal["feishu", "dingtalk", "wecom"]
Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Received:
    """A message the platform accepted (code 0): what the group would see."""

    platform: Platform
    token: str
    body: Message
    at: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request, accepted or not.

    `http_status` is None when the fake never answered (fail mode "hang"); `code` is None when
    the answer carried no platform code at all (fail modes "5xx" and "garbage").
    """

    platform: Platform
    token: str
    body: Message
    at: float
    http_status: int | None
    code: int | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A platform's answer to one request, decided by one of the platform modules."""

    code: int
    payload: Message
    http_status: int = 200
    # The message as the group sees it when `code` is 0 (WeCom truncates news articles).
    accepted: Message | None = field(default=None)


def parse_object(raw: bytes) -> Message | None:
    """The body as a JSON object, or None when it is not one (bad UTF-8, bad JSON, a list...)."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        return None
    return value if isinstance(value, dict) else None
