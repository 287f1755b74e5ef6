"""Reading alertbridge's side of a render: the config its pod loads, the routes it serves, the
container a cluster URL reaches."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml
from fastapi import FastAPI
from starlette.routing import Match

from app.config.load import parse_config
from app.config.model import Config
from app.server.api import install_routes
from tests.deploy.support import find, secret_data

Docs = list[dict[str, Any]]


def alertbridge_config(example: Docs) -> Config:
    """The config the pod loads, with ${VAR} from the Secret the pod gets, and nothing else."""
    config_map = find(example, "ConfigMap", "alertbridge-config", "monitoring")
    env = secret_data(find(example, "Secret", "alertbridge-env", "monitoring"))
    return parse_config(yaml.safe_load(config_map["data"]["alertbridge.yaml"]), environ=env)


def serves(config: Config, method: str, path: str) -> bool:
    app = FastAPI()
    install_routes(app, config.server.path_prefix)
    scope = {"type": "http", "method": method, "path": path}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(workload)["containers"]
    return only


def backend(example: Docs, url: SplitResult) -> dict[str, Any]:
    """The container a cluster URL like http://<service>.<namespace>.svc:<port>/... reaches."""
    name, namespace, *rest = (url.hostname or "").split(".")
    assert rest in (["svc"], ["svc", "cluster", "local"]), f"{url.hostname} is not a Service name"
    service = find(example, "Service", name, namespace)
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
    workloads = [
        d
        for d in example
        if d["kind"] in ("Deployment", "StatefulSet")
        and d["metadata"]["namespace"] == namespace
        and service["spec"]["selector"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(workloads) == 1, f"{url.hostname} selects {len(workloads)} workloads"
    target = container(workloads[0])
    ports = {p["name"]: p["containerPort"] for p in target["ports"]}
    assert port["targetPort"] in (*ports, *ports.values()), f"no container port {port}"
    return target


def kube_eventer_sink(example: Docs) -> SplitResult:
    deployment = find(example, "Deployment", "kube-eventer", "kube-system")
    sinks = [a for a in container(deployment)["args"] if a.startswith("--sink=")]
    assert len(sinks) == 1, "one sink: every further one would post each event again"
    kind, _, url = sinks[0].removeprefix("--sink=").partition(":")
    assert kind == "webhook"
    return urlsplit(url)
