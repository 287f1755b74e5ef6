"""Nothing answered 2xx is lost, against the real `alertbridge serve` process: kill -9 while the
bots fail, SIGTERM while a send hangs, and dead letters re-queued by `alertbridge outbox retry`
while the service runs. The outbox is the SQLite file in --data-dir."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import body, names_in, received_names
from tests.support.bots import Bots
from tests.support.launcher import (
    HTTP_TIMEOUT_SECONDS,
    Processes,
    Service,
    start_alertbridge,
    wait_until,
    write_yaml,
)
from tests.support.paths import ROOT as REPO_ROOT

pytestmark = pytest.mark.e2e

FEISHU_BOTS = 10
NOTIFICATIONS = 200
DELIVERY_TIMEOUT_SECONDS = 45.0
EXIT_TIMEOUT_SECONDS = 15.0


def post_all(service: Service, paths_and_names: list[tuple[str, str]]) -> None:
    """One notification per (path, alertname), each answered 200 (one keep-alive client)."""
    with httpx.Client(base_url=service.url, timeout=HTTP_TIMEOUT_SECONDS) as client:
        for path, name in paths_and_names:
            response = client.post(path, content=body(name))
            assert response.status_code == 200, response.text


def config(tmp: Path, receivers: list[dict[str, Any]], **extra: Any) -> Path:
    routes = [{"receivers": [r["name"] for r in receivers]}]
    data = {"server": {"timezone": "UTC"}, "receivers": receivers, "routes": routes, **extra}
    return write_yaml(tmp / "alertbridge.yml", data)


def test_kill_9_while_the_bots_fail_loses_nothing_that_was_answered(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    tokens = [f"crash-bot-{i}" for i in range(FEISHU_BOTS)]
    receivers = []
    for i, token in enumerate(tokens):
        bots.fake.add_feishu(token)
        bots.fake.fail(token, "5xx")
        receivers.append(
            {"name": f"ops-{i}", "platform": "feishu", "webhook_url": bots.feishu_url(token)}
        )
    path = config(tmp_path, receivers)
    service = start_alertbridge(processes, path, tmp_path / "data")
    names = [f"Crash{n}" for n in range(NOTIFICATIONS)]
    post_all(service, [(f"/alertmanager/ops-{i % FEISHU_BOTS}", n) for i, n in enumerate(names)])
    wait_until(
        lambda: len(bots.fake.attempts) >= 2 * FEISHU_BOTS,
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what="every bot to have refused a few attempts",
        watch=[service.process],
    )
    service.process.popen.kill()  # SIGKILL: no shutdown, no flush, nothing
    service.process.popen.wait(EXIT_TIMEOUT_SECONDS)
    assert bots.fake.received == []
    for token in tokens:
        bots.fake.heal(token)

    restarted = processes.restart(service)
    wait_until(
        lambda: received_names(bots) >= set(names),
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what=f"all {NOTIFICATIONS} notifications to reach the bots after the restart",
        watch=[restarted.process],
        details=lambda: f"missing: {sorted(set(names) - received_names(bots))[:20]}",
    )
    report = restarted.status()["receivers"]
    assert sum(r["backlog"] for r in report.values()) == 0
    assert sum(r["dead_letters"] for r in report.values()) == 0


def test_sigterm_while_a_send_hangs_keeps_it_queued(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    bots.fake.add_wecom("term-bot")
    bots.fake.fail("term-bot", "hang")
    receiver = {"name": "ops", "platform": "wecom", "webhook_url": bots.wecom_url("term-bot")}
    path = config(tmp_path, [receiver], delivery={"shutdown_grace": "1s"})
    service = start_alertbridge(processes, path, tmp_path / "data")
    names = [f"Crash{n}" for n in range(5)]
    post_all(service, [("/alertmanager", name) for name in names])
    wait_until(
        lambda: len(bots.fake.attempts) >= 1,
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what="a send to be in flight",
        watch=[service.process],
    )
    service.process.popen.terminate()
    # uvicorn re-raises the SIGTERM once it has shut down cleanly: "killed by SIGTERM" is fine.
    assert service.process.popen.wait(EXIT_TIMEOUT_SECONDS) in (0, -signal.SIGTERM)
    log = service.process.log()
    assert "waiting up to 1.0s for sends in flight to ops" in log
    assert "Application shutdown complete" in log
    bots.fake.heal("term-bot")

    restarted = processes.restart(service)
    wait_until(
        lambda: received_names(bots) >= set(names),
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what="the hung message and the rest to arrive after the restart",
        watch=[restarted.process],
    )
    assert [names_in(m)[0] for m in bots.fake.messages("term-bot")] == names  # in order


def alertbridge(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dead_letters_are_delivered_after_the_bot_is_fixed_and_outbox_retry(
    processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    # The robot demands a keyword the config does not put in: DingTalk's permanent 310000.
    bots.fake.add_dingtalk("dead-bot", keywords=["alertbridge-keyword"])
    receiver = {"name": "ops", "platform": "dingtalk", "webhook_url": bots.dingtalk_url("dead-bot")}
    path = config(tmp_path, [receiver])
    data = tmp_path / "data"
    service = start_alertbridge(processes, path, data)
    names = [f"Crash{n}" for n in range(3)]
    post_all(service, [("/alertmanager", name) for name in names])
    wait_until(
        lambda: service.status()["receivers"]["ops"]["dead_letters"] == 3,
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what="three dead letters",
        watch=[service.process],
    )
    assert 'alertbridge_dead_letters{receiver="ops"} 3.0' in service.get("/metrics").text
    listing = alertbridge("outbox", "list", "--dead", "--data-dir", str(data))
    assert listing.count("permanent failure: 310000") == 3

    bots.fake.add_dingtalk("dead-bot")  # the robot's keyword setting is fixed
    assert "3 dead letter(s) queued again" in alertbridge(
        "outbox", "retry", "--data-dir", str(data)
    )
    wait_until(
        lambda: received_names(bots) >= set(names),
        timeout=DELIVERY_TIMEOUT_SECONDS,
        what="the re-queued dead letters to be delivered",
        watch=[service.process],
    )
    assert service.status()["receivers"]["ops"]["dead_letters"] == 0
