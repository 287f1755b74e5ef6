"""Known secrets never come out: drive every path that reports an error and grep every output.

The service is configured with known bot tokens, signing secrets, inbound credentials and a
secret path prefix, wired as `alertbridge serve` wires it (cli.setup_logging's redacting handler,
one Redactor shared with the Bridge), in front of the fake bots on a real loopback port so that
refused connections and timeouts are real. Every output is searched for every secret, plain,
URL-encoded and base64-encoded, and for the wrong credentials a client sent:

- the log as an operator sees it (the handler setup_logging installs, at DEBUG);
- each line the service's loggers wrote, before any redaction (the redactor is a safety net);
- every HTTP answer (status line, headers, body), /status and /metrics;
- what the bots received (a card template must not be able to reach a secret);
- what the CLI prints, and the text and traceback of every SendError.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from app.bridge import Bridge
from app.cli.main import main, setup_logging
from app.config.load import parse_config
from app.ops.redaction import Redactor
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import SendError
from tests.fakes.chatbots import FakeBots
from tests.fakes.faults import FailMode
from tests.fakes.server import serve_in_thread
from tests.support.app import running_app
from tests.support.bots import simple_message, webhook_url
from tests.support.cards import CHAT_PLATFORMS, user_cards
from tests.support.launcher import closed_port_url

# -- the secrets -----------------------------------------------------------------------------

TOKENS = {
    "feishu": "f31shu-T0ken-8d2c9e1a",
    "dingtalk": "d1ngtalk-T0ken-77c0b3f4",
    "wecom": "w3c0m-K3y-5b6f0c2e",
}
SIGNING = {"feishu": "fs-S1gn+Secret/8k=", "dingtalk": "SECd1ngtalk+S1gn/Secret="}
WRONG_SIGNING = {"feishu": "fs-Wr0ng+S1gn/9q=", "dingtalk": "SECwr0ng+S1gn/Secret="}
BEARER = "inb0und-Bearer.T0ken~x9"
USERNAME = "alertmanager"
PASSWORD = "inb0und-p@ss:w/rd+1"
PREFIX = "9f3c7ab1d2e4"  # server.path_prefix: /9f3c7ab1d2e4
# Sent by clients, never configured: a refusal must not echo them either.
WRONG_BEARER = "wr0ng-Bearer-Gu3ss-42"
WRONG_PASSWORD = "wr0ng-p@ssw0rd-Gu3ss"
SEND_TIMEOUT_SECONDS = 0.3
FAULTS: dict[str, FailMode] = {"hang": "hang", "5xx": "5xx", "garbage": "garbage"}
OUTCOME_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.02


def token(name: str) -> str:
    """A distinct token per failing bot, as secret as the others."""
    return f"{name}-T0k3n-c4f1"


# receiver → (platform, token, signing secret, what the fake does with it)
BOTS: dict[str, tuple[str, str, str | None, str]] = {
    "feishu-ok": ("feishu", TOKENS["feishu"], SIGNING["feishu"], "accept"),
    "dingtalk-ok": ("dingtalk", TOKENS["dingtalk"], SIGNING["dingtalk"], "accept"),
    "wecom-ok": ("wecom", TOKENS["wecom"], None, "accept"),
    "feishu-unknown-token": ("feishu", token("feishu-unknown"), SIGNING["feishu"], "unknown"),
    "dingtalk-unknown-token": ("dingtalk", token("ding-unknown"), SIGNING["dingtalk"], "unknown"),
    "wecom-unknown-key": ("wecom", token("wecom-unknown"), None, "unknown"),
    "feishu-wrong-secret": ("feishu", token("feishu-resigned"), WRONG_SIGNING["feishu"], "resign"),
    "dingtalk-wrong-secret": (
        "dingtalk",
        token("ding-resign"),
        WRONG_SIGNING["dingtalk"],
        "resign",
    ),
    "feishu-closed-port": ("feishu", token("feishu-closed"), SIGNING["feishu"], "closed"),
    "dingtalk-hung": ("dingtalk", token("ding-hung"), SIGNING["dingtalk"], "hang"),
    "wecom-5xx": ("wecom", token("wecom-5xx"), None, "5xx"),
    "feishu-garbage": ("feishu", token("feishu-garbage"), SIGNING["feishu"], "garbage"),
}
OK_RECEIVERS = ("feishu-ok", "dingtalk-ok", "wecom-ok")


def encodings(value: str) -> set[str]:
    """`value` as it could leak: plain, URL-encoded, base64 (standard and URL-safe)."""
    raw = value.encode()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }


def secrets(base_url: str, closed_url: str) -> dict[str, set[str]]:
    """Every secret of the service's config and every wrong credential, by name."""
    found: dict[str, set[str]] = {
        "bearer token": encodings(BEARER),
        "basic password": encodings(PASSWORD) | encodings(f"{USERNAME}:{PASSWORD}"),
        "path prefix": encodings(PREFIX),
        "wrong bearer": encodings(WRONG_BEARER),
        "wrong password": encodings(WRONG_PASSWORD) | encodings(f"{USERNAME}:{WRONG_PASSWORD}"),
    }
    for name, (platform, bot_token, secret, behaviour) in BOTS.items():
        url = webhook_url(platform, bot_token, closed_url if behaviour == "closed" else base_url)
        found[f"{name} token"] = encodings(bot_token)
        found[f"{name} url"] = {url, quote(url, safe="")}
        if secret:
            found[f"{name} signing secret"] = encodings(secret)
    return found


