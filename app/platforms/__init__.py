"""SENDERS: platform name → Sender class, one explicit line per platform."""

from app.platforms.base import Sender
from app.platforms.console import ConsoleSender
from app.platforms.dingtalk import DingtalkSender
from app.platforms.feishu import FeishuSender
from app.platforms.wecom import WecomSender

SENDERS: dict[str, type[Sender]] = {
    "feishu": FeishuSender,
    "dingtalk": DingtalkSender,
    "wecom": WecomSender,
    "console": ConsoleSender,
}
