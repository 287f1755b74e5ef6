"""A structural check of the CloudNativePG Cluster that deploy/components/ha-postgres renders. Its
CRD is not part of the pinned kube-prometheus and upstream files are not vendored, so this is a
hand-written schema of the fields deploy/ uses (and the few deploy/README.md tells users to set),
taken from CloudNativePG's API reference (docs/src/cloudnative-pg.v1.md, `ClusterSpec`,
`BootstrapInitDB`, `SynchronousReplicaConfiguration`, `AffinityConfiguration`,
`StorageConfiguration`; the same in 1.25 and 1.30). As under the API server's strict field
validation, a field this schema does not know is an error: check the reference, then add it."""

from __future__ import annotations

import re
from typing import Any

GROUP = "postgresql.cnpg.io"
API_VERSION = f"{GROUP}/v1"

# A schema is a Python type (or a tuple of them), a frozenset of allowed values, or a dict of
# field → schema; REQUIRED lists the dotted paths that must be present.
QUANTITY = (str, int)
RESOURCES: dict[str, Any] = {
    "requests": {"cpu": QUANTITY, "memory": QUANTITY},
    "limits": {"cpu": QUANTITY, "memory": QUANTITY},
}
CLUSTER_SPEC: dict[str, Any] = {
    "instances": int,
    "imageName": str,
    "bootstrap": {"initdb": {"database": str, "owner": str, "secret": {"name": str}}},
    "postgresql": {
        "synchronous": {
            "method": frozenset({"any", "first"}),
            "number": int,
            "dataDurability": frozenset({"required", "preferred"}),
        },
    },
    "affinity": {
        "enablePodAntiAffinity": bool,
        "topologyKey": str,
        "podAntiAffinityType": frozenset({"preferred", "required"}),
    },
    "storage": {"size": QUANTITY, "storageClass": str},
    "resources": RESOURCES,
}
REQUIRED = (
    "spec.instances",
    "spec.storage.size",
    "spec.postgresql.synchronous.method",
    "spec.postgresql.synchronous.number",
)
TOP_LEVEL = {"apiVersion", "kind", "metadata", "spec"}
# The operator names its Secrets and Services <cluster>-app, <cluster>-rw, ...: a DNS label.
CLUSTER_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def schema_errors(value: Any, schema: Any, path: str) -> list[str]:
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        errors = [f"{path}.{key}: not a field this check knows" for key in value.keys() - schema]
        for key in sorted(value.keys() & schema.keys()):
            errors += schema_errors(value[key], schema[key], f"{path}.{key}")
        return errors
    if isinstance(schema, frozenset):
        return [] if value in schema else [f"{path}: {value!r} is not one of {sorted(schema)}"]
    types = schema if isinstance(schema, tuple) else (schema,)
    # bool is an int in Python, not in JSON.
    if isinstance(value, bool) is not (bool in types) or not isinstance(value, types):
        return [f"{path}: expected {' or '.join(t.__name__ for t in types)}, got {value!r}"]
    return []


def lookup(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def cluster_errors(doc: dict[str, Any]) -> list[str]:
    """Everything wrong with a Cluster as far as this check can tell; [] if nothing."""
    if (doc.get("apiVersion"), doc.get("kind")) != (API_VERSION, "Cluster"):
        return [f"not a {API_VERSION} Cluster: {doc.get('apiVersion')} {doc.get('kind')}"]
    errors = [f"{key}: not a top-level field" for key in doc.keys() - TOP_LEVEL]
    name = doc["metadata"].get("name", "")
    if not CLUSTER_NAME.fullmatch(name):
        errors.append(f"metadata.name: {name!r} is not a DNS label")
    errors += [f"{path}: required" for path in REQUIRED if lookup(doc, path) is None]
    return errors + schema_errors(doc.get("spec"), CLUSTER_SPEC, "spec")