def leaks(outputs: dict[str, str], known: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{secret} in {channel}"
        for channel, text in outputs.items()
        for secret, forms in known.items()
        if any(form in text for form in forms)
    )


# -- logging as `alertbridge serve` sets it up, plus a raw view ------------------------------

APP_LOGGER = "alertbridge"
ACCESS_LOGGER = "alertbridge.access"


class RawLines(logging.Handler):
    """Each app log line as the code wrote it, before the redacting filter rewrites the record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == APP_LOGGER or record.name.startswith(APP_LOGGER + "."):
            self.lines.append((record.name, self.format(record)))


@dataclass
class Logs:
    redactor: Redactor
    shown: io.StringIO  # what the operator sees
    raw: RawLines

    def outputs(self) -> dict[str, str]:
        app_lines = "\n".join(line for _, line in self.raw.lines)
        return {"log": self.shown.getvalue(), "log lines before redaction": app_lines}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    root_level, httpx_level = root.level, httpx_logger.level
    redactor = Redactor()
    setup_logging("debug", redactor)  # as `serve` does: one redacting handler on the root
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    shown = io.StringIO()
    handler.setStream(shown)
    raw = RawLines()
    root.handlers.insert(0, raw)  # first: it sees each record before the filter rewrites it
    # Everything at DEBUG, except httpx, which `serve` keeps at WARNING on purpose (it would log
    # this test's own inbound requests, wrong credentials and all).
    for name in (None, APP_LOGGER, "httpcore", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield Logs(redactor, shown, raw)
    root.removeHandler(raw)
    root.removeHandler(handler)
    root.setLevel(root_level)
    httpx_logger.setLevel(httpx_level)


# -- the service, the bots and the cards ------------------------------------------------------

# Each user card fails differently; the dingtalk event card prints everything a card can see.
BROKEN_CARDS = {
    "feishu/event.json.j2": "{% if %}",
    "wecom/alert.json.j2": "{{ no_such_function() }}",
    "dingtalk/alert.json.j2": '{"msgtype": "text", "text": {"content": '
    '"{{ cycler.__init__.__globals__ }} {{ receiver.__class__.__mro__ }}"}}',
    "dingtalk/event.json.j2": '{"msgtype": "markdown", "markdown": {"title": "t", "text": '
    '"{{ receiver }} {{ mentions }} {{ alertmanager_url }} {{ keyword }} {{ alerts }} '
    '{{ common_labels }} {{ timezone }}"}}',
}
ALERT = b"""{"version": "4", "status": "firing", "receiver": "alertbridge",
 "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "critical"},
  "annotations": {"summary": "disk full"}, "startsAt": "2024-05-01T02:00:00Z"}]}"""
EVENT = b'{"reason": "BackOff", "type": "Warning", "message": "Back-off restarting"}'


@dataclass
class Service:
    client: httpx.AsyncClient
    answers: list[str] = field(default_factory=list)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.answers.append(f"{method} -> {response.status_code}\n{headers}\n{response.text}")
        return response

    async def inbound(self, path: str, body: bytes, method: str = "POST", **kwargs: Any) -> int:
        auth = {"Authorization": f"Bearer {BEARER}"}
        response = await self.request(
            method, f"/{PREFIX}{path}", content=body, headers=kwargs.pop("headers", auth), **kwargs
        )
        return response.status_code

    async def outcomes(self, receivers: tuple[str, ...]) -> None:
        """Wait until /status shows, for each receiver, a message delivered or a failure."""
        for _ in range(int(OUTCOME_WAIT_SECONDS / POLL_SECONDS)):
            report = (await self.client.get("/status")).json()["receivers"]
            if all(report[name]["sent"] or report[name]["last_error"] for name in receivers):
                return
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"no outcome for all of {receivers} within {OUTCOME_WAIT_SECONDS} s")


def fake_bots() -> FakeBots:
    bots = FakeBots()
    bots.set_rate_limits(False)
    for platform, bot_token, secret, behaviour in BOTS.values():
        add_fake_bot(bots, platform, bot_token, secret, behaviour)
    return bots


def add_fake_bot(
    bots: FakeBots, platform: str, bot_token: str, secret: str | None, behaviour: str
) -> None:
    """A bot that fails in `behaviour`'s way: "unknown" is no bot at all; "resign" checks the
    platform's real secret where the receiver was configured with another one."""
    if behaviour == "unknown":
        return
    if platform == "wecom":
        bots.add_wecom(bot_token)
    else:
        real = SIGNING[platform] if behaviour == "resign" else secret
        add = bots.add_feishu if platform == "feishu" else bots.add_dingtalk
        add(bot_token, secret=real)
    if behaviour in FAULTS:
        bots.fail(bot_token, FAULTS[behaviour])


