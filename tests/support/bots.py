"""Shared test helpers: a fake-bot setup per platform and the webhook URLs that reach it."""

from __future__ import annotations

from typing import Any

from tests.fakes.chatbots import FakeBots

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
