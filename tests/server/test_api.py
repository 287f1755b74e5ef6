"""The HTTP API end to end in one process: service → fake bots, every answer code."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.bots import SECRETS, TOKENS, fake_bots
from tests.support.builders import bot_receivers, service_config
from tests.support.cards import CHAT_PLATFORMS
from tests.support.paths import FIXTURES

FIRING = (FIXTURES / "alertmanager" / "firing.json").read_bytes()
DEFAULT_EVENT = (FIXTURES / "kube_eventer" / "default-body.txt").read_bytes()
RAW_EVENT = (FIXTURES / "kube_eventer" / "default-body-raw-message.txt").read_bytes()
RESOLVED = (FIXTURES / "alertmanager" / "resolved.json").read_bytes()
CUSTOM_EVENT = (FIXTURES / "kube_eventer" / "custom-body.json").read_bytes()
BEARER = "inbound-bearer-token-123"


Service = tuple[httpx.AsyncClient, FakeBots]
MakeService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def service() -> AsyncIterator[MakeService]:
    async with AsyncExitStack() as services:

        async def make(limits: dict[str, int] | None = None, **server: Any) -> Service:
            bots = fake_bots()
            config = service_config(*bot_receivers(), server=server, limits=limits or {})
            client = await services.enter_async_context(running_app(config, bots))
            return client, bots

        yield make


async def test_alertmanager_notification_reaches_all_three_bots(service: MakeService) -> None:
    client, bots = await service()
    response = await client.post("/alertmanager", content=FIRING)
    assert response.status_code == 200, response.text
    await bots.wait_for(lambda: len(bots.received) == 3, timeout=5)
    by_platform = {r.platform: r.body for r in bots.received}
    assert by_platform["feishu"]["msg_type"] == "interactive"
    assert by_platform["dingtalk"]["msgtype"] == "markdown"
    assert by_platform["wecom"]["msgtype"] == "markdown"
    alertname = json.loads(FIRING)["alerts"][0]["labels"]["alertname"]
    assert all(alertname in json.dumps(body, ensure_ascii=False) for body in by_platform.values())


async def test_one_receiver_endpoint_sends_only_there(service: MakeService) -> None:
    client, bots = await service()
    response = await client.post("/alertmanager/wecom-ops", content=FIRING)
    assert response.json()["receivers"] == ["wecom-ops"]
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    assert bots.received[0].platform == "wecom"


@pytest.mark.parametrize(
    ("method", "body", "headers", "expected_text"),
    [
        ("GET", DEFAULT_EVENT, {}, "Back-off"),
        ("POST", CUSTOM_EVENT, {"Content-Type": "application/json"}, None),
        ("POST", RAW_EVENT, {}, None),
    ],
    ids=["default-body-by-get-no-content-type", "custom-body-by-post", "raw-newline-backslash"],
)
async def test_kube_eventer_bodies_are_answered_exactly_200_and_delivered(
    service: MakeService,
    method: str,
    body: bytes,
    headers: dict[str, str],
    expected_text: str | None,
) -> None:
    client, bots = await service()
    url = "/kube-eventer/dingtalk-ops?level=Warning&method=GET&header=X-Token=abc"
    response = await client.request(method, url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    text = bots.received[0].body["markdown"]["text"]
    if expected_text:
        assert expected_text in text


async def test_a_lone_surrogate_escape_is_refused_or_replaced_never_a_500(
    service: MakeService,
) -> None:
    client, bots = await service()
    firing = json.loads(FIRING)
    firing["alerts"][0]["annotations"]["summary"] = "LONE"
    body = json.dumps(firing).replace("LONE", "\\ud800").encode()
    await expect_error(
        await client.post("/alertmanager/dingtalk-ops", content=body),
        422,
        "alerts.0.annotations.summary: a lone UTF-16 surrogate",
    )
    event = b'{"reason": "Back\\ud800Off", "message": "lone \\udc00 here", "type": "Warning"}'
    response = await client.post("/kube-eventer/dingtalk-ops", content=event)
    assert response.status_code == 200, response.text
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    assert "lone \ufffd here" in bots.received[0].body["markdown"]["text"]


async def test_integers_beyond_64_bits_are_refused_or_bounded_never_a_500(
    service: MakeService,
) -> None:
    client, bots = await service()
    firing = {**json.loads(FIRING), "truncatedAlerts": 2**70}
    await expect_error(
        await client.post("/alertmanager/dingtalk-ops", content=json.dumps(firing).encode()),
        422,
        "truncatedAlerts: Input should be less than",
    )
    event = {"reason": "BackOff", "message": "m", "type": "Warning", "count": 10**30}
    response = await client.post("/kube-eventer/dingtalk-ops", content=json.dumps(event))
    assert response.status_code == 200, response.text  # the event kept, its count bounded
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)


async def expect_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


async def test_bad_input_gets_a_clear_4xx_and_disturbs_nothing(service: MakeService) -> None:
    client, bots = await service(max_body_bytes=50_000)
    await expect_error(await client.post("/alertmanager", content=b'{"alerts": ['), 400, "line 1")
    wrong_shape = json.dumps({"version": "4", "alerts": [{"status": "burning", "labels": {}}]})
    await expect_error(
        await client.post("/alertmanager", content=wrong_shape), 422, "alerts.0.status"
    )
    await expect_error(await client.post("/alertmanager/nope", content=FIRING), 404, "nope")
    await expect_error(await client.post("/alertmanager", content=b"x" * 50_001), 413, "limit")
    await expect_error(await client.get("/kube-eventer"), 400, "empty")
    response = await client.post("/alertmanager", content=FIRING)
    assert response.status_code == 200
    await bots.wait_for(lambda: len(bots.received) == 3, timeout=5)
    metrics = (await client.get("/metrics")).text
    assert 'alertbridge_notifications_rejected_total{source="alertmanager",status="422"} 1.0' in (
        metrics
    )


KUBE_EVENTS = json.dumps([{"reason": "BackOff", "message": "a"}, {"reason": "Failed"}]).encode()


@pytest.mark.parametrize(
    ("limits", "path", "body", "status", "fragment"),
    [
        ({"alerts_per_notification": 1}, "/alertmanager", FIRING, 413, "alerts_per_notification"),
        ({"alerts_per_notification": 1}, "/kube-eventer", KUBE_EVENTS, 413, "2 events exceed"),
        ({"labels_per_alert": 2}, "/alertmanager", FIRING, 422, "limits.labels_per_alert"),
        ({"label_name_chars": 5}, "/alertmanager", FIRING, 422, "limits.label_name_chars"),
    ],
    ids=["alerts", "kube-events", "labels", "label-name"],
)
async def test_a_notification_over_a_limit_gets_a_4xx_naming_the_limit(
    service: MakeService,
    limits: dict[str, int],
    path: str,
    body: bytes,
    status: int,
    fragment: str,
) -> None:
    client, bots = await service(limits=limits)
    await expect_error(await client.post(path, content=body), status, fragment)
    source = path.strip("/")
    metrics = (await client.get("/metrics")).text
    assert f'rejected_total{{source="{source}",status="{status}"}} 1.0' in metrics
    assert bots.received == []


async def test_a_value_over_the_limit_is_clipped_and_delivered(service: MakeService) -> None:
    client, bots = await service(limits={"label_value_chars": 12})
    response = await client.post("/alertmanager/wecom-ops", content=FIRING)
    assert response.status_code == 200, response.text
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    summary = json.loads(FIRING)["alerts"][0]["annotations"]["summary"]
    text = bots.received[0].body["markdown"]["content"]
    assert summary[:11] + "…" in text
    assert summary not in text


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({}, "/alertmanager", 401),
        ({"Authorization": "Bearer wrong"}, "/alertmanager", 401),
        ({"Authorization": f"Bearer {BEARER}"}, "/alertmanager", 200),
        ({"Authorization": basic("am", "pw-secret-1")}, "/alertmanager", 200),
        ({"Authorization": basic("am", "nope")}, "/alertmanager", 401),
        ({"Authorization": "Basic !!!"}, "/alertmanager", 401),
        ({}, f"/kube-eventer?token={BEARER}", 200),
        ({}, f"/kube-eventer/dingtalk-ops?token={BEARER}", 200),
        ({}, f"/alertmanager?token={BEARER}", 401),
        ({}, f"/alertmanager/dingtalk-ops?token={BEARER}", 401),
        ({}, "/kube-eventer?token=", 401),
    ],
    ids=[
        "missing",
        "wrong-bearer",
        "bearer",
        "basic",
        "wrong-basic",
        "garbled-basic",
        "kube-eventer-query-token",
        "kube-eventer-receiver-query-token",
        "alertmanager-query-token-refused",
        "alertmanager-receiver-query-token-refused",
        "kube-eventer-empty-query-token",
    ],
)
async def test_inbound_credentials(
    service: MakeService, headers: dict[str, str], path: str, status: int
) -> None:
    auth = {"bearer_token": BEARER, "basic": {"username": "am", "password": "pw-secret-1"}}
    client, _ = await service(auth=auth)
    body = DEFAULT_EVENT if "kube" in path else FIRING
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("auth", "challenge"),
    [
        ({"bearer_token": BEARER}, "Bearer"),
        ({"basic": {"username": "am", "password": "pw-secret-1"}}, 'Basic realm="alertbridge"'),
        (
            {"bearer_token": BEARER, "basic": {"username": "am", "password": "pw-secret-1"}},
            'Bearer, Basic realm="alertbridge"',
        ),
    ],
    ids=["bearer", "basic", "both"],
)
async def test_a_401_names_the_configured_schemes(
    service: MakeService, auth: dict[str, Any], challenge: str
) -> None:
    client, _ = await service(auth=auth)
    for path, body in (("/alertmanager", FIRING), ("/kube-eventer", DEFAULT_EVENT)):
        response = await client.post(path, content=body)
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == [challenge]


async def test_secret_path_prefix_moves_the_inbound_routes(service: MakeService) -> None:
    client, _ = await service(path_prefix="/1bdc0637")
    assert (await client.post("/alertmanager", content=FIRING)).status_code == 404
    assert (await client.post("/1bdc0637/alertmanager", content=FIRING)).status_code == 200
    assert (await client.get("/status")).status_code == 200


async def test_schema_documents_the_alertmanager_body_the_route_reads(service: MakeService) -> None:
    client, _ = await service(path_prefix="/1bdc0637")
    document = (await client.get("/1bdc0637/openapi.json")).json()
    # The body schema read in place, as schemathesis and other clients do: each "#/..." inside
    # it resolves against the whole OpenAPI document.
    registry = Registry().with_resource("urn:openapi", Resource(document, DRAFT202012))
    body = "/paths/~11bdc0637~1alertmanager/post/requestBody/content/application~1json/schema"
    validator = jsonschema.Draft202012Validator({"$ref": f"urn:openapi#{body}"}, registry=registry)
    for payload in (FIRING, RESOLVED):
        validator.validate(json.loads(payload))
    wrong = {"version": "4", "alerts": [{"status": "burning", "labels": {}}]}
    assert [error.json_path for error in validator.iter_errors(wrong)] == ["$.alerts[0].status"]
    assert (await client.post("/1bdc0637/alertmanager", json=wrong)).status_code == 422


async def test_full_backlog_answers_503_so_alertmanager_retries(service: MakeService) -> None:
    client, bots = await service(max_backlog=1)
    for platform in CHAT_PLATFORMS:
        bots.fail(TOKENS[platform], "hang")
    first = await client.post("/alertmanager", content=FIRING)
    assert first.status_code == 200
    again = await client.post("/alertmanager", content=FIRING)  # an HA peer's duplicate
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    second = await client.post("/alertmanager", content=RESOLVED)
    assert second.status_code == 503
    for platform in CHAT_PLATFORMS:
        bots.heal(TOKENS[platform])


async def test_status_and_metrics_never_show_secrets(service: MakeService) -> None:
    client, bots = await service()
    bots.fail(TOKENS["feishu"], "5xx", times=1)
    await client.post("/alertmanager", content=FIRING)
    await bots.wait_for(lambda: len(bots.received) == 2, timeout=5)
    # The worker counts a send once the bot's answer is in: poll until it has.
    for _ in range(50):
        status = await client.get("/status")
        assert status.status_code == 200
        report = status.json()
        # Both outcomes in: the other bots' deliveries may come before feishu's first attempt.
        if (
            report["receivers"]["dingtalk-ops"]["sent"]
            and report["receivers"]["feishu-ops"]["last_error"]
        ):
            break
        await asyncio.sleep(0.1)
    assert report["receivers"]["feishu-ops"]["webhook"] == "http://fake/***"
    assert report["receivers"]["feishu-ops"]["last_error"].startswith("http_503")
    assert report["receivers"]["dingtalk-ops"]["sent"] == 1
    everything = status.text + (await client.get("/metrics")).text
    for secret in [*TOKENS.values(), *SECRETS.values()]:
        assert secret not in everything


def version_3_body() -> bytes:
    """FIRING as Alertmanager before 0.10 sent it: version "3", no groupKey, no fingerprint."""
    body = json.loads(FIRING)
    body["version"] = "3"
    del body["groupKey"]
    for alert in body["alerts"]:
        del alert["fingerprint"]
    return json.dumps(body).encode()


async def test_a_version_3_body_without_group_key_is_delivered_once(service: MakeService) -> None:
    client, bots = await service()
    first = await client.post("/alertmanager/feishu-ops", content=version_3_body())
    assert (first.status_code, first.json()["duplicate"]) == (200, False), first.text
    again = await client.post("/alertmanager/feishu-ops", content=version_3_body())
    assert (again.status_code, again.json()["duplicate"]) == (200, True)  # an HA peer's copy
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    assert "KubePodCrashLooping" in json.dumps(bots.received[0].body)


async def test_an_unknown_alertmanager_version_gets_422_naming_the_field(
    service: MakeService,
) -> None:
    client, bots = await service()
    body = {**json.loads(FIRING), "version": "9"}
    await expect_error(await client.post("/alertmanager", json=body), 422, "version")
    assert bots.received == []


GRAFANA = {
    name: (FIXTURES / "grafana" / f"{name}.json").read_bytes()
    for name in ("firing", "resolved", "test-notification", "legacy")
}


@pytest.mark.parametrize("route", ["grafana", "alertmanager"])
@pytest.mark.parametrize("name", list(GRAFANA))
async def test_grafana_bodies_reach_the_bots_through_either_route(
    service: MakeService, route: str, name: str
) -> None:
    client, bots = await service()
    response = await client.post(f"/{route}/dingtalk-ops", content=GRAFANA[name])
    assert response.status_code == 200, response.text
    assert response.json()["receivers"] == ["dingtalk-ops"]
    await bots.wait_for(lambda: len(bots.received) == 1, timeout=5)
    text = bots.received[0].body["markdown"]["text"]
    body = json.loads(GRAFANA[name])
    alertname = body["alerts"][0]["labels"]["alertname"] if "alerts" in body else body["ruleName"]
    assert alertname in text
    if name == "resolved":  # good news is one compact line: no value, no buttons to press
        assert "RESOLVED" in text
        assert "Value" not in text
        return
    value, link = {
        "firing": ("B=44.2394, C=1", "[Silence](https://play.grafana.org/alerting/silence/new?"),
        "test-notification": ("foo{instance=bar}=10", "[Silence](http://localhost:3000/"),
        "legacy": ("High value=100, Higher Value=200", "[Image](http://grafana.org/assets/"),
    }[name]
    assert f"**Value** {value}" in text.replace("\\", "")  # DingTalk markdown escapes _{}
    assert link in text
    # No Alertmanager holds a Grafana-managed alert: no link to its alert list or silence form
    # (the payload's externalURL is Grafana's own root), though routing narrowed the alerts.
    assert "#/silences/new" not in text
    assert "#/alerts" not in text


async def test_grafana_ha_copies_are_queued_once(service: MakeService) -> None:
    client, bots = await service()
    first = await client.post("/grafana/wecom-ops", content=GRAFANA["firing"])
    again = await client.post("/alertmanager/wecom-ops", content=GRAFANA["firing"])
    assert [first.json()["duplicate"], again.json()["duplicate"]] == [False, True]
    resolved = await client.post("/grafana/wecom-ops", content=GRAFANA["resolved"])
    assert resolved.json()["duplicate"] is False
    await bots.wait_for(lambda: len(bots.received) == 2, timeout=5)


async def test_grafana_routes_take_the_same_credentials_limits_and_receivers(
    service: MakeService,
) -> None:
    client, bots = await service(
        limits={"alerts_per_notification": 1}, auth={"bearer_token": BEARER}
    )
    await expect_error(await client.post("/grafana", content=GRAFANA["legacy"]), 401, "credentials")
    headers = {"Authorization": f"Bearer {BEARER}"}
    firing = await client.post("/grafana", content=GRAFANA["firing"], headers=headers)
    await expect_error(firing, 413, "limits.alerts_per_notification")
    await expect_error(
        await client.post("/grafana/nope", content=b"{}", headers=headers), 404, "nope"
    )
    wrong = {**json.loads(GRAFANA["resolved"]), "version": "9"}
    await expect_error(await client.post("/grafana", json=wrong, headers=headers), 422, "version")
    legacy = await client.post("/grafana", content=GRAFANA["legacy"], headers=headers)
    assert legacy.status_code == 200, legacy.text
    metrics = (await client.get("/metrics")).text
    assert 'rejected_total{source="grafana",status="413"} 1.0' in metrics
    await bots.wait_for(lambda: len(bots.received) == 3, timeout=5)