def service_config(base_url: str, closed_url: str, cards_dir: Path) -> dict[str, Any]:
    receivers = [
        {
            "name": name,
            "platform": platform,
            "webhook_url": webhook_url(
                platform, bot_token, closed_url if behaviour == "closed" else base_url
            ),
            "secret": secret,
        }
        for name, (platform, bot_token, secret, behaviour) in BOTS.items()
    ]
    return {
        "server": {
            "path_prefix": f"/{PREFIX}",
            "auth": {"bearer_token": BEARER, "basic": {"username": USERNAME, "password": PASSWORD}},
            "cards_dir": str(cards_dir),
            "send_timeout_seconds": SEND_TIMEOUT_SECONDS,
            "timezone": "UTC",
        },
        "receivers": receivers,
        "routes": [{"receivers": list(BOTS)}],
    }


@asynccontextmanager
async def running_service(
    logs: Logs, tmp_path: Path, base_url: str, closed_url: str
) -> AsyncIterator[Service]:
    user_cards(tmp_path, BROKEN_CARDS)
    config = parse_config(service_config(base_url, closed_url, tmp_path), environ={})
    # As `serve` does: one redactor for the log handler and the bridge, which loads the secrets.
    bridge = Bridge(config, config_source="test", redactor=logs.redactor)
    async with running_app(config, bridge=bridge) as client:
        yield Service(client)


# -- scenarios: every path that reports an error ----------------------------------------------


async def bots_fail_in_every_way(service: Service) -> None:
    assert await service.inbound("/alertmanager", ALERT) == 200
    await service.outcomes(tuple(BOTS))


