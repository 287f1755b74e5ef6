"""PLATFORMS: every chat platform alertbridge can send to, one line each (see base.Platform)."""

from app.platforms.base import Platform
from app.platforms.console import CONSOLE
from app.platforms.dingtalk import DINGTALK
from app.platforms.feishu import FEISHU
from app.platforms.wecom import WECOM

PLATFORMS: dict[str, Platform] = {p.name: p for p in (FEISHU, DINGTALK, WECOM, CONSOLE)}

__all__ = ["PLATFORMS", "Platform"]
