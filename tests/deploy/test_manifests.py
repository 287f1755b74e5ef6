"""Every overlay and component of deploy/ renders, and every object in it is valid: built-in kinds
for each supported Kubernetes version, monitoring.coreos.com kinds against the pinned CRDs."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy import cnpg
from tests.deploy.crd_schemas import CustomResourceSchemas
from tests.deploy.support import KUBERNETES_VERSIONS, ident, render_targets

Renders = dict[str, list[dict[str, Any]]]


def unique_objects(renders: Renders) -> dict[str, dict[str, Any]]:
    """Objects by content, each once: most are the same upstream objects in every render."""
    return {json.dumps(doc, sort_keys=True): doc for docs in renders.values() for doc in docs}


@pytest.mark.parametrize("target", list(render_targets()))
def test_renders_without_duplicate_objects(renders: Renders, target: str) -> None:
    docs = renders[target]

    counts = Counter(ident(doc) for doc in docs)

    assert docs, f"{target} rendered nothing"
    assert [name for name, n in counts.items() if n > 1] == []


@pytest.mark.usefixtures("cached_kubernetes_schemas")
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_builtin_object_is_valid_for_supported_kubernetes(
    renders: Renders, crd_schemas: CustomResourceSchemas, version: str
) -> None:
    failures = []
    for doc in unique_objects(renders).values():
        # CloudNativePG's Cluster has a check of its own (test_ha_postgres.py).
        if doc["apiVersion"].split("/")[0] in crd_schemas.groups | {cnpg.GROUP}:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            failures.append(f"{ident(doc)}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{ident(doc)}: Kubernetes {version} has no {doc['apiVersion']}")

    assert failures == []


def test_every_monitoring_object_matches_its_pinned_crd(
    renders: Renders, crd_schemas: CustomResourceSchemas
) -> None:
    checked, failures = 0, []
    for doc in unique_objects(renders).values():
        if doc["apiVersion"].split("/")[0] in crd_schemas.groups:
            checked += 1
            failures += [f"{ident(doc)}: {error}" for error in crd_schemas.errors(doc)]

    assert checked > 0
    assert failures == []


def test_setup_applies_the_namespace_and_the_crds_the_overlays_apply_again(
    renders: Renders,
) -> None:
    setup = renders["setup"]
    kinds = Counter(doc["kind"] for doc in setup)

    assert kinds == {"Namespace": 1, "CustomResourceDefinition": kinds["CustomResourceDefinition"]}
    assert kinds["CustomResourceDefinition"] > 0
    for overlay, docs in renders.items():
        if overlay.startswith("overlays/"):
            assert [doc for doc in setup if doc not in docs] == [], overlay


def referenced(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every Secret and ConfigMap an object needs to exist: pods'
    volumes and environment (unless optional), and ServiceMonitors' TLS material."""
    namespace = doc["metadata"].get("namespace", "")
    found: set[tuple[str, str, str]] = set()

    def need(kind: str, ref: dict[str, Any], key: str = "name") -> None:
        if not ref.get("optional"):
            found.add((kind, namespace, ref[key]))

    template = doc.get("spec", {}).get("template", {}).get("spec", {})
    for volume in template.get("volumes", []):
        if "secret" in volume:
            need("Secret", volume["secret"], "secretName")
        if "configMap" in volume:
            need("ConfigMap", volume["configMap"])
    for container in template.get("containers", []) + template.get("initContainers", []):
        for source in container.get("envFrom", []):
            for kind, ref in (
                ("Secret", source.get("secretRef")),
                ("ConfigMap", source.get("configMapRef")),
            ):
                if ref:
                    need(kind, ref)
        for env in container.get("env", []):
            value_from = env.get("valueFrom", {})
            for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if field in value_from:
                    need(kind, value_from[field])
    if doc["kind"] == "ServiceMonitor":
        for endpoint in doc["spec"]["endpoints"]:
            tls = endpoint.get("tlsConfig", {})
            for ref in (
                tls.get("ca", {}).get("secret"),
                tls.get("cert", {}).get("secret"),
                tls.get("keySecret"),
            ):
                if ref:
                    need("Secret", ref)
    return found


@pytest.mark.parametrize("overlay", [t for t in render_targets() if t.startswith("overlays/")])
def test_overlay_creates_every_secret_and_config_map_it_uses(
    renders: Renders, overlay: str
) -> None:
    docs = renders[overlay]
    present = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs}

    needed = set().union(*(referenced(doc) for doc in docs))

    assert sorted(needed - present) == []