async def user_cards_fail(service: Service) -> None:
    for name in OK_RECEIVERS:
        assert await service.inbound(f"/alertmanager/{name}", ALERT) == 200
        assert await service.inbound(f"/kube-eventer/{name}", EVENT) == 200
    await service.outcomes(OK_RECEIVERS)


async def payloads_are_refused(service: Service) -> None:
    refused = [
        ("/alertmanager", b'{"alerts": [', 400),
        ("/alertmanager", b'{"alerts": [{"status": "burning", "labels": {}}]}', 422),
        ("/alertmanager", b'{"receiver": "\xff"}', 400),
        ("/alertmanager/no-such-receiver", ALERT, 404),
        ("/alertmanager", b"x" * (1024 * 1024 + 1), 413),
        ("/kube-eventer", b"", 400),
        ("/kube-eventer", b"[1, 2]", 422),
    ]
    for path, body, status in refused:
        assert await service.inbound(path, body) == status


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def credentials_are_wrong(service: Service) -> None:
    wrong = [
        {},
        {"Authorization": f"Bearer {WRONG_BEARER}"},
        {"Authorization": f"Bearer {BEARER}x"},
        {"Authorization": basic(USERNAME, WRONG_PASSWORD)},
        {"Authorization": basic(WRONG_BEARER, PASSWORD)},
        {"Authorization": f"Basic {WRONG_PASSWORD}"},
        {"Authorization": f"Token {BEARER}"},
    ]
    for headers in wrong:
        assert await service.inbound("/alertmanager", ALERT, headers=headers) == 401
    query = {"token": WRONG_BEARER, "header": f"Authorization=Bearer {WRONG_BEARER}"}
    assert await service.inbound("/kube-eventer", EVENT, headers={}, params=query) == 401


async def kube_eventer_query_carries_credentials(service: Service) -> None:
    # kube-eventer sends its whole sink option string back to us in the query.
    query = {
        "token": BEARER,
        "level": "Warning",
        "method": "GET",
        "header": f"Authorization=Basic {basic(USERNAME, PASSWORD).split()[1]}",
    }
    assert await service.inbound("/kube-eventer", EVENT, "GET", headers={}, params=query) == 200
    assert await service.inbound("/kube-eventer/wecom-ok", EVENT, headers={}, params=query) == 200
    await service.outcomes(tuple(BOTS))


async def correct_credentials_are_accepted(service: Service) -> None:
    for headers in (
        {"Authorization": f"Bearer {BEARER}"},
        {"Authorization": basic(USERNAME, PASSWORD)},
    ):
        assert await service.inbound("/alertmanager/feishu-ok", ALERT, headers=headers) == 200
    await service.outcomes(("feishu-ok",))


async def schema_and_docs_are_read(service: Service) -> None:
    for path in ("/openapi.json", "/docs", "/redoc"):
        await service.request("GET", path)


Scenario = Callable[[Service], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "bots-fail-in-every-way": bots_fail_in_every_way,
    "user-cards-fail": user_cards_fail,
    "payloads-are-refused": payloads_are_refused,
    "credentials-are-wrong": credentials_are_wrong,
    "kube-eventer-query-carries-credentials": kube_eventer_query_carries_credentials,
    "correct-credentials-are-accepted": correct_credentials_are_accepted,
    "schema-and-docs-are-read": schema_and_docs_are_read,
}
KNOWN_LEAKS: dict[str, str] = {}


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(
            scenario,
            id=name,
            marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN_LEAKS[name])]
            if name in KNOWN_LEAKS
            else [],
        )
        for name, scenario in SCENARIOS.items()
    ],
)
async def test_no_output_carries_a_secret(scenario: Scenario, logs: Logs, tmp_path: Path) -> None:
    bots = fake_bots()
    closed_url = closed_port_url()
    with serve_in_thread(bots.app) as base_url:
        async with running_service(logs, tmp_path, base_url, closed_url) as service:
            await scenario(service)
            await service.request("GET", "/status")
            await service.request("GET", "/metrics")
        for _, bot_token, _, _ in BOTS.values():
            bots.heal(bot_token)
    outputs = {
        **logs.outputs(),
        "HTTP answers": "\n\n".join(service.answers),
        "bot messages": "\n".join(repr(r.body) for r in bots.received),
    }

    assert leaks(outputs, secrets(base_url, closed_url)) == []
    assert "\n".join(service.answers), "the scenario got no answer at all"


