"""Builders the service tests share: receivers for the fake bots of tests/support/bots.py and the
configs around them, as a mapping (what a config file holds) or parsed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config.load import parse_config
from app.config.model import Config
from tests.support.bots import BASE, SECRETS, TOKENS, webhook_url


def bot_receiver(
    platform: str, name: str = "ops", *, token: str | None = None, base: str = BASE
) -> dict[str, Any]:
    """A receiver for the bot add_bot(bots, platform, token) sets up: its webhook URL under
    `base`, and its signing secret where the platform signs."""
    url = webhook_url(platform, TOKENS[platform] if token is None else token, base)
    receiver = {"name": name, "platform": platform, "webhook_url": url}
    if platform in SECRETS:
        receiver["secret"] = SECRETS[platform]
    return receiver


def bot_receivers(tokens: Mapping[str, str] = TOKENS, *, base: str = BASE) -> list[dict[str, Any]]:
    """One receiver per platform of `tokens`, named "<platform>-ops"."""
    return [
        bot_receiver(platform, f"{platform}-ops", token=token, base=base)
        for platform, token in tokens.items()
    ]


def config_data(
    *receivers: dict[str, Any], server: dict[str, Any] | None = None, **sections: Any
) -> dict[str, Any]:
    """A config mapping: times in UTC, every receiver on one catch-all route, and a 50 ms
    shutdown grace (a bot scripted to hang would otherwise hold each test's shutdown for the
    whole default grace). `server` adds to the server section, `sections` replace theirs."""
    return {
        "server": {"timezone": "UTC", **(server or {})},
        "delivery": {"shutdown_grace": "50ms"},
        "receivers": list(receivers),
        "routes": [{"receivers": [r["name"] for r in receivers]}],
        **sections,
    }


def service_config(
    *receivers: dict[str, Any], server: dict[str, Any] | None = None, **sections: Any
) -> Config:
    """config_data(...), parsed (no ${ENV} expansion from this environment)."""
    return parse_config(config_data(*receivers, server=server, **sections), environ={})
