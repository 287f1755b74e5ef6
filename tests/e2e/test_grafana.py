"""Grafana Alerting's webhook bodies (tests/fixtures/grafana: firing, resolved, a test
notification, the legacy format) through the real `alertbridge serve` process to the fake bots,
on both routes Grafana may be pointed at, one platform each."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.bots import Bots, add_bot, card_text
from tests.support.builders import bot_receiver
from tests.support.cards import CHAT_PLATFORMS
from tests.support.launcher import (
    HTTP_TIMEOUT_SECONDS,
    Processes,
    start_alertbridge,
    wait_until,
    write_yaml,
)
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_SECONDS = 30.0
# (fixture, route, platform): every body, both routes, every platform at least once.
POSTS = [
    ("firing", "grafana", "feishu"),
    ("test-notification", "alertmanager", "dingtalk"),
    ("legacy", "grafana", "wecom"),
    ("resolved", "alertmanager", "feishu"),
]


def expected_strings(body: dict[str, object]) -> list[str]:
    """What the card must show: the alertname (the rule's name in the legacy format) and, while
    firing, Grafana's silence link (legacy: its image link), so the reader can act on it."""
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        return [str(body["ruleName"]), str(body["imageUrl"])]
    first = alerts[0]
    wanted = [first["labels"]["alertname"]]
    if first["status"] == "firing":
        wanted.append(first["silenceURL"].split("?")[0])
    return wanted


def test_grafana_bodies_reach_the_bots_through_the_served_process(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    assert {platform for _, _, platform in POSTS} == set(CHAT_PLATFORMS)
    receivers = []
    for platform in CHAT_PLATFORMS:
        token = f"grafana-{platform}"
        add_bot(bots.fake, platform, token)
        receivers.append(bot_receiver(platform, f"{platform}-ops", token=token, base=bots.url))
    config = {
        "server": {"timezone": "UTC"},
        "receivers": receivers,
        "routes": [{"receivers": [r["name"] for r in receivers]}],
    }
    service = start_alertbridge(
        processes, write_yaml(tmp_path / "alertbridge.yml", config), tmp_path / "data"
    )

    wanted: dict[str, list[str]] = {}
    with httpx.Client(base_url=service.url, timeout=HTTP_TIMEOUT_SECONDS) as client:
        for fixture, route, platform in POSTS:
            raw = (FIXTURES / "grafana" / f"{fixture}.json").read_bytes()
            answer = client.post(f"/{route}/{platform}-ops", content=raw)
            assert answer.status_code == 200, answer.text
            assert answer.json()["receivers"] == [f"{platform}-ops"]
            wanted[fixture] = expected_strings(json.loads(raw))

    def texts() -> str:
        return "\n".join(card_text(record.body) for record in list(bots.fake.received))

    wait_until(
        lambda: len(bots.fake.received) >= len(POSTS),
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what=f"{len(POSTS)} cards at the fake bots",
        watch=[service.process],
        details=bots.summary,
    )
    assert len(bots.fake.received) == len(POSTS)
    seen = texts().replace("\\", "")  # DingTalk and WeCom markdown escape a few characters
    for fixture, strings in wanted.items():
        for string in strings:
            assert string in seen, f"{fixture}: {string!r} not on any card"