async def test_access_log_lines_need_no_redaction_to_hide_the_path_prefix(
    logs: Logs, tmp_path: Path
) -> None:
    # A handler without the redacting filter (a JSON log format, a library's logging config)
    # prints what the code wrote: the access log must not write the prefix in the first place.
    bots = fake_bots()
    with serve_in_thread(bots.app) as base_url:
        async with running_service(logs, tmp_path, base_url, closed_port_url()) as service:
            assert await service.inbound("/alertmanager/wecom-ok", ALERT) == 200
            assert await service.inbound(f"/kube-eventer/{PREFIX}", EVENT) == 404

    access = [line for name, line in logs.raw.lines if name == ACCESS_LOGGER]
    assert [line for line in access if PREFIX in line] == []
    assert [line.split()[-3:-1] for line in access] == [
        ["/<prefix>/alertmanager/wecom-ok", "200"],
        ["/<prefix>/kube-eventer/<prefix>", "404"],
    ]


# -- senders: the text and traceback of every SendError ---------------------------------------

SENDER_FAILURES: dict[str, str] = {
    "unknown-token": "unknown",
    "wrong-secret": "resign",
    "closed-port": "closed",
    "hang": "hang",
    "5xx": "5xx",
    "garbage": "garbage",
}


@pytest.fixture(scope="module")
def loopback_bots() -> Iterator[tuple[FakeBots, str]]:
    bots = FakeBots()
    with serve_in_thread(bots.app) as base_url:
        yield bots, base_url


@pytest.mark.parametrize(
    ("platform", "failure"),
    [
        (platform, failure)
        for platform in CHAT_PLATFORMS
        for failure in SENDER_FAILURES
        # A WeCom robot has no signing secret: its key is its only credential.
        if (platform, failure) != ("wecom", "wrong-secret")
    ],
    ids=lambda value: value,
)
async def test_send_errors_never_carry_a_bot_secret(
    loopback_bots: tuple[FakeBots, str], platform: str, failure: str
) -> None:
    bots, base_url = loopback_bots
    behaviour = SENDER_FAILURES[failure]
    bot_token = token(f"{platform}-{failure}-sender")
    secret = (WRONG_SIGNING if behaviour == "resign" else SIGNING).get(platform)
    add_fake_bot(bots, platform, bot_token, secret, behaviour)
    base = closed_port_url() if behaviour == "closed" else base_url
    url = webhook_url(platform, bot_token, base)

    async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
        with pytest.raises(SendError) as caught:
            await REGISTRY[platform].sender(url, secret, client).send(simple_message(platform))

    error = caught.value
    text = {"SendError": f"{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"}
    known = {"token": encodings(bot_token), "url": {url}}
    if secret:
        known["signing secret"] = encodings(secret) | encodings(SIGNING[platform])
    assert error.code, "not a classified failure"
    assert leaks(text, known) == []


# -- the command line: config errors and the other commands ----------------------------------

