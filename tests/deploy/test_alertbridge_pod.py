"""alertbridge's pod in the rendered example fits alertbridge itself: its arguments parse, its
mounts are where the config points, probes and scraping hit served routes, the NetworkPolicy
admits every caller, and Grafana finds the dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.cli.parser import build_parser
from tests.deploy.rendered import alertbridge_config, container, pod_spec, serves
from tests.deploy.support import REPO_ROOT, find

Docs = list[dict[str, Any]]
PLATFORM_CARDS = sorted(p.name for p in (REPO_ROOT / "cards").iterdir() if p.is_dir())


def statefulset(example: Docs) -> dict[str, Any]:
    return find(example, "StatefulSet", "alertbridge", "monitoring")


def mounts(example: Docs) -> dict[str, dict[str, Any]]:
    """Mount path → the volume (or volume claim template) mounted there."""
    workload = statefulset(example)
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    volumes |= {t["metadata"]["name"]: t for t in workload["spec"]["volumeClaimTemplates"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(workload)["volumeMounts"]}


def test_arguments_are_alertbridge_serve_with_mounted_paths(example: Docs) -> None:
    main = container(statefulset(example))
    args = build_parser().parse_args(main["args"])
    volumes = mounts(example)
    config_volume = volumes[str(args.config.parent)]

    assert args.command == "serve"
    assert {"name": "http", "containerPort": args.port} in main["ports"]
    # The queue lives in the data directory: it must be the persistent volume.
    assert volumes[str(args.data_dir)] in statefulset(example)["spec"]["volumeClaimTemplates"]
    config_map = find(example, "ConfigMap", "alertbridge-config", "monitoring")
    assert config_volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert args.config.name in config_map["data"]


@pytest.mark.parametrize("platform", PLATFORM_CARDS)
def test_card_overrides_mount_where_the_config_looks(example: Docs, platform: str) -> None:
    cards_dir = alertbridge_config(example).server.cards_dir

    volume = mounts(example)[f"{cards_dir}/{platform}"]

    assert volume["configMap"] == {"name": f"alertbridge-cards-{platform}", "optional": True}


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/status"), ("readinessProbe", "/ready"), ("livenessProbe", "/status")],
)
def test_probes_ask_the_routes_the_readme_names(example: Docs, probe: str, path: str) -> None:
    """Liveness: the process answers (/status); readiness: it can store alerts now (/ready)."""
    check = container(statefulset(example))[probe]["httpGet"]

    assert check == {"path": path, "port": "http"}
    assert serves(alertbridge_config(example), "GET", check["path"])


def test_prometheus_scrapes_the_metrics_route_as_job_alertbridge(example: Docs) -> None:
    monitor = find(example, "ServiceMonitor", "alertbridge", "monitoring")
    service = find(example, "Service", "alertbridge", "monitoring")
    (endpoint,) = monitor["spec"]["endpoints"]

    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert serves(alertbridge_config(example), "GET", endpoint["path"])
    # The job label is the Service's name unless jobLabel says otherwise: the rules use it.
    assert "jobLabel" not in monitor["spec"]
    assert service["metadata"]["name"] == "alertbridge"


def caller_pods(example: Docs) -> dict[str, tuple[str, dict[str, str]]]:
    """Caller → (namespace, labels of its pods)."""
    alertmanager = find(example, "Alertmanager", "main", "monitoring")
    prometheus = find(example, "Prometheus", "k8s", "monitoring")
    eventer = find(example, "Deployment", "kube-eventer", "kube-system")
    return {
        "alertmanager": ("monitoring", alertmanager["spec"]["podMetadata"]["labels"]),
        "prometheus": ("monitoring", prometheus["spec"]["podMetadata"]["labels"]),
        "kube-eventer": ("kube-system", eventer["spec"]["template"]["metadata"]["labels"]),
    }


def admits(
    peer: dict[str, Any], policy_namespace: str, namespace: str, labels: dict[str, str]
) -> bool:
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    if "namespaceSelector" in peer:
        wanted = peer["namespaceSelector"].get("matchLabels", {})
        in_namespace = wanted.items() <= {"kubernetes.io/metadata.name": namespace}.items()
    else:
        in_namespace = namespace == policy_namespace
    return in_namespace and pods.items() <= labels.items()


@pytest.mark.parametrize("caller", ["alertmanager", "prometheus", "kube-eventer"])
def test_network_policy_admits_caller_on_the_http_port(example: Docs, caller: str) -> None:
    policy = find(example, "NetworkPolicy", "alertbridge", "monitoring")
    namespace, labels = caller_pods(example)[caller]
    ports = {p["name"] for p in container(statefulset(example))["ports"]}

    rules = [
        rule
        for rule in policy["spec"]["ingress"]
        if any(admits(peer, "monitoring", namespace, labels) for peer in rule["from"])
    ]

    assert rules, f"no ingress rule admits {caller}"
    assert all(port["port"] in ports for rule in rules for port in rule["ports"])


def test_alertbridge_may_create_silences_at_the_alertmanager_api_it_is_given(
    example: Docs,
) -> None:
    url = urlsplit(alertbridge_config(example).server.silence_api_url)
    name, namespace, *_ = (url.hostname or "").split(".")
    service = find(example, "Service", name, namespace)  # the operator runs its pods
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    policy = find(example, "NetworkPolicy", "alertmanager-main", "monitoring")
    labels = statefulset(example)["spec"]["template"]["metadata"]["labels"]
    rules = [
        rule
        for rule in policy["spec"]["ingress"]
        if any(admits(peer, "monitoring", "monitoring", labels) for peer in rule["from"])
    ]
    assert any(port["port"] == url.port for rule in rules for port in rule["ports"])


def test_grafana_provisions_the_dashboard(example: Docs) -> None:
    providers = find(example, "ConfigMap", "grafana-dashboards", "monitoring")
    (provider,) = json.loads(providers["data"]["dashboards.yaml"])["providers"]
    grafana = find(example, "Deployment", "grafana", "monitoring")
    volume = next(
        v for v in pod_spec(grafana)["volumes"] if v["name"] == "grafana-dashboard-alertbridge"
    )
    mount = next(m for m in container(grafana)["volumeMounts"] if m["name"] == volume["name"])
    config_map = find(example, "ConfigMap", volume["configMap"]["name"], "monitoring")

    assert Path(mount["mountPath"]).parent == Path(provider["options"]["path"])
    (dashboard,) = (json.loads(text) for text in config_map["data"].values())
    assert dashboard["uid"] == "alertbridge"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
