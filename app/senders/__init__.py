"""SENDERS: platform name → Sender class, one explicit line per platform."""

from app.senders.base import Sender
from app.senders.console import ConsoleSender
from app.senders.dingtalk import DingtalkSender
from app.senders.feishu import FeishuSender
from app.senders.wecom import WecomSender

SENDERS: dict[str, type[Sender]] = {
    "feishu": FeishuSender,
    "dingtalk": DingtalkSender,
    "wecom": WecomSender,
    "console": ConsoleSender,
}