ENV = {"FEISHU_TOKEN": TOKENS["feishu"], "DINGTALK_SECRET": SIGNING["dingtalk"]}
URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKENS['feishu']}"
DINGTALK_URL = f"https://oapi.dingtalk.com/robot/send?access_token={TOKENS['dingtalk']}"
WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKENS['wecom']}"
GOOD = f"""
server:
  path_prefix: /{PREFIX}
  auth: {{bearer_token: "{BEARER}", basic: {{username: {USERNAME}, password: "{PASSWORD}"}}}}
receivers:
  - name: ops
    platform: feishu
    webhook_url: {URL}
    secret: "{SIGNING["feishu"]}"
  - {{name: db, platform: dingtalk, webhook_url: "{DINGTALK_URL}", secret: "${{DINGTALK_SECRET}}"}}
  - {{name: all, platform: wecom, webhook_url: "{WECOM_URL}"}}
routes:
  - {{matchers: ["team = db"], receivers: [db]}}
default_receiver: ops
"""
CONFIG_ERRORS: dict[str, tuple[str, str | None]] = {
    "valid": (GOOD, None),
    "unknown-key-beside-secrets": (
        GOOD.replace("platform: feishu", "platform: feishu\n    colour: red"),
        None,
    ),
    "unknown-platform": (GOOD.replace("platform: feishu", "platform: slack"), None),
    "url-not-http": (GOOD.replace(URL, f"ftp://open.feishu.cn/{TOKENS['feishu']}"), None),
    "secret-not-a-string": (
        GOOD.replace(f'secret: "{SIGNING["feishu"]}"', f'secret: {{value: "{SIGNING["feishu"]}"}}'),
        None,
    ),
    "password-not-a-string": (
        GOOD.replace(f'password: "{PASSWORD}"', f'password: ["{PASSWORD}"]'),
        None,
    ),
    "prefix-without-slash": (
        GOOD.replace(f"path_prefix: /{PREFIX}", f"path_prefix: {PREFIX}"),
        None,
    ),
    "unset-variable": (GOOD.replace("${DINGTALK_SECRET}", "${NO_SUCH_SECRET}"), None),
    "not-a-mapping": (f"- {URL}\n- {SIGNING['feishu']}\n", None),
    "yaml-unclosed-flow-on-secret-line": (
        GOOD.replace(f'secret: "{SIGNING["feishu"]}"', f"secret: [{SIGNING['feishu']}"),
        None,
    ),
    "yaml-colon-after-secret": (
        GOOD.replace(f'secret: "{SIGNING["feishu"]}"', f"secret: {SIGNING['feishu']}: x"),
        None,
    ),
    "yaml-tab-before-password": (
        GOOD.replace(f'password: "{PASSWORD}"', f'password:\t"{PASSWORD}" x: y'),
        None,
    ),
}


def config_secrets() -> dict[str, set[str]]:
    known = {f"{platform} token": encodings(value) for platform, value in TOKENS.items()}
    known |= {f"{p} signing secret": encodings(value) for p, value in SIGNING.items()}
    known |= {"bearer token": encodings(BEARER), "basic password": encodings(PASSWORD)}
    return known | {"path prefix": encodings(PREFIX)}


def run_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> dict[str, str]:
    caplog.set_level(logging.DEBUG)
    status = main(argv)
    printed = capsys.readouterr()
    assert status in (0, 2)
    assert printed.out or printed.err, "the command printed nothing at all"
    return {"stdout": printed.out, "stderr": printed.err, "log": caplog.text}


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "alertbridge.yaml"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            text,
            id=name,
            marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=leak)]
            if leak
            else [],
        )
        for name, (text, leak) in CONFIG_ERRORS.items()
    ],
)
def test_check_config_reports_errors_without_a_secret(
    text: str,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_file.write_text(text, encoding="utf-8")

    outputs = run_cli(["check-config", str(config_file)], capsys, caplog)

    assert leaks(outputs, config_secrets()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["route-test", "--config", "{path}", "team=db"],
        ["render", "--config", "{path}", "--receiver", "no-such-receiver"],
        ["render", "--config", "{path}", "--receiver", "ops"],
        ["render", "--config", "{path}", "--receiver", "db"],
    ],
    ids=["route-test", "render-unknown-receiver", "render-feishu", "render-dingtalk"],
)
def test_other_commands_print_no_secret(
    command: list[str],
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_file.write_text(GOOD, encoding="utf-8")

    outputs = run_cli([part.format(path=config_file) for part in command], capsys, caplog)

    assert leaks(outputs, config_secrets()) == []
