"""deploy/components/ha-postgres (issue #12): switched on in the example overlay it turns the one
StatefulSet replica into 3 Deployment replicas on a PostgreSQL outbox, kept available through
drains and spread over nodes, with the DSN only in a Secret; with CloudNativePG or with a managed
PostgreSQL (tests/deploy/variants.py); the default install stays as it was."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy import cnpg
from tests.deploy.rendered import alertbridge_config, backend, container, pod_spec, serves
from tests.deploy.support import find, ident, secret_data
from tests.deploy.test_manifests import referenced

Docs = list[dict[str, Any]]
Renders = dict[str, Docs]
CNPG = "variants/example+ha-postgres"
MANAGED = "variants/example+ha-postgres-managed"
WITH_COMPONENT = [CNPG, MANAGED]
NAMESPACE = "monitoring"
CLUSTER = "alertbridge-pg"
OUTBOX_URL = "ALERTBRIDGE_OUTBOX_URL"
# A DSN with a password in it: scheme://user:password@host
DSN_WITH_PASSWORD = re.compile(r"postgres(?:ql)?://[^\s/@:]+:[^\s/@]+@")


def deployment(docs: Docs) -> dict[str, Any]:
    return find(docs, "Deployment", "alertbridge", NAMESPACE)


def outbox_env(docs: Docs) -> dict[str, Any]:
    (env,) = [e for e in container(deployment(docs)).get("env", []) if e["name"] == OUTBOX_URL]
    return env


# -- the default install ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["base", "overlays/example"])
def test_default_install_keeps_the_single_statefulset(renders: Renders, target: str) -> None:
    docs = renders[target]

    named = [ident(d) for d in docs if d["metadata"]["name"] == "alertbridge"]

    assert find(docs, "StatefulSet", "alertbridge", NAMESPACE)["spec"]["replicas"] == 1
    assert "Deployment monitoring/alertbridge" not in named
    assert "PodDisruptionBudget monitoring/alertbridge" not in named
    assert [d for d in docs if d["apiVersion"].startswith(cnpg.GROUP)] == []


# -- the workload -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", WITH_COMPONENT)
def test_three_deployment_replicas_replace_the_statefulset_and_its_volume(
    renders: Renders, target: str
) -> None:
    docs = renders[target]
    service = find(docs, "Service", "alertbridge", NAMESPACE)
    url = urlsplit(f"http://alertbridge.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}/")

    assert [ident(d) for d in docs if d["kind"] == "StatefulSet"] == []
    assert deployment(docs)["spec"]["replicas"] == 3
    assert "volumeClaimTemplates" not in deployment(docs)["spec"]
    assert [ident(d) for d in docs if d["kind"] == "PersistentVolumeClaim"] == [
        "PersistentVolumeClaim monitoring/grafana-data"
    ]
    # The Service (and so Alertmanager's and kube-eventer's URLs) reaches the Deployment alone.
    assert backend(docs, url) == container(deployment(docs))


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def test_deployment_pod_is_the_statefulset_pod_but_for_the_documented_changes(
    renders: Renders,
) -> None:
    """deployment.yaml repeats base's pod: any change to one must reach the other."""
    single = copy.deepcopy(find(renders["overlays/example"], "StatefulSet", "alertbridge"))
    several = copy.deepcopy(deployment(renders[CNPG]))
    single_pod, several_pod = pod_spec(single), pod_spec(several)
    (data,) = [v for v in several_pod["volumes"] if v["name"] == "data"]

    # The four changes deployment.yaml's header names, each checked by a test below.
    assert [e["name"] for e in container(several).get("env", [])] == [OUTBOX_URL]
    assert "env" not in container(single)
    several_pod["volumes"].remove(data)
    several_pod.pop("topologySpreadConstraints")
    for pod in (single_pod, several_pod):
        pod["containers"] = [without(c, "env", "readinessProbe") for c in pod["containers"]]

    assert several["spec"]["template"] == single["spec"]["template"]
    assert several["spec"]["selector"] == single["spec"]["selector"]
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}
    assert [t["metadata"]["name"] for t in single["spec"]["volumeClaimTemplates"]] == ["data"]


