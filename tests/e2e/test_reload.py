"""Hot reload of the real `alertbridge serve` process: its config and a platform's cards live in
ConfigMap-like volumes (`..data` symlink to a timestamped directory) whose versions the test
swaps in as the kubelet does, and SIGHUP reloads on demand."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.bots import Bots
from tests.support.configmap import ConfigMapVolume
from tests.support.launcher import (
    HTTP_TIMEOUT_SECONDS,
    Processes,
    Service,
    start_alertbridge,
    wait_until,
)
from tests.support.paths import ROOT as REPO_ROOT

pytestmark = pytest.mark.e2e

# The watcher polls every 2 s and takes a version once it has not changed for one poll; a
# ConfigMap update in a cluster takes longer than that to show anyway.
RELOAD_TIMEOUT_SECONDS = 20.0
DELIVERY_TIMEOUT_SECONDS = 20.0
FIRING = json.loads((REPO_ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
FEISHU_CARD = (REPO_ROOT / "cards" / "feishu" / "alert.json.j2").read_text()
OLD_TOKEN, NEW_TOKEN = "e2e-reload-old-token-31", "e2e-reload-new-token-47"


def config_text(bots: Bots, token: str, name: str, cards_dir: Path) -> str:
    receiver = {"name": name, "platform": "feishu", "webhook_url": bots.feishu_url(token)}
    return yaml.safe_dump(
        {
            "server": {"timezone": "UTC", "cards_dir": str(cards_dir)},
            "receivers": [receiver],
            "routes": [{"receivers": [name]}],
        }
    )


def post_alert(service: Service, group: str) -> None:
    """A notification of its own group each time: the same one twice is an HA duplicate."""
    body = json.dumps({**FIRING, "groupKey": f"{{}}:{{reload={group!r}}}"})
    response = httpx.post(service.url + "/alertmanager", content=body, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text


def sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample of GET /metrics."""
    for family in text_string_to_metric_families(service.get("/metrics").text):
        for found in family.samples:
            if found.name == name and found.labels == (labels or {}):
                return found.value
    raise AssertionError(f"no sample {name} {labels} in /metrics")


def reloads(service: Service, result: str) -> float:
    return sample(service, "alertbridge_config_reloads_total", {"result": result})


def wait_reloads(service: Service, result: str, count: int) -> None:
    wait_until(
        lambda: reloads(service, result) >= count,
        timeout=RELOAD_TIMEOUT_SECONDS,
        what=f"{count} {result} reload(s)",
        watch=[service.process],
        details=lambda: json.dumps(service.status()["config"]),
    )


def wait_delivered(service: Service, bots: Bots, token: str, count: int) -> None:
    wait_until(
        lambda: len(bots.fake.messages(token)) >= count,
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what=f"{count} card(s) at bot {token}",
        watch=[service.process],
    )


def last_reload(service: Service) -> dict[str, Any]:
    last: dict[str, Any] = service.status()["config"]["last_reload"]
    return last


def test_configmap_swaps_load_a_good_version_and_refuse_bad_ones(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    bots.fake.add_feishu(OLD_TOKEN)
    bots.fake.add_feishu(NEW_TOKEN)
    cards_dir = tmp_path / "cards"
    # As deploy/ mounts them: the config volume, and one volume per platform below cards_dir.
    config, cards = ConfigMapVolume(tmp_path / "config"), ConfigMapVolume(cards_dir / "feishu")
    cards.publish({"alert.json.j2": FEISHU_CARD})
    config.publish({"alertbridge.yaml": config_text(bots, OLD_TOKEN, "old", cards_dir)})
    service = start_alertbridge(
        processes, tmp_path / "config" / "alertbridge.yaml", tmp_path / "data"
    )
    first_digest = service.status()["config"]["digest"]

    config.publish({"alertbridge.yaml": config_text(bots, NEW_TOKEN, "new", cards_dir)})
    wait_reloads(service, "success", 1)
    assert list(service.status()["receivers"]) == ["new"]
    assert service.status()["config"]["digest"] != first_digest
    post_alert(service, "after-good-swap")
    wait_delivered(service, bots, NEW_TOKEN, 1)

    cards.publish({"alert.json.j2": FEISHU_CARD + "{% if %}"})
    wait_reloads(service, "failure", 1)
    assert "cards: feishu/alert.json.j2" in last_reload(service)["error"]
    config.publish({"alertbridge.yaml": "receivers:\n  - {name: new, colour: red}\n"})
    wait_reloads(service, "failure", 2)
    assert "receivers.0.colour" in last_reload(service)["error"]
    assert sample(service, "alertbridge_config_last_reload_successful") == 0

    post_alert(service, "after-bad-swaps")
    wait_delivered(service, bots, NEW_TOKEN, 2)
    assert bots.fake.messages(NEW_TOKEN)[-1]["msg_type"] == "interactive"
    assert bots.fake.messages(OLD_TOKEN) == []
    assert reloads(service, "success") == 1
    log = service.process.log()
    assert "rejected; the config loaded before" in log
    for token in (OLD_TOKEN, NEW_TOKEN):
        assert token not in log
        assert token not in service.get("/metrics").text


def test_sighup_reloads_the_running_service(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    bots.fake.add_feishu(OLD_TOKEN)
    config = ConfigMapVolume(tmp_path / "config")
    config.publish({"alertbridge.yaml": config_text(bots, OLD_TOKEN, "old", tmp_path / "cards")})
    service = start_alertbridge(
        processes, tmp_path / "config" / "alertbridge.yaml", tmp_path / "data"
    )
    os.kill(service.process.popen.pid, signal.SIGHUP)
    wait_reloads(service, "success", 1)
    assert last_reload(service)["trigger"] == "SIGHUP"
    post_alert(service, "after-sighup")
    wait_delivered(service, bots, OLD_TOKEN, 1)
    assert service.process.exit_code() is None
