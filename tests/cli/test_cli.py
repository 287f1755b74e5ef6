"""The alertbridge command: check-config, render, route-test, and serve's start-up failures."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli.main import main
from tests.support.launcher import free_port
from tests.support.paths import ROOT as REPO_ROOT

ROOT = REPO_ROOT
CONFIG = """
receivers:
  - {name: ops, platform: dingtalk, webhook_url: "https://oapi.dingtalk.com/robot/send?access_token=${TOKEN}"}
  - {name: db, platform: wecom, webhook_url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1"}
routes:
  - {matchers: ["team = db"], receivers: [db]}
  - {matchers: ["severity =~ critical|warning"], receivers: [ops]}
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOKEN", "cli-secret-token")
    path = tmp_path / "alertbridge.yaml"
    path.write_text(CONFIG)
    return path


def test_check_config_accepts_a_good_file(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(config_file)]) == 0
    assert "2 receiver(s)" in capsys.readouterr().out


def test_check_config_fails_with_the_key_path_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "receivers:\n  - {name: x, platform: feishu, webhook_url: 'https://h/hook/s3cr3t-tok',"
        " colour: red}\n"
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "receivers.0.colour" in err
    assert "s3cr3t-tok" not in err


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["team=db", "severity=critical"], "db"),
        (["severity=warning"], "ops"),
        (["severity=info"], "(no receiver)"),
        (["alertname=Watchdog", "severity=critical"], "(dropped by a filter)"),
    ],
    ids=["first-match", "second-route", "unrouted", "watchdog-filtered"],
)
def test_route_test_prints_receivers(
    config_file: Path, capsys: pytest.CaptureFixture[str], labels: list[str], expected: str
) -> None:
    assert main(["route-test", "--config", str(config_file), *labels]) == 0
    assert capsys.readouterr().out.strip() == expected


