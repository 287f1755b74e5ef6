"""deploy/components/grafana-contact-point (issue #18): switched on in the example overlay, Grafana
provisions a webhook contact point that reaches alertbridge's /grafana route through the
Service and the NetworkPolicy; the file is mounted where Grafana reads alerting provisioning,
has the fields Grafana's file format knows; the default install has none of it."""

from __future__ import annotations

import copy
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.rendered import alertbridge_config, backend, container, pod_spec, serves
from tests.deploy.support import find, secret_data

Docs = list[dict[str, Any]]
Renders = dict[str, Docs]
VARIANT = "variants/example+grafana-contact-point"
NAMESPACE = "monitoring"
# Grafana's image sets GF_PATHS_PROVISIONING=/etc/grafana/provisioning; alerting files live in
# its alerting/ directory (Grafana docs, file provisioning).
PROVISIONING = PurePosixPath("/etc/grafana/provisioning")
ALERTING_DIR = str(PROVISIONING / "alerting")
# Grafana provisioning's file format, as far as this file uses it: ContactPointV1 and ReceiverV1
# (grafana pkg/services/provisioning/alerting/contact_point_types.go) and the webhook settings
# its docs list ("Webhook" under "Provision contact points").
FILE_FIELDS = {"apiVersion", "contactPoints", "deleteContactPoints", "policies", "templates"}
CONTACT_POINT_FIELDS = {"orgId", "name", "receivers"}
RECEIVER_FIELDS = {"uid", "type", "settings", "disableResolveMessage"}
WEBHOOK_SETTINGS = {
    "url",
    "httpMethod",
    "username",
    "password",
    "authorization_scheme",
    "authorization_credentials",
    "maxAlerts",
}
# Grafana's short UIDs: letters, digits, - and _, at most 40.
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def grafana(docs: Docs) -> dict[str, Any]:
    return find(docs, "Deployment", "grafana", NAMESPACE)


def alerting_mounts(docs: Docs) -> list[dict[str, Any]]:
    return [m for m in container(grafana(docs))["volumeMounts"] if m["mountPath"] == ALERTING_DIR]


def provisioning_files(docs: Docs) -> dict[str, Any]:
    """File name → parsed content of what is mounted at Grafana's alerting directory."""
    (mount,) = alerting_mounts(docs)
    (volume,) = [v for v in pod_spec(grafana(docs))["volumes"] if v["name"] == mount["name"]]
    config_map = find(docs, "ConfigMap", volume["configMap"]["name"], NAMESPACE)
    assert config_map["metadata"]["name"] == volume["configMap"]["name"]
    return {name: yaml.safe_load(text) for name, text in config_map["data"].items()}


def contact_point(docs: Docs) -> dict[str, Any]:
    (content,) = provisioning_files(docs).values()
    (point,) = content["contactPoints"]
    return point


def webhook(docs: Docs) -> dict[str, Any]:
    (receiver,) = contact_point(docs)["receivers"]
    return receiver


@pytest.mark.parametrize("target", ["base", "overlays/example"])
def test_default_install_provisions_no_contact_point(renders: Renders, target: str) -> None:
    docs = renders[target]

    assert alerting_mounts(docs) == []
    assert [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("grafana-alerting")
    ] == []


def test_provisioning_file_is_mounted_where_grafana_reads_alerting_files(
    renders: Renders,
) -> None:
    docs = renders[VARIANT]
    main = container(grafana(docs))
    ini = secret_data(find(docs, "Secret", "grafana-config", NAMESPACE))["grafana.ini"]

    (mount,) = alerting_mounts(docs)
    names = list(provisioning_files(docs))

    assert mount["readOnly"] is True
    # Nothing moves the provisioning directory away from the image's default.
    assert "GF_PATHS_PROVISIONING" not in {e["name"] for e in main.get("env", [])}
    assert "provisioning" not in ini
    # Grafana reads .yaml, .yml and .json files there.
    assert names
    assert all(name.endswith((".yaml", ".yml")) for name in names)


