"""The whole pipeline with the real binaries: a Prometheus rule fires, Alertmanager notifies
alertbridge, and signed cards reach the fake Feishu, DingTalk and WeCom bots; then the resolve.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import MetricSwitch, require_binary, run_check
from tests.support.bots import Bots, card_text, shows
from tests.support.launcher import (
    Processes,
    Service,
    start_alertbridge,
    tail,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.e2e

ALERT = "E2ESwitchOn"
# Prometheus: first scrape, first evaluation, then Alertmanager's group_wait; all 1 s here.
DELIVERY_TIMEOUT_SECONDS = 60.0
DROP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Credentials:
    """Bot tokens and signing secrets: random, so finding one in an output is never chance."""

    feishu_token: str
    feishu_secret: str
    dingtalk_token: str
    dingtalk_secret: str
    wecom_key: str

    @classmethod
    def random(cls) -> Credentials:
        return cls(
            feishu_token=f"fstok{secrets.token_hex(12)}",
            feishu_secret=f"fssec{secrets.token_hex(12)}",
            dingtalk_token=f"dttok{secrets.token_hex(16)}",
            dingtalk_secret=f"SEC{secrets.token_hex(16)}",
            wecom_key=f"wckey{secrets.token_hex(12)}",
        )

    def all(self) -> list[str]:
        return [
            self.feishu_token,
            self.feishu_secret,
            self.dingtalk_token,
            self.dingtalk_secret,
            self.wecom_key,
        ]

    def tokens(self) -> dict[str, str]:
        """Platform → the token the fake files its messages under."""
        return {
            "feishu": self.feishu_token,
            "dingtalk": self.dingtalk_token,
            "wecom": self.wecom_key,
        }


def alertbridge_config(path: Path, bots: Bots, creds: Credentials) -> Path:
    return write_yaml(
        path,
        {
            "server": {"timezone": "UTC"},
            "receivers": [
                {
                    "name": "ops-feishu",
                    "platform": "feishu",
                    "webhook_url": bots.feishu_url(creds.feishu_token),
                    "secret": creds.feishu_secret,
                },
                {
                    "name": "ops-dingtalk",
                    "platform": "dingtalk",
                    "webhook_url": bots.dingtalk_url(creds.dingtalk_token),
                    "secret": creds.dingtalk_secret,
                },
                {
                    "name": "ops-wecom",
                    "platform": "wecom",
                    "webhook_url": bots.wecom_url(creds.wecom_key),
                },
            ],
            "routes": [{"receivers": ["ops-feishu", "ops-dingtalk", "ops-wecom"]}],
        },
    )


def alertmanager_config(path: Path, alertbridge_url: str) -> Path:
    return write_yaml(
        path,
        {
            "route": {
                "receiver": "alertbridge",
                # One group per alert name, so Watchdog reaches alertbridge on its own.
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "alertbridge",
                    "webhook_configs": [
                        {"url": f"{alertbridge_url}/alertmanager", "send_resolved": True}
                    ],
                }
            ],
        },
    )


def prometheus_rules(path: Path) -> Path:
    return write_yaml(
        path,
        {
            "groups": [
                {
                    "name": "e2e",
                    "interval": "1s",
                    "rules": [
                        {
                            "alert": ALERT,
                            "expr": "e2e_switch == 1",
                            "for": "0s",
                            "labels": {"severity": "critical"},
                            "annotations": {
                                "summary": "The end-to-end switch is on.",
                                "description": "e2e_switch on {{ $labels.instance }} is 1.",
                            },
                        },
                        {
                            "alert": "Watchdog",
                            "expr": "vector(1)",
                            "labels": {"severity": "none"},
                            "annotations": {"summary": "Always firing: the pipeline works."},
                        },
                    ],
                }
            ]
        },
    )


def prometheus_config(path: Path, rules: Path, alertmanager: str, target: str) -> Path:
    return write_yaml(
        path,
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "e2e", "static_configs": [{"targets": [target]}]}],
        },
    )


def start_alertmanager(processes: Processes, tmp: Path, alertbridge: Service) -> str:
    binary = require_binary("prometheus-alertmanager")
    config = alertmanager_config(tmp / "alertmanager.yml", alertbridge.url)
    if amtool := shutil.which("amtool"):
        run_check([amtool, "check-config", str(config)])

    def argv(port: int) -> list[str]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: a single instance
            "--log.level=debug",  # every notify attempt is in the log attached to a failure
        ]

    return processes.start_listening("alertmanager", argv, "/-/ready").url


def start_prometheus(processes: Processes, tmp: Path, alertmanager: str, target: str) -> str:
    binary = require_binary("prometheus")
    rules = prometheus_rules(tmp / "rules.yml")
    config = prometheus_config(
        tmp / "prometheus.yml", rules, alertmanager.removeprefix("http://"), target
    )
    if promtool := shutil.which("promtool"):
        run_check([promtool, "check", "rules", str(rules)])
        run_check([promtool, "check", "config", str(config)])

    def argv(port: int) -> list[str]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # The default 1m would hold back resending the alert (and so the resolve) to AM.
            "--rules.alert.resend-delay=1s",
        ]

    return processes.start_listening("prometheus", argv, "/-/ready").url


def dropped_by_filter(alertbridge: Service) -> float:
    """alertbridge_alerts_dropped_total{source="alertmanager",reason="filtered"}."""
    for line in alertbridge.get("/metrics").text.splitlines():
        labels_match = 'reason="filtered"' in line and 'source="alertmanager"' in line
        if line.startswith("alertbridge_alerts_dropped_total{") and labels_match:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def first_index(texts: list[str], start: int, test: Callable[[str], bool]) -> int | None:
    return next((i for i in range(start, len(texts)) if test(texts[i])), None)


def is_firing(text: str) -> bool:
    return ALERT in text and "firing" in text.lower()


def is_resolved(text: str) -> bool:
    return ALERT in text and "resolved" in text.lower()


def test_prometheus_alert_reaches_every_bot_signed_then_resolves(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    for binary in ("prometheus-alertmanager", "prometheus"):
        require_binary(binary)  # before anything starts: a skip should cost nothing
    creds = Credentials.random()
    bots.fake.add_feishu(creds.feishu_token, secret=creds.feishu_secret)
    bots.fake.add_dingtalk(creds.dingtalk_token, secret=creds.dingtalk_secret)
    bots.fake.add_wecom(creds.wecom_key)
    tokens = creds.tokens()

    config = alertbridge_config(tmp_path / "alertbridge.yml", bots, creds)
    alertbridge = start_alertbridge(processes, config, tmp_path / "alertbridge-data")
    alertmanager = start_alertmanager(processes, tmp_path, alertbridge)
    switch = MetricSwitch()
    switch.value = 1
    with switch.serving():
        start_prometheus(processes, tmp_path, alertmanager, switch.address)
        watch = list(processes.started)

        def firing_everywhere() -> dict[str, int] | None:
            found: dict[str, int] = {}
            for platform, token in tokens.items():
                index = first_index(bots.texts(token), 0, is_firing)
                if index is None:
                    return None
                found[platform] = index
            return found

        firing = wait_until(
            firing_everywhere,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            what=f"a firing {ALERT} card at every bot",
            watch=watch,
            details=bots.summary,
        )
        check_firing_cards(bots, tokens, firing)

        wait_until(
            lambda: dropped_by_filter(alertbridge) >= 1,
            timeout=DROP_TIMEOUT_SECONDS,
            what="alertbridge to receive Watchdog and drop it by its default filter",
            watch=watch,
            details=lambda: tail(alertbridge.get("/metrics").text),
        )

        switch.value = 0

        def resolved_everywhere() -> bool:
            return all(
                first_index(bots.texts(t), firing[p] + 1, is_resolved) is not None
                for p, t in tokens.items()
            )

        wait_until(
            resolved_everywhere,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            what=f"a resolved {ALERT} card at every bot after the firing one",
            watch=watch,
            details=bots.summary,
        )

    for platform, token in tokens.items():
        for text in bots.texts(token):
            assert "watchdog" not in text.lower(), f"{platform} got a Watchdog card:\n{text}"
    ours = [a for a in bots.fake.attempts if a.token in tokens.values()]
    refused = [(a.platform, a.http_status, a.code) for a in ours if a.code != 0]
    assert not refused, f"the fake refused some sends (signature, shape?): {refused}"
    check_status_and_secrets(alertbridge, creds)


def check_firing_cards(bots: Bots, tokens: dict[str, str], firing: dict[str, int]) -> None:
    feishu: dict[str, Any] = bots.fake.messages(tokens["feishu"])[firing["feishu"]]
    assert feishu["msg_type"] == "interactive", feishu
    assert isinstance(feishu.get("card"), dict), feishu
    dingtalk = bots.fake.messages(tokens["dingtalk"])[firing["dingtalk"]]
    assert dingtalk["msgtype"] == "markdown", dingtalk
    wecom = bots.fake.messages(tokens["wecom"])[firing["wecom"]]
    assert wecom["msgtype"] == "markdown", wecom
    for message in (feishu, dingtalk, wecom):
        text = card_text(message)
        assert shows(text, "The end-to-end switch is on."), f"no summary in the card:\n{text}"


def check_status_and_secrets(alertbridge: Service, creds: Credentials) -> None:
    status = alertbridge.status()
    for name, receiver in status["receivers"].items():
        assert receiver["sent"] >= 2, f"{name}: {receiver}"  # the firing and the resolved card
        assert receiver["backlog"] == 0, f"{name}: {receiver}"
        assert receiver["dead_letters"] == 0, f"{name}: {receiver}"
    outputs = {
        "/status": alertbridge.get("/status").text,
        "/metrics": alertbridge.get("/metrics").text,
        "the service log": alertbridge.process.log(),
    }
    for where, text in outputs.items():
        for secret in creds.all():
            assert secret not in text, f"a token or secret ({secret[:5]}…) leaked into {where}"