def test_render_prints_the_sample_cards(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--config", str(config_file), "--receiver", "ops"]) == 0
    out = capsys.readouterr().out
    decoder = json.JSONDecoder()
    messages, index = [], 0
    while index < len(out):
        message, end = decoder.raw_decode(out, index)
        messages.append(message)
        index = end + 1
    assert [m["msgtype"] for m in messages] == ["markdown", "markdown"]
    assert "cli-secret-token" not in out


def test_render_with_a_payload_file(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = ROOT / "tests" / "fixtures" / "kube_eventer" / "default-body.txt"
    assert (
        main(
            ["render", "--config", str(config_file), "--receiver", "db", "--payload", str(payload)]
        )
        == 0
    )
    assert '"msgtype": "markdown"' in capsys.readouterr().out


def test_render_reads_a_grafana_body_as_the_alertmanager_route_does(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = ROOT / "tests" / "fixtures" / "grafana" / "firing.json"
    command = ["render", "--config", str(config_file), "--receiver", "ops", "--payload"]
    assert main([*command, str(payload)]) == 0
    text = json.loads(capsys.readouterr().out)["markdown"]["text"]
    body = json.loads(payload.read_bytes())
    assert body["alerts"][0]["labels"]["alertname"] in text
    assert body["alerts"][0]["silenceURL"].split("?")[0] in text  # Grafana's own links kept


def test_render_reports_an_invalid_payload(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "bad.json"
    payload.write_text('{"alerts": [{"status": "x"}]}')
    assert (
        main(
            ["render", "--config", str(config_file), "--receiver", "ops", "--payload", str(payload)]
        )
        == 2
    )
    assert "alerts.0" in capsys.readouterr().err


def test_serve_with_a_bad_config_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("receivers: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(path), "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "receivers" in result.stderr


def test_serve_survives_a_sighup_during_start_up_and_reloads_once_up(
    tmp_path: Path, config_file: Path
) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "app", "serve", "--config", str(config_file)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        # This line comes once the config is loaded, before the outbox opens and the server
        # listens: the middle of start-up, when a ConfigMap update's SIGHUP may well arrive.
        while "config from" not in (line := process.stderr.readline()):
            assert line, f"serve ended before start-up was under way: {process.wait(30)}"
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        reload: Any = None
        while reload is None or reload["trigger"] != "SIGHUP":
            assert process.poll() is None, f"serve ended on SIGHUP: {process.returncode}"
            assert time.monotonic() < deadline, "no reload after the SIGHUP of start-up"
            time.sleep(0.2)
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5)
                reload = status.json()["config"]["last_reload"]
        assert reload["result"] == "success"
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def test_every_command_takes_its_data_dir_and_config_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.outbox.schema import outbox_path
    from app.outbox.sqlite import SqliteOutbox
    from tests.support.queues import alert, entry, notification

    store = SqliteOutbox(outbox_path(tmp_path))
    await store.enqueue({"ops": [entry({"text": "1"}, notification(alert("DiskFull")))]})
    await store.close()
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers: [{name: ops, platform: console}]\nfilters: []\ndefault_receiver: ops\n"
    )
    monkeypatch.setenv("ALERTBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTBRIDGE_CONFIG", str(config))
    monkeypatch.chdir(tmp_path / "..")  # no ./data here: only the variable can point at it
    assert main(["outbox", "list"]) == 0
    assert "DiskFull" in capsys.readouterr().out
    assert main(["route-test", "alertname=Watchdog"]) == 0  # this config filters nothing
    assert capsys.readouterr().out.strip() == "ops"


def test_serve_on_an_outbox_of_a_newer_schema_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from app.outbox.schema import SCHEMA_VERSION, outbox_path

    newer = sqlite3.connect(outbox_path(tmp_path))
    newer.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    newer.close()
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "has schema version" in err
    assert "run the newer alertbridge" in err
    assert "Traceback" not in err


async def test_outbox_lists_retries_and_purges_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.outbox.admin import OutboxAdmin
    from app.outbox.schema import outbox_path
    from app.outbox.sqlite import SqliteOutbox
    from tests.support.queues import alert, entry, notification

    store = SqliteOutbox(outbox_path(tmp_path))
    about = notification(alert("DiskFull", "critical"))
    ids = await store.enqueue(
        {"ops": [entry({"text": "1"}, about), entry({"text": "2"})], "db": [entry({})]}
    )
    assert ids is not None
    dead, pending, other = ids
    await store.bury([dead, other], "permanent failure: 310000: keywords not in content")
    data = ["--data-dir", str(tmp_path)]

    assert main(["outbox", "list", *data, "--dead", "--receiver", "ops"]) == 0
    out = capsys.readouterr().out
    assert dead in out
    assert "🔴 CRITICAL · DiskFull" in out
    assert "310000" in out
    assert other not in out
    assert main(["outbox", "retry", *data, "--receiver", "ops"]) == 0
    assert "1 dead letter(s) queued again" in capsys.readouterr().out
    with closing(OutboxAdmin(outbox_path(tmp_path))) as admin:
        assert [i.id for i in admin.items("pending", "ops")] == [pending, dead]
    assert main(["outbox", "purge", *data, "--dead"]) == 0
    assert "1 dead message(s) deleted" in capsys.readouterr().out
    assert await store.dead_count("db") == 0


async def test_outbox_list_masks_the_configs_secrets_in_stored_errors(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.outbox.schema import outbox_path
    from app.outbox.sqlite import SqliteOutbox
    from tests.support.queues import entry

    store = SqliteOutbox(outbox_path(tmp_path))
    ids = await store.enqueue({"ops": [entry({"text": "1"})]})
    assert ids is not None
    # As an outbox written before errors were scrubbed holds it: the bot echoed its token.
    await store.bury(ids, "permanent failure: 300001: token cli-secret-token is not exist")
    data = ["--data-dir", str(tmp_path), "--config", str(config_file)]

    assert main(["outbox", "list", *data, "--dead"]) == 0
    out = capsys.readouterr().out
    assert "cli-secret-token" not in out
    assert "300001: token *** is not exist" in out


def test_outbox_without_a_database_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "list", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "no outbox at" in capsys.readouterr().err
