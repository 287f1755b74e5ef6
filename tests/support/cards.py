"""Builders shared by the card and renderer tests: alerts, receivers, a fixed clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config.model import Mentions, Receiver
from app.models import Alert, Message, Notification
from app.platforms import PLATFORMS as REGISTRY
from app.rendering.renderer import Renderer
from app.rendering.sandbox import message_strings

NOW = datetime(2024, 5, 1, 2, 12, tzinfo=UTC)
# Every platform of the registry; the chat ones are those that post to a webhook.
PLATFORMS = tuple(REGISTRY)
CHAT_PLATFORMS = tuple(name for name, p in REGISTRY.items() if p.needs_webhook_url)
WEBHOOK_URL = "https://hooks.example/bot/send?access_token=tok-5ecret-7a1b"
SECRET = "SEC-very-secret-signing-key"


def receiver(platform: str, **fields: Any) -> Receiver:
    url = "" if platform == "console" else WEBHOOK_URL
    return Receiver.model_validate(
        {"name": "ops", "platform": platform, "webhook_url": url, "secret": SECRET, **fields}
    )


def mentions(**fields: Any) -> Mentions:
    return Mentions(**fields)


def alert(
    name: str = "KubePodCrashLooping",
    *,
    status: str = "firing",
    severity: str = "warning",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str = "http://prometheus.example:9090/graph?g0.expr=up",
) -> Alert:
    return Alert(
        status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "severity": severity, **(labels or {})},
        annotations={"summary": f"{name} summary", **(annotations or {})},
        starts_at=starts_at or NOW - timedelta(minutes=12),
        ends_at=ends_at,
        generator_url=generator_url,
    )


def event(
    reason: str = "BackOff", *, type_: str = "Warning", count: int = 5, message: str = "m"
) -> Alert:
    return Alert(
        status="firing",
        labels={"type": type_, "namespace": "ns", "kind": "Pod", "name": "p", "reason": reason},
        annotations={"message": message},
        starts_at=NOW - timedelta(minutes=9),
        ends_at=NOW - timedelta(seconds=30),
        count=count,
    )


def notification(*alerts: Alert, kind: str = "alert", **fields: Any) -> Notification:
    firing = any(a.status == "firing" for a in alerts)
    return Notification(
        kind=kind,  # type: ignore[arg-type]
        status="firing" if firing else "resolved",
        alerts=list(alerts),
        **fields,
    )


def user_cards(cards_dir: Path, files: Mapping[str, str]) -> Path:
    """Write user card templates (path below server.cards_dir → template) into `cards_dir`."""
    for name, text in files.items():
        path = cards_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return cards_dir


def renderer(**fields: Any) -> Renderer:
    return Renderer(**{"timezone": "UTC", "clock": lambda: NOW, **fields})


def text_of(message: Message) -> str:
    """Every string of a message, one per line: what the tests search for content."""
    return "\n".join(message_strings(message))


def within_limit(platform: str, message: Message) -> bool:
    sender = REGISTRY[platform].sender
    return sender.message_bytes(message) <= sender.MAX_MESSAGE_BYTES
