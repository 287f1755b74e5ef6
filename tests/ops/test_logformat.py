"""Log formats: readable text by default, one JSON object per line on request (flag or env var),
redacted either way, and the real `alertbridge serve` (uvicorn's loggers included) writing JSON."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli.main import main
from app.ops.logformat import LogFormat
from app.ops.logsetup import LOG_FORMAT_ENV, chosen_log_format, setup_logging
from app.ops.redaction import Redactor
from tests.support.launcher import Processes, start_alertbridge, wait_until

SECRET_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/L0g-F0rmat-T0ken-5e3"
SECRET_TOKEN = "L0g-F0rmat-T0ken-5e3"
LOGGER = "alertbridge.test"
DELIVERY_TIMEOUT_SECONDS = 20.0


@pytest.fixture
def output() -> Iterator[Any]:
    """Install the handler as serve does, in the chosen format, writing to a string."""
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    shown = io.StringIO()

    def install(log_format: LogFormat) -> io.StringIO:
        setup_logging("info", Redactor([SECRET_URL]), log_format)
        (handler,) = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(shown)
        return shown

    yield install
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)


def test_json_lines_carry_time_level_logger_message_and_fields_all_redacted(output: Any) -> None:
    shown = output("json")
    logging.getLogger(LOGGER).warning(
        "posting to %s failed", SECRET_URL, extra={"receiver": "ops", "url": SECRET_URL}
    )

    (line,) = shown.getvalue().splitlines()
    entry = json.loads(line)
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert (entry["level"], entry["logger"], entry["receiver"]) == ("WARNING", LOGGER, "ops")
    assert entry["message"].startswith("posting to ")
    assert entry["time"].endswith("+00:00")
    assert SECRET_TOKEN not in line
    assert "***" in entry["message"]
    assert "***" in entry["url"]


def test_json_keeps_a_traceback_on_its_one_line(output: Any) -> None:
    shown = output("json")
    try:
        raise RuntimeError(f"cannot reach {SECRET_URL}")
    except RuntimeError:
        logging.getLogger(LOGGER).exception("send failed")

    (line,) = shown.getvalue().splitlines()
    message = json.loads(line)["message"]
    assert message.startswith("send failed\nTraceback")
    assert "RuntimeError: cannot reach" in message
    assert SECRET_TOKEN not in line


def test_text_is_the_readable_default_and_shows_no_fields(output: Any) -> None:
    shown = output(chosen_log_format(None))
    logging.getLogger(LOGGER).info("delivered %s", "message 42", extra={"outcome": "delivered"})

    (line,) = shown.getvalue().splitlines()
    assert line.endswith(f" INFO {LOGGER}: delivered message 42")
    assert "outcome" not in line


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, None, "text"),
        (None, "json", "json"),
        ("text", "json", "text"),
        ("json", None, "json"),
    ],
    ids=["default", "env", "flag-beats-env", "flag"],
)
def test_log_format_comes_from_the_flag_then_the_env_var(
    monkeypatch: pytest.MonkeyPatch, flag: str | None, env: str | None, expected: str
) -> None:
    if env is None:
        monkeypatch.delenv(LOG_FORMAT_ENV, raising=False)
    else:
        monkeypatch.setenv(LOG_FORMAT_ENV, env)
    assert chosen_log_format(flag) == expected


def test_an_unknown_log_format_in_the_env_stops_serve_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "yaml")
    with pytest.raises(ValueError, match="must be one of text, json, not 'yaml'"):
        chosen_log_format(None)
    assert main(["serve", "--port", "0"]) == 2
    assert LOG_FORMAT_ENV in capsys.readouterr().err


def test_serve_writes_every_line_as_json_uvicorns_and_deliveries_included(tmp_path: Path) -> None:
    """Chosen by the env var; the embedded default config's console receiver takes the alert."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTBRIDGE_")}
    env |= {LOG_FORMAT_ENV: "json"}
    firing = {"status": "firing", "labels": {"alertname": "DiskFull"}}
    alert = {"version": "4", "status": "firing", "alerts": [firing]}
    with Processes(tmp_path) as processes:
        service = start_alertbridge(processes, None, tmp_path / "data", env=env)
        log = service.process.log
        assert httpx.post(service.url + "/alertmanager", json=alert, timeout=5).status_code == 200
        wait_until(
            lambda: '"outcome": "delivered"' in log(),
            timeout=DELIVERY_TIMEOUT_SECONDS,
            what="delivery",
            watch=[service.process],
        )

    entries = [json.loads(line) for line in log().splitlines()]
    loggers = {entry["logger"] for entry in entries}
    assert {"alertbridge", "uvicorn.error", "alertbridge.delivery"} <= loggers
    assert "Shutting down" in [entry["message"] for entry in entries]
    assert not [entry for entry in entries if "color_message" in entry]  # uvicorn's ANSI copy
    (delivered,) = [entry for entry in entries if entry.get("outcome") == "delivered"]
    assert delivered["receiver"] == "console"
    assert delivered["platform"] == "console"
    assert (delivered["attempt"], delivered["code"]) == (1, None)
    assert delivered["latency_ms"] >= 0
