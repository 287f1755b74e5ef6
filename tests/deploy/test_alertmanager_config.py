"""The Alertmanager config deploy/ ships: amtool accepts it, routes send each alert where we say,
and it is what the rendered Secret alertmanager-main carries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.support import DEPLOY, find, require_tool, run, secret_data

CONFIG = DEPLOY / "base" / "kube-prometheus" / "alertmanager.yaml"


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_tool("amtool", "prometheus-alertmanager")


def test_amtool_accepts_the_shipped_config(amtool: str) -> None:
    run([amtool, "check-config", str(CONFIG)])


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=Watchdog", "severity=none"], "null"),
        (["alertname=InfoInhibitor", "severity=none", "namespace=shop"], "null"),
        (["alertname=KubeNodeNotReady", "severity=critical"], "alertbridge"),
        (["alertname=KubePodCrashLooping", "severity=warning", "namespace=shop"], "alertbridge"),
        (["alertname=CPUThrottlingHigh", "severity=info", "namespace=shop"], "alertbridge"),
        (["alertname=SomethingWithoutSeverity"], "alertbridge"),
    ],
    ids=[
        "watchdog-to-null",
        "info-inhibitor-to-null",
        "critical",
        "warning",
        "info",
        "no-severity",
    ],
)
def test_routes_each_alert_to_its_receiver(amtool: str, labels: list[str], receiver: str) -> None:
    argv = [amtool, "config", "routes", "test", f"--config.file={CONFIG}"]
    done = run([*argv, f"--verify.receivers={receiver}", *labels], check=False)

    assert (done.returncode, done.stdout.strip()) == (0, receiver), done.stderr


def test_rendered_secret_carries_the_shipped_config(example: list[dict[str, Any]]) -> None:
    secret = find(example, "Secret", "alertmanager-main", "monitoring")

    assert secret_data(secret) == {"alertmanager.yaml": CONFIG.read_text()}