@pytest.mark.parametrize("target", WITH_COMPONENT)
def test_disruption_budget_lets_a_drain_take_one_replica_at_a_time(
    renders: Renders, target: str
) -> None:
    docs = renders[target]
    budget = find(docs, "PodDisruptionBudget", "alertbridge", NAMESPACE)["spec"]
    replicas = deployment(docs)["spec"]["replicas"]
    labels = deployment(docs)["spec"]["template"]["metadata"]["labels"]

    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget.get("minAvailable", replicas - budget.get("maxUnavailable", 0)) == replicas - 1
    # Every replica is unready while the database is down: they must stay evictable then.
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    # Rolling updates never go below the budget either.
    assert deployment(docs)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize(
    ("topology_key", "when_unsatisfiable"),
    [
        ("kubernetes.io/hostname", "DoNotSchedule"),
        ("topology.kubernetes.io/zone", "ScheduleAnyway"),
    ],
    ids=["one-per-node", "across-zones-if-any"],
)
def test_replicas_spread_over(renders: Renders, topology_key: str, when_unsatisfiable: str) -> None:
    pod = deployment(renders[CNPG])["spec"]["template"]
    constraints = {c["topologyKey"]: c for c in pod["spec"]["topologySpreadConstraints"]}

    constraint = constraints[topology_key]

    assert constraint["maxSkew"] == 1
    assert constraint["whenUnsatisfiable"] == when_unsatisfiable
    assert constraint["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert constraint["matchLabelKeys"] == ["pod-template-hash"]


def test_hostname_spread_ignores_nodes_the_pods_cannot_run_on(renders: Renders) -> None:
    """Otherwise a tainted control-plane node without a replica counts as a domain with 0 and
    leaves the third replica of a 2-worker cluster pending."""
    pod = pod_spec(deployment(renders[CNPG]))
    (by_node,) = [
        c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"
    ]

    assert by_node["nodeTaintsPolicy"] == "Honor"


# -- probes: the readiness contract -------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "path"),
    [("readinessProbe", "/ready"), ("livenessProbe", "/status"), ("startupProbe", "/status")],
    ids=["ready-follows-the-database", "alive-does-not", "started"],
)
def test_probe_asks(renders: Renders, probe: str, path: str) -> None:
    main = container(deployment(renders[CNPG]))

    check = main[probe]

    assert check["httpGet"] == {"path": path, "port": "http"}
    assert "http" in {p["name"] for p in main["ports"]}


def test_readiness_answers_before_the_kubelet_gives_up(renders: Renders) -> None:
    ready = container(deployment(renders[CNPG]))["readinessProbe"]

    # A replica that lost its database leaves the Service within about 10 s.
    assert ready["periodSeconds"] * ready["failureThreshold"] <= 10
    assert ready["timeoutSeconds"] < ready["periodSeconds"]


def test_alertbridge_serves_the_readiness_route(renders: Renders) -> None:
    config = alertbridge_config(renders[CNPG])
    assert serves(config, "GET", "/ready")


# -- the database and its Secret ----------------------------------------------------------------


