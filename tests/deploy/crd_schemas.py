"""JSON schemas for custom resources, generated from the pinned CRDs and made strict: an unknown
field fails, as it would under the API server's strict field validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from tests.deploy.support import load_file

INLINE_CASE_FLAG = "(?i)"
SUBSCHEMAS = {"items", "additionalProperties", "not"}
SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}


def strict(schema: Any) -> Any:
    """The schema with additionalProperties: false on every object that lists its properties
    and does not keep unknown fields, and with Go-only regex syntax made Python's."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    for key in SUBSCHEMAS & schema.keys():
        out[key] = strict(schema[key])
    for key in SUBSCHEMA_LISTS & schema.keys():
        out[key] = [strict(sub) for sub in schema[key]]
    if isinstance(schema.get("pattern"), str):
        out["pattern"] = python_pattern(schema["pattern"])
    return out


def python_pattern(pattern: str) -> str:
    """Go accepts (?i) mid-pattern (AlertmanagerConfig's month and weekday names); Python only at
    the start. Moving it there makes the whole pattern case-insensitive: slightly laxer, never
    stricter, than the API server."""
    if INLINE_CASE_FLAG in pattern and not pattern.startswith(INLINE_CASE_FLAG):
        return INLINE_CASE_FLAG + pattern.replace(INLINE_CASE_FLAG, "")
    return pattern


@dataclass(frozen=True)
class CustomResourceSchemas:
    """One validator per (apiVersion, kind) served by the CRDs."""

    validators: dict[tuple[str, str], Draft7Validator]

    @classmethod
    def from_crds(cls, directory: Path) -> CustomResourceSchemas:
        validators = {}
        for path in sorted(directory.glob("*CustomResourceDefinition.yaml")):
            for crd in load_file(path):
                spec = crd["spec"]
                for version in spec["versions"]:
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    validators[key] = Draft7Validator(schema)
        assert validators, f"no CustomResourceDefinition files in {directory}"
        return cls(validators)

    @property
    def groups(self) -> set[str]:
        return {api_version.split("/")[0] for api_version, _ in self.validators}

    def errors(self, doc: dict[str, Any]) -> list[str]:
        validator = self.validators.get((doc["apiVersion"], doc["kind"]))
        if validator is None:
            return [f"no CRD serves {doc['apiVersion']} {doc['kind']}"]
        return [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
