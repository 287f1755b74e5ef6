"""components/kube-prometheus-stack, rendered as its README's overlay puts it together (alertbridge
and kube-eventer without kube-prometheus): the labels the Helm chart's selectors want, valid
objects, and an AlertmanagerConfig whose webhook lands on a route alertbridge serves."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.deploy.crd_schemas import CustomResourceSchemas
from tests.deploy.rendered import alertbridge_config, backend, serves
from tests.deploy.support import (
    DEPLOY,
    KUBERNETES_VERSIONS,
    find,
    find_kubectl,
    ident,
    load_documents,
    run,
)

Docs = list[dict[str, Any]]
COMPONENT = DEPLOY / "components" / "kube-prometheus-stack"
EXAMPLE_ENV = DEPLOY / "overlays" / "example" / "secrets" / "alertbridge.env"
RELEASE = "kube-prometheus-stack"


def readme_block(heading: str) -> str:
    """The first ```yaml block under `## heading` in the component's README."""
    text = (COMPONENT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found, f"no yaml block under {heading}"
    return found.group(1)


def render_overlay(target: Path, extra: dict[str, Any] | None = None) -> Docs:
    """The README's overlay in a copy of deploy/, with the example's placeholder secrets."""
    staged = target / "deploy"
    shutil.copytree(DEPLOY, staged)
    overlay = staged / "overlays" / "helm"
    (overlay / "secrets").mkdir(parents=True)
    shutil.copy(EXAMPLE_ENV, overlay / "secrets" / "alertbridge.env")
    kustomization = yaml.safe_load(readme_block("Overlay")) | (extra or {})
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return load_documents(run([find_kubectl(), "kustomize", str(overlay)]).stdout)


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Docs:
    return render_overlay(tmp_path_factory.mktemp("helm"))


def labels(doc: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = doc["metadata"].get("labels", {})
    return found


@pytest.mark.parametrize(
    ("kind", "name", "label", "value"),
    [
        ("ServiceMonitor", "alertbridge", "release", RELEASE),
        ("PrometheusRule", "alertbridge", "release", RELEASE),
        ("ConfigMap", "grafana-dashboard-alertbridge", "grafana_dashboard", "1"),
    ],
    ids=["servicemonitor", "prometheusrule", "dashboard"],
)
def test_carries_the_label_the_charts_selector_wants(
    helm: Docs, kind: str, name: str, label: str, value: str
) -> None:
    assert labels(find(helm, kind, name, "monitoring")).get(label) == value


def test_brings_no_prometheus_or_alertmanager_of_its_own(helm: Docs) -> None:
    kinds = {doc["kind"] for doc in helm}

    assert not kinds & {"Prometheus", "Alertmanager", "CustomResourceDefinition", "Namespace"}
    assert {"StatefulSet", "AlertmanagerConfig", "Deployment"} <= kinds


def test_labels_only_alertbridges_objects_on_top_of_base(renders: dict[str, Docs]) -> None:
    """On base, beside kube-prometheus: upstream's objects are left alone."""
    labelled = [
        ident(doc)
        for doc in renders["components/kube-prometheus-stack"]
        if {"release", "grafana_dashboard"} & labels(doc).keys()
    ]

    assert sorted(labelled) == [
        "ConfigMap monitoring/grafana-dashboard-alertbridge",
        "PrometheusRule monitoring/alertbridge",
        "ServiceMonitor monitoring/alertbridge",
    ]


def test_another_release_name_replaces_the_label(tmp_path: Path) -> None:
    patch = yaml.safe_load(readme_block("Another release name"))
    docs = render_overlay(tmp_path, patch)

    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert labels(find(docs, kind, "alertbridge", "monitoring"))["release"] == "prom"


def test_every_object_is_valid(helm: Docs, crd_schemas: CustomResourceSchemas) -> None:
    failures = []
    for doc in helm:
        if doc["apiVersion"].split("/")[0] in crd_schemas.groups:
            failures += [f"{ident(doc)}: {error}" for error in crd_schemas.errors(doc)]
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                failures.append(f"{ident(doc)} ({version}): {exc.message}")

    assert failures == []


def test_alertmanager_config_sends_every_alert_to_an_alertbridge_route(helm: Docs) -> None:
    config = find(helm, "AlertmanagerConfig", "alertbridge", "monitoring")["spec"]
    (receiver,) = config["receivers"]
    (hook,) = receiver["webhookConfigs"]
    url = urlsplit(hook["url"])

    assert config["route"]["receiver"] == receiver["name"]
    assert (hook["sendResolved"], hook["maxAlerts"]) == (True, 0)
    assert backend(helm, url)["name"] == "alertbridge"
    assert serves(alertbridge_config(helm), "POST", url.path)
