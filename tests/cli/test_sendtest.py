"""`alertbridge send-test`: one sample card through the receiver's real sender to the fake bots on
a real loopback port; the platform's answer printed, the exit status set, no secret shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from app.cli.main import main
from tests.fakes import dingtalk, feishu, wecom
from tests.fakes.chatbots import FakeBots
from tests.fakes.server import serve_in_thread
from tests.support.bots import SECRETS, add_bot, webhook_url
from tests.support.launcher import closed_port_url

TOKENS = {
    "feishu": "f5-Send7est-T0ken",
    "dingtalk": "d7-Send7est-T0ken",
    "wecom": "w3-Send7est-K3y",
}
WRONG_SECRET = "Wr0ng-S1gning-Secret"
UNKNOWN_TOKEN = "n0-Such-B0t-T0ken"
# The sample alert card names its first alert; a delivered card must carry it.
SAMPLE_ALERT = "NodeFilesystemAlmostOutOfSpace"


@pytest.fixture(scope="module")
def bots() -> Iterator[tuple[FakeBots, str]]:
    fake = FakeBots()
    for platform, token in TOKENS.items():
        add_bot(fake, platform, token)
    with serve_in_thread(fake.app) as base:
        yield fake, base


@pytest.fixture(autouse=True)
def own_logging() -> Iterator[None]:
    """send-test installs its redacting log handler on the root logger: put pytest's back."""
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)


def write_config(path: Path, platform: str, url: str, secret: str | None) -> Path:
    line = f'  - {{name: ops, platform: {platform}, webhook_url: "{url}"'
    line += f', secret: "{secret}"}}' if secret else "}"
    path.write_text(f"receivers:\n{line}\n", encoding="utf-8")
    return path


def run_send_test(
    config: Path | None, capsys: pytest.CaptureFixture[str], receiver: str = "ops"
) -> tuple[int, str, str]:
    argv = ["send-test", "--receiver", receiver]
    status = main(argv + (["--config", str(config)] if config else []))
    printed = capsys.readouterr()
    return status, printed.out, printed.err


def secret_forms(*values: str) -> set[str]:
    return {form for value in values if value for form in (value, quote(value, safe=""))}


# (platform, how the receiver is configured) → exit status and the line printed after "ops: "
CASES = {
    "feishu-ok": ("feishu", "ok", 0, f"ok (code 0: {feishu.SUCCESS['msg']})"),
    "dingtalk-ok": ("dingtalk", "ok", 0, f"ok (code 0: {dingtalk.OK['errmsg']})"),
    "wecom-ok": ("wecom", "ok", 0, f"ok (code 0: {wecom.OK['errmsg']})"),
    "feishu-bad-signature": (
        "feishu",
        "wrong-secret",
        1,
        f"failed (code 19021, permanent): feishu answered 19021: {feishu.SIGN_FAILED}",
    ),
    "dingtalk-bad-signature": (
        "dingtalk",
        "wrong-secret",
        1,
        "failed (code 310000, permanent): dingtalk answered 310000: sign not match",
    ),
    "feishu-bad-token": (
        "feishu",
        "unknown-token",
        1,
        f"failed (code 19001, permanent): feishu answered 19001: {feishu.TOKEN_INVALID}",
    ),
    "wecom-bad-token": (
        "wecom",
        "unknown-token",
        1,
        "failed (code 93000, permanent): wecom answered 93000: invalid webhook url",
    ),
    "feishu-network-error": (
        "feishu",
        "closed-port",
        1,
        "failed (code network, retryable): network error (ConnectError)",
    ),
    "dingtalk-network-error": (
        "dingtalk",
        "closed-port",
        1,
        "failed (code network, retryable): network error (ConnectError)",
    ),
}


@pytest.mark.parametrize(("platform", "setup", "status", "outcome"), CASES.values(), ids=CASES)
def test_send_test_prints_the_platforms_answer_and_exits_accordingly(
    bots: tuple[FakeBots, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    platform: str,
    setup: str,
    status: int,
    outcome: str,
) -> None:
    fake, base = bots
    token = UNKNOWN_TOKEN if setup == "unknown-token" else TOKENS[platform]
    url = webhook_url(platform, token, closed_port_url() if setup == "closed-port" else base)
    secret = WRONG_SECRET if setup == "wrong-secret" else SECRETS.get(platform)
    config = write_config(tmp_path / "alertbridge.yaml", platform, url, secret)
    before = len(fake.messages(TOKENS[platform]))

    code, out, err = run_send_test(config, capsys)

    assert (code, out) == (status, f"{platform} receiver ops: {outcome}\n")
    delivered = fake.messages(TOKENS[platform])[before:]
    assert len(delivered) == (1 if status == 0 else 0)
    assert all(SAMPLE_ALERT in str(message) for message in delivered)
    shown = out + err
    assert [s for s in secret_forms(token, url, secret or "") if s in shown] == []


def test_send_test_to_the_console_receiver_logs_the_card(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for platform in TOKENS:
        monkeypatch.delenv(f"ALERTBRIDGE_{platform.upper()}_URL", raising=False)

    code, out, err = run_send_test(None, capsys, receiver="console")

    assert code == 0
    assert out.startswith("console receiver console: ok (no platform to answer")
    assert SAMPLE_ALERT in err


def test_send_test_names_an_unknown_receiver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = webhook_url("wecom", TOKENS["wecom"], "https://qyapi.weixin.qq.com")
    config = write_config(tmp_path / "alertbridge.yaml", "wecom", url, None)

    code, out, err = run_send_test(config, capsys, receiver="nope")

    assert (code, out) == (2, "")
    assert "no receiver named 'nope'" in err
    assert TOKENS["wecom"] not in err
