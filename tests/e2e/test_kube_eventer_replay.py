"""kube-eventer's exact requests, and bad input, against the real `alertbridge serve` process.

kube-eventer has no binary here, so its bodies are replayed as its webhook sink sends them
(shared/reference/inbound-payloads.md §2): GET without Content-Type unless told otherwise, every
sink option in the query string, anything but exactly 200 counted as a failure.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.bots import Bots, shows
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

FIXTURES = REPO_ROOT / "tests" / "fixtures"
MAX_BODY_BYTES = 4096
DELIVERY_TIMEOUT_SECONDS = 15.0
# What kube-eventer's Go client sends on its own (net/http defaults).
GO_HEADERS = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}


@dataclass(frozen=True)
class Bridge:
    service: Service
    bots: Bots
    tokens: dict[str, str]  # platform → bot token, as the fake files messages
    bearer: str  # server.auth.bearer_token

    def send(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] = b"",
        headers: dict[str, str] | None = None,
        *,
        authorized: bool = True,
    ) -> httpx.Response:
        all_headers = {**GO_HEADERS, **(headers or {})}
        if authorized and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.bearer}"
        return httpx.request(
            method,
            self.service.url + path,
            content=body,
            headers=all_headers,
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    def wait_delivered(self, *needles: str) -> None:
        """Every bot got a message showing every one of `needles`."""

        def everywhere() -> bool:
            return all(
                any(all(shows(text, n) for n in needles) for text in self.bots.texts(token))
                for token in self.tokens.values()
            )

        wait_until(
            everywhere,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            what=f"a card showing {needles} at every bot",
            watch=[self.service.process],
            details=self.bots.summary,
        )


@pytest.fixture(scope="module")
def bridge(
    module_processes: Processes, module_bots: Bots, tmp_path_factory: pytest.TempPathFactory
) -> Bridge:
    tmp = tmp_path_factory.mktemp("kube-eventer")
    tokens = {
        "feishu": f"fstok{secrets.token_hex(12)}",
        "dingtalk": f"dttok{secrets.token_hex(16)}",
        "wecom": f"wckey{secrets.token_hex(12)}",
    }
    feishu_secret, dingtalk_secret = f"fssec{secrets.token_hex(8)}", f"SEC{secrets.token_hex(16)}"
    bearer = f"bearer{secrets.token_hex(16)}"
    bots = module_bots
    bots.fake.add_feishu(tokens["feishu"], secret=feishu_secret)
    bots.fake.add_dingtalk(tokens["dingtalk"], secret=dingtalk_secret)
    bots.fake.add_wecom(tokens["wecom"])
    receivers: list[dict[str, Any]] = [
        {
            "name": "events-feishu",
            "platform": "feishu",
            "webhook_url": bots.feishu_url(tokens["feishu"]),
            "secret": feishu_secret,
        },
        {
            "name": "events-dingtalk",
            "platform": "dingtalk",
            "webhook_url": bots.dingtalk_url(tokens["dingtalk"]),
            "secret": dingtalk_secret,
        },
        {
            "name": "events-wecom",
            "platform": "wecom",
            "webhook_url": bots.wecom_url(tokens["wecom"]),
        },
    ]
    config = write_yaml(
        tmp / "alertbridge.yml",
        {
            "server": {
                "timezone": "UTC",
                "max_body_bytes": MAX_BODY_BYTES,
                "auth": {"bearer_token": bearer},
            },
            "receivers": receivers,
            "routes": [{"receivers": [r["name"] for r in receivers]}],
        },
    )
    service = start_alertbridge(module_processes, config, tmp / "data")
    return Bridge(service, bots, tokens, bearer)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def alertmanager_body(alertname: str) -> bytes:
    """The firing fixture narrowed to one alert renamed `alertname`, so its card is findable."""
    payload = json.loads(fixture_bytes("alertmanager/firing.json"))
    alert = payload["alerts"][0]
    alert["labels"]["alertname"] = alertname
    payload["alerts"] = [alert]
    payload["groupKey"] = f'{{}}:{{alertname="{alertname}"}}'
    return json.dumps(payload).encode()


# -- kube-eventer replays --------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    fixture: str
    method: str
    query: str  # the sink options, as kube-eventer puts its whole sink URL on the wire
    content_type: str | None
    needles: tuple[str, ...]  # text that must reach every card


REPLAYS = [
    pytest.param(
        Replay(
            "kube_eventer/default-body.txt",
            "GET",
            "level=Warning&kinds=Pod",
            None,
            (
                "BackOff",
                "Back-off restarting failed container web in pod web-7c5ddbdf54-x2vq8_shop",
            ),
        ),
        id="default-body-get-without-content-type",
    ),
    pytest.param(
        Replay(
            "kube_eventer/custom-body.json",
            "POST",
            "method=POST&header=Content-Type=application/json"
            "&custom_body_configmap=alertbridge-body&custom_body_configmap_namespace=kube-system",
            "application/json",
            (
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                "path=C:\\app\\health",
                "健康检查失败",
            ),
        ),
        id="custom-body-post-json",
    ),
    pytest.param(
        Replay(
            "kube_eventer/default-body-raw-message.txt",
            "GET",
            "level=Normal&namespaces=shop,data",
            None,
            (
                "context deadline exceeded",
                # `\n` of `\new` must stay a backslash and an n, not become a line break
                "log: C:\\app\\logs\\new\\probe.log",
            ),
        ),
        id="default-body-raw-newline-and-backslash",
    ),
]


@pytest.mark.parametrize("replay", REPLAYS)
def test_kube_eventer_request_is_answered_200_and_delivered(bridge: Bridge, replay: Replay) -> None:
    # kube-eventer cannot send a header value containing "=", so it authenticates with ?token=;
    # the Authorization header option rides along in the query string as well.
    marker = f"Bearer-{secrets.token_hex(8)}"
    query = f"{replay.query}&header=Authorization={marker}&token={bridge.bearer}"
    headers = {"Authorization": marker}
    if replay.content_type is not None:
        headers["Content-Type"] = replay.content_type
    response = bridge.send(
        replay.method, f"/kube-eventer?{query}", fixture_bytes(replay.fixture), headers
    )
    assert response.status_code == 200, response.text
    bridge.wait_delivered(*replay.needles)
    log = bridge.service.process.log()
    assert marker not in log, "a query-string header value reached the service log"
    assert bridge.bearer not in log, "the inbound bearer token reached the service log"


# -- bad input -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    method: str
    path: str
    body: bytes | None  # None: a chunked body over the limit, with no Content-Length
    status: int
    reason: str  # must appear in the {"error": ...} answer


def chunks_over_limit() -> Iterator[bytes]:
    yield b'{"version": "4", "alerts": [], "padding": "'
    for _ in range(MAX_BODY_BYTES // 512 + 1):
        yield b"x" * 512
    yield b'"}'


WRONG_SHAPE = json.dumps(
    {
        "version": "4",
        "status": "firing",
        "receiver": "alertbridge",
        "groupKey": "{}:{}",
        "alerts": [{"status": "firing", "labels": "not a mapping"}],
    }
).encode()
LIMIT = str(MAX_BODY_BYTES)  # the 413 answer names the limit
OVERSIZED = json.dumps({"version": "4", "padding": "x" * MAX_BODY_BYTES}).encode()

BAD_INPUT = [
    pytest.param(Bad("POST", "/alertmanager", b'{"version": "4", ', 400, "JSON"), id="malformed"),
    pytest.param(Bad("POST", "/alertmanager", WRONG_SHAPE, 422, "alerts.0.labels"), id="shape"),
    pytest.param(
        Bad("POST", "/alertmanager/nope", alertmanager_body("E2ENope"), 404, "nope"),
        id="unknown-receiver",
    ),
    pytest.param(Bad("POST", "/alertmanager", OVERSIZED, 413, LIMIT), id="too-big"),
    pytest.param(Bad("POST", "/alertmanager", None, 413, LIMIT), id="too-big-chunked"),
    pytest.param(Bad("GET", "/kube-eventer", b"\n{\n\tnot json", 400, "JSON"), id="kube-eventer"),
]


def send_bad(bridge: Bridge, bad: Bad) -> httpx.Response:
    body = chunks_over_limit() if bad.body is None else bad.body
    return bridge.send(bad.method, bad.path, body, {"Content-Type": "application/json"})


@pytest.mark.parametrize("bad", BAD_INPUT)
def test_bad_input_is_refused_with_a_reason(bridge: Bridge, bad: Bad) -> None:
    response = send_bad(bridge, bad)
    assert response.status_code == bad.status, response.text
    assert bad.reason in response.json()["error"], response.text


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        pytest.param({}, "", 401, id="no-credentials"),
        pytest.param({"Authorization": "Bearer wrong-token"}, "", 401, id="wrong-bearer"),
        pytest.param({}, "?token=wrong-token", 401, id="wrong-query-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "", 401, id="basic-not-configured"),
        pytest.param({"Authorization": "BEARER"}, "", 200, id="right-bearer"),
        # ?token= is kube-eventer's way only; Alertmanager sends headers.
        pytest.param({}, "?token=TOKEN", 401, id="query-token-refused-on-alertmanager"),
    ],
)
def test_only_the_configured_bearer_token_is_let_in(
    bridge: Bridge, headers: dict[str, str], query: str, status: int
) -> None:
    # The real token is random per run: the table names it TOKEN.
    headers = {k: v.replace("BEARER", f"Bearer {bridge.bearer}") for k, v in headers.items()}
    query = query.replace("TOKEN", bridge.bearer)
    alertname = f"E2EAuth{secrets.token_hex(4)}"
    response = bridge.send(
        "POST",
        f"/alertmanager{query}",
        alertmanager_body(alertname),
        {"Content-Type": "application/json", **headers},
        authorized=False,
    )
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == {"error": "missing or wrong credentials"}
    else:
        bridge.wait_delivered(alertname)


def test_bad_input_disturbs_nothing(bridge: Bridge) -> None:
    for param in BAD_INPUT:
        (bad,) = param.values
        assert isinstance(bad, Bad)
        assert send_bad(bridge, bad).status_code == bad.status
    assert bridge.send("POST", "/alertmanager", b"{}", authorized=False).status_code == 401

    alertname = f"E2EAfterBadInput{secrets.token_hex(4)}"
    response = bridge.send(
        "POST", "/alertmanager", alertmanager_body(alertname), {"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["receivers"] == ["events-feishu", "events-dingtalk", "events-wecom"]
    bridge.wait_delivered(alertname)

    def drained() -> bool:
        receivers = bridge.service.status()["receivers"].values()
        return all(r["backlog"] == 0 for r in receivers)

    wait_until(drained, timeout=DELIVERY_TIMEOUT_SECONDS, what="every backlog to drain")
    for name, receiver in bridge.service.status()["receivers"].items():
        assert receiver["dead_letters"] == 0, f"{name}: {receiver}"
        assert receiver["last_error"] is None, f"{name}: {receiver}"
    log = bridge.service.process.log()
    assert bridge.bearer not in log
    assert "Traceback" not in log, log