def test_component_changes_grafana_only_by_that_mount(renders: Renders) -> None:
    before = copy.deepcopy(grafana(renders["overlays/example"]))
    after = copy.deepcopy(grafana(renders[VARIANT]))
    (mount,) = alerting_mounts(renders[VARIANT])

    container(after)["volumeMounts"].remove(mount)
    pod_spec(after)["volumes"] = [
        v for v in pod_spec(after)["volumes"] if v["name"] != mount["name"]
    ]

    assert after == before


def test_provisioning_file_has_the_fields_grafana_knows(renders: Renders) -> None:
    (content,) = provisioning_files(renders[VARIANT]).values()
    point = contact_point(renders[VARIANT])
    receiver = webhook(renders[VARIANT])

    assert content["apiVersion"] == 1
    assert content.keys() <= FILE_FIELDS
    assert point.keys() <= CONTACT_POINT_FIELDS
    assert (point["orgId"], point["name"]) == (1, "alertbridge")
    assert receiver.keys() <= RECEIVER_FIELDS
    assert UID.fullmatch(receiver["uid"])
    assert receiver["type"] == "webhook"
    assert receiver["settings"].keys() <= WEBHOOK_SETTINGS
    assert receiver["settings"]["httpMethod"] == "POST"
    assert receiver.get("disableResolveMessage") is False


def test_provisioning_file_has_no_secret_and_nothing_grafana_would_expand(
    renders: Renders,
) -> None:
    settings = webhook(renders[VARIANT])["settings"]

    # Grafana runs every value through os.ExpandEnv: a literal $ would silently change.
    assert [value for value in settings.values() if "$" in str(value)] == []
    assert settings.keys() & {"password", "authorization_credentials"} == set()
    assert urlsplit(settings["url"]).username is None


def test_contact_point_reaches_alertbridges_grafana_route(renders: Renders) -> None:
    docs = renders[VARIANT]
    url = urlsplit(webhook(docs)["settings"]["url"])
    config = alertbridge_config(docs)

    assert backend(docs, url)["name"] == "alertbridge"
    assert url.scheme == "http"
    assert url.path == f"{config.server.path_prefix}/grafana"


def test_alertbridge_serves_the_grafana_route(renders: Renders) -> None:
    docs = renders[VARIANT]
    config = alertbridge_config(docs)
    path = urlsplit(webhook(docs)["settings"]["url"]).path
    assert serves(config, "POST", path)


def test_contact_point_needs_no_credential_because_alertbridge_asks_none(
    renders: Renders,
) -> None:
    """If the config ever sets server.auth, the contact point needs the credential too, from a
    Secret through Grafana's environment (contact-points.yaml says how)."""
    auth = alertbridge_config(renders[VARIANT]).server.auth

    assert (auth.bearer_token, auth.basic) == (None, None)


def test_network_policies_let_grafana_reach_alertbridge(renders: Renders) -> None:
    docs = renders[VARIANT]
    policy = find(docs, "NetworkPolicy", "alertbridge", NAMESPACE)["spec"]
    grafana_policy = find(docs, "NetworkPolicy", "grafana", NAMESPACE)["spec"]
    labels = grafana(docs)["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for p in container(find(docs, "StatefulSet", "alertbridge"))["ports"]}

    admitting = [
        rule
        for rule in policy["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" not in peer
        and peer["podSelector"]["matchLabels"].items() <= labels.items()
    ]

    assert admitting
    assert all(port["port"] in ports for rule in admitting for port in rule["ports"])
    assert {} in grafana_policy["egress"], "Grafana's own policy must let it call out"
    # Without the component, Grafana is not admitted.
    plain = find(renders["overlays/example"], "NetworkPolicy", "alertbridge", NAMESPACE)["spec"]
    assert len(plain["ingress"]) == len(policy["ingress"]) - 1
