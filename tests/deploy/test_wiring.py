"""How the rendered example's parts reach each other: Alertmanager's webhook and kube-eventer's
sink land on routes alertbridge serves, kube-eventer's body parses with alertbridge's parser,
the NetworkPolicy admits the callers, and the pod's arguments and mounts fit alertbridge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from app.sources.kube_eventer import parse_kube_eventer
from tests.deploy.rendered import alertbridge_config, backend, kube_eventer_sink, pod_spec, serves
from tests.deploy.support import DEPLOY, find, secret_data
from tests.fakes.kube_eventer import render_body

Docs = list[dict[str, Any]]
TEMPLATE = DEPLOY / "kube-eventer" / "custom-body.tmpl"
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


# -- Alertmanager ------------------------------------------------------------------------------


def test_alertmanager_webhook_reaches_an_alertbridge_route(example: Docs) -> None:
    secret = find(example, "Secret", "alertmanager-main", "monitoring")
    receivers = yaml.safe_load(secret_data(secret)["alertmanager.yaml"])["receivers"]
    urls = [hook["url"] for r in receivers for hook in r.get("webhook_configs", [])]
    config = alertbridge_config(example)

    assert urls
    for url in map(urlsplit, urls):
        assert backend(example, url)["name"] == "alertbridge"
        assert serves(config, "POST", url.path), f"alertbridge serves no POST {url.path}"
        # /alertmanager/{receiver} delivers to that receiver only: it must exist.
        if receiver := url.path.removeprefix(config.server.path_prefix + "/alertmanager")[1:]:
            assert config.receiver(receiver) is not None


# -- kube-eventer ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("method", ["POST"]),
        ("level", ["Warning"]),
        ("header", ["Content-Type=application/json"]),
        ("custom_body_configmap", ["alertbridge-kube-eventer-body"]),
        ("custom_body_configmap_namespace", ["kube-system"]),
    ],
    ids=["post-not-the-default-get", "warning-only", "json", "custom-body", "body-namespace"],
)
def test_kube_eventer_sink_option(example: Docs, option: str, expected: list[str]) -> None:
    assert parse_qs(kube_eventer_sink(example).query).get(option) == expected


def test_kube_eventer_sink_reaches_an_alertbridge_route(example: Docs) -> None:
    url = kube_eventer_sink(example)
    config = alertbridge_config(example)

    assert backend(example, url)["name"] == "alertbridge"
    assert serves(config, "POST", url.path)


def test_kube_eventer_reads_the_one_body_template(example: Docs) -> None:
    options = parse_qs(kube_eventer_sink(example).query)
    name, namespace = (
        options["custom_body_configmap"][0],
        options["custom_body_configmap_namespace"][0],
    )
    config_map = find(example, "ConfigMap", name, namespace)
    role = find(example, "Role", "kube-eventer", namespace)
    binding = find(example, "RoleBinding", "kube-eventer", namespace)
    account = pod_spec(find(example, "Deployment", "kube-eventer", "kube-system"))

    assert config_map["metadata"]["name"] == name, "the sink names it literally: no hash suffix"
    assert config_map["data"] == {"content": TEMPLATE.read_text()}
    assert {"resources": ["configmaps"], "resourceNames": [name], "verbs": ["get"]}.items() <= (
        role["rules"][0].items()
    )
    assert {
        "kind": "ServiceAccount",
        "name": account["serviceAccountName"],
        "namespace": namespace,
    } in (binding["subjects"])


EVENT = {
    "UID": "3f6d2a9e-5b1c-4e8f-9a07-2c4d6e8f0a1b",
    "Namespace": "shop",
    "Name": "web-7c5ddbdf54-x2vq8.1807a1d2c3b4a5f6",
    "Type": "Warning",
    "Reason": "Unhealthy",
    "Message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
    "Count": 17,
    "InvolvedObject": {"Kind": "Pod", "Namespace": "shop", "Name": "web-7c5ddbdf54-x2vq8"},
    "Source": {"Component": "kubelet", "Host": "node-3"},
    "FirstTimestamp": datetime(2024, 11, 12, 8, 2, 11, tzinfo=UTC),
    "LastTimestamp": datetime(2024, 11, 12, 8, 17, 43, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("changes", "labels", "message", "starts_at"),
    [
        ({}, {}, EVENT["Message"], EVENT["FirstTimestamp"]),
        (
            {"Message": 'body: {"status":"down"}\n\tpath=C:\\app\\health 健康检查失败'},
            {},
            "body: {status:down}\n\tpath=C:\\app\\health 健康检查失败",
            EVENT["FirstTimestamp"],
        ),
        (
            {"Message": "bell \x07 and \x01 and \u2028"},
            {},
            "bell \x07 and \x01 and \u2028",
            EVENT["FirstTimestamp"],
        ),
        ({"FirstTimestamp": GO_ZERO_TIME}, {}, EVENT["Message"], EVENT["LastTimestamp"]),
        (
            {
                "Namespace": "default",
                "Reason": "NodeNotReady",
                "InvolvedObject": {"Kind": "Node", "Namespace": "", "Name": "node-3"},
                "Source": {"Component": "node-controller", "Host": ""},
            },
            {
                "namespace": "default",
                "kind": "Node",
                "name": "node-3",
                "reason": "NodeNotReady",
                "component": "node-controller",
                "host": "",
            },
            EVENT["Message"],
            EVENT["FirstTimestamp"],
        ),
    ],
    ids=[
        "pod-event",
        "quotes-newline-backslash-unicode",
        "control-characters",
        "events-api-no-first-time",
        "node-event",
    ],
)
def test_kube_eventer_body_parses_with_alertbridges_parser(
    changes: dict[str, Any], labels: dict[str, str], message: str, starts_at: datetime
) -> None:
    event = EVENT | changes
    body = render_body(TEMPLATE.read_text(), event)

    (alert,) = parse_kube_eventer(body.encode()).alerts

    expected = {
        "type": "Warning",
        "severity": "warning",
        "namespace": "shop",
        "kind": "Pod",
        "name": "web-7c5ddbdf54-x2vq8",
        "reason": "Unhealthy",
        "component": "kubelet",
        "host": "node-3",
    }
    expected = {k: v for k, v in (expected | labels).items() if v}
    assert alert.labels == expected
    assert alert.annotations == {"message": message}
    assert (alert.starts_at, alert.ends_at) == (starts_at, EVENT["LastTimestamp"])
    assert (alert.count, alert.fingerprint) == (17, EVENT["UID"])
