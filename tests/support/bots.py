"""Shared test helpers: a fake-bot setup per platform, the webhook URLs that reach it, the fake
bots on a loopback port (for real processes) and reading what they received."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.fakes.chatbots import FakeBots
from tests.fakes.server import serve_in_thread
from tests.support.launcher import tail

BASE = "http://fake"
SECRETS = {"feishu": "feishu-signing-secret", "dingtalk": "SECdingtalk-signing-secret"}
TOKENS = {
    "feishu": "feishu-token-0001",
    "dingtalk": "dingtalk-token-0001",
    "wecom": "wecom-key-0001",
}


def webhook_url(platform: str, token: str, base: str = BASE) -> str:
    if platform == "feishu":
        return f"{base}/open-apis/bot/v2/hook/{token}"
    if platform == "dingtalk":
        return f"{base}/robot/send?access_token={token}"
    return f"{base}/cgi-bin/webhook/send?key={token}"


def fake_bots(tokens: Mapping[str, str] = TOKENS, *, rate_limits: bool = True) -> FakeBots:
    """A FakeBots with one bot per platform of `tokens` (add_bot), its rate limits on or off."""
    bots = FakeBots()
    bots.set_rate_limits(rate_limits)
    for platform, token in tokens.items():
        add_bot(bots, platform, token)
    return bots


def add_bot(bots: FakeBots, platform: str, token: str, **options: Any) -> None:
    """A bot that signs where its platform signs (with SECRETS[platform])."""
    if platform == "feishu":
        bots.add_feishu(token, secret=SECRETS["feishu"], **options)
    elif platform == "dingtalk":
        bots.add_dingtalk(token, secret=SECRETS["dingtalk"], **options)
    else:
        bots.add_wecom(token, **options)


def simple_message(platform: str, text: str = "hello from alertbridge") -> dict[str, Any]:
    if platform == "feishu":
        return {"msg_type": "text", "content": {"text": text}}
    if platform == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


@dataclass
class Bots:
    """The fake bot server on a loopback port, and the webhook URLs of its bots."""

    fake: FakeBots
    url: str

    def feishu_url(self, token: str) -> str:
        return webhook_url("feishu", token, self.url)

    def dingtalk_url(self, token: str) -> str:
        return webhook_url("dingtalk", token, self.url)

    def wecom_url(self, key: str) -> str:
        return webhook_url("wecom", key, self.url)

    def texts(self, token: str) -> list[str]:
        return [card_text(body) for body in self.fake.messages(token)]

    def summary(self) -> str:
        """Every request the fake saw, without tokens: platform, HTTP status, platform code."""
        lines = [
            f"  {a.platform}: http={a.http_status} code={a.code} {tail(card_text(a.body), 160)!r}"
            for a in list(self.fake.attempts)
        ]
        return "fake bot attempts:\n" + ("\n".join(lines) or "  (none)")


@contextmanager
def serving_bots(fake: FakeBots | None = None) -> Iterator[Bots]:
    """`fake` (a new FakeBots by default) served on a loopback port for the block."""
    fake = FakeBots() if fake is None else fake
    with serve_in_thread(fake.app) as url:
        yield Bots(fake, url)


def card_text(body: Any) -> str:
    """Every string inside a message body, one per line: what the group can read (and links)."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        return "\n".join(card_text(v) for v in body.values())
    if isinstance(body, list):
        return "\n".join(card_text(v) for v in body)
    return ""


_MARKDOWN_ESCAPE = re.compile(r"\\(.)", re.S)


def shows(text: str, needle: str) -> bool:
    """`needle` appears in `text`, as is or once the cards' markdown escapes are undone
    (Feishu turns `_` into `&#95;`, DingTalk and WeCom put a backslash before markup)."""
    if needle in text:
        return True
    return needle in _MARKDOWN_ESCAPE.sub(r"\1", text) or needle in html.unescape(text)