def test_outbox_url_comes_from_the_secret_cloudnativepg_generates(renders: Renders) -> None:
    docs = renders[CNPG]
    cluster = find(docs, "Cluster", CLUSTER, NAMESPACE)

    env = outbox_env(docs)

    assert "value" not in env
    assert env["valueFrom"] == {
        "secretKeyRef": {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
    }
    # A Secret is read from the pod's own namespace.
    assert cluster["metadata"]["namespace"] == deployment(docs)["metadata"]["namespace"]


def test_outbox_url_comes_from_the_overlays_secret_with_a_managed_postgres(
    renders: Renders,
) -> None:
    docs = renders[MANAGED]
    secret = find(docs, "Secret", "alertbridge-pg-app", NAMESPACE)

    ref = outbox_env(docs)["valueFrom"]["secretKeyRef"]

    assert [d for d in docs if d["metadata"]["name"] == CLUSTER] == []
    # kustomize rewrote the reference to the generated (hashed) name: a new DSN rolls the pods.
    assert ref["name"] == secret["metadata"]["name"] != "alertbridge-pg-app"
    assert ref["key"] in secret_data(secret)


@pytest.mark.parametrize(
    ("target", "made_elsewhere"),
    [(CNPG, {("Secret", NAMESPACE, f"{CLUSTER}-app")}), (MANAGED, set())],
    ids=["cloudnativepg-makes-the-app-secret", "managed-overlay-makes-everything"],
)
def test_every_secret_and_config_map_the_pods_use_is_rendered_or_made_by_the_operator(
    renders: Renders, target: str, made_elsewhere: set[tuple[str, str, str]]
) -> None:
    docs = renders[target]
    present = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs}

    needed = set().union(*(referenced(doc) for doc in docs))

    assert needed - present == made_elsewhere


@pytest.mark.parametrize("target", WITH_COMPONENT)
def test_no_password_outside_secrets(renders: Renders, target: str) -> None:
    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    leaks = [
        ident(doc)
        for doc in renders[target]
        if doc["kind"] != "Secret" and any(DSN_WITH_PASSWORD.search(s) for s in strings(doc))
    ]

    assert leaks == []


def test_cluster_is_three_instances_committing_on_a_standby_too(renders: Renders) -> None:
    spec = find(renders[CNPG], "Cluster", CLUSTER, NAMESPACE)["spec"]
    synchronous = spec["postgresql"]["synchronous"]

    assert spec["instances"] == 3
    assert synchronous == {"method": "any", "number": 1, "dataDurability": "required"}
    assert synchronous["number"] < spec["instances"], "a standby may be lost without blocking"
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["topologyKey"] == "kubernetes.io/hostname"


def test_prometheus_scrapes_the_database_instances(renders: Renders) -> None:
    docs = renders[CNPG]
    monitor = find(docs, "PodMonitor", CLUSTER, NAMESPACE)["spec"]
    prometheus = find(docs, "Prometheus", "k8s", NAMESPACE)["spec"]

    assert monitor["selector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER}
    assert [e["port"] for e in monitor["podMetricsEndpoints"]] == ["metrics"]
    assert prometheus["podMonitorSelector"] == {}
    assert prometheus["podMonitorNamespaceSelector"] == {}


# -- the CloudNativePG structural check --------------------------------------------------------


def test_every_cloudnativepg_object_passes_the_structural_check(renders: Renders) -> None:
    objects = {
        ident(doc): doc
        for docs in renders.values()
        for doc in docs
        if doc["apiVersion"].split("/")[0] == cnpg.GROUP
    }

    assert list(objects) == [f"Cluster {NAMESPACE}/{CLUSTER}"]
    assert {name: cnpg.cluster_errors(doc) for name, doc in objects.items()} == {
        name: [] for name in objects
    }


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("spec.postgresql.synchronous.dataDurabilty", "required", "not a field"),
        ("spec.postgresql.synchronous.method", "quorum", "not one of"),
        ("spec.instances", "3", "expected int"),
        ("spec.affinity.enablePodAntiAffinity", "yes", "expected bool"),
        ("spec.minSyncReplicas", 1, "not a field"),
        ("metadata.name", "Alertbridge_PG", "not a DNS label"),
    ],
    ids=["typo", "bad-enum", "string-for-int", "string-for-bool", "deprecated", "bad-name"],
)
def test_structural_check_catches(renders: Renders, path: str, value: Any, error: str) -> None:
    cluster = copy.deepcopy(find(renders[CNPG], "Cluster", CLUSTER, NAMESPACE))
    *parents, last = path.split(".")
    target = cluster
    for key in parents:
        target = target[key]
    target[last] = value

    errors = cnpg.cluster_errors(cluster)

    assert len(errors) == 1
    assert error in errors[0]
