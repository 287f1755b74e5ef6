"""Overlays the tests add beside deploy/overlays: the example overlay with one opt-in component
switched on, the way deploy/README.md tells a user to (one line under `components:`, plus what
its recipe adds). They are staged into the copy of deploy/ and rendered with everything else."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

VARIANTS_DIR = "_variants"
EXAMPLE = "overlays/example"


@dataclass(frozen=True)
class Variant:
    """The example overlay plus components, list entries appended to its kustomization's fields,
    and files written into the overlay's directory."""

    components: tuple[str, ...]
    additions: dict[str, list[Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


# deploy/README.md, "Several replicas", managed PostgreSQL: drop the CloudNativePG objects and
# generate the Secret the Deployment reads. The password is a placeholder of the test's own.
MANAGED_POSTGRES = Variant(
    components=("ha-postgres",),
    additions={
        "patches": [
            {
                "target": {"labelSelector": "app.kubernetes.io/name=alertbridge-pg"},
                "patch": "$patch: delete\napiVersion: v1\nkind: Any\nmetadata:\n  name: any\n",
            }
        ],
        "secretGenerator": [
            {
                "name": "alertbridge-pg-app",
                "namespace": "monitoring",
                "envs": ["secrets/outbox.env"],
            }
        ],
    },
    files={
        "secrets/outbox.env": (
            "uri=postgresql://alertbridge:placeholder@postgres.example.com:5432/alertbridge"
            "?sslmode=verify-full\n"
        )
    },
)

VARIANTS = {
    "example+ha-postgres": Variant(components=("ha-postgres",)),
    "example+ha-postgres-managed": MANAGED_POSTGRES,
    "example+grafana-contact-point": Variant(components=("grafana-contact-point",)),
}


def variant_targets() -> dict[str, str]:
    """Render name → kustomization directory inside the staged tree."""
    return {f"variants/{name}": f"{VARIANTS_DIR}/{name}" for name in VARIANTS}


def stage_variants(staged: Path) -> None:
    """Copy the staged example overlay once per variant, at the same depth (so its relative
    paths still resolve), and switch the variant's components on."""
    for name, variant in VARIANTS.items():
        target = staged / VARIANTS_DIR / name
        shutil.copytree(staged / EXAMPLE, target)
        path = target / "kustomization.yaml"
        kustomization = yaml.safe_load(path.read_text())
        kustomization.setdefault("components", []).extend(
            f"../../components/{component}" for component in variant.components
        )
        for key, entries in variant.additions.items():
            kustomization.setdefault(key, []).extend(entries)
        path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
        for relative, text in variant.files.items():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_text(text)
