"""Fixtures for the deploy/ tests. The renders need an unmodified copy of the pinned
kube-prometheus named by KUBE_PROMETHEUS_DIR (.ci/run sets it); without one they skip, and under
CI=true they fail."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import kubernetes_validate.utils
import pytest

from tests.deploy.crd_schemas import CustomResourceSchemas
from tests.deploy.support import find_kubectl, in_ci, render_all, stage_deploy

NO_UPSTREAM = (
    "KUBE_PROMETHEUS_DIR is not set: point it at an unmodified copy of the kube-prometheus "
    "release pinned in deploy/upstream (CI uses ../shared/kube-prometheus/v0.18.0) to render "
    "deploy/ offline"
)


@pytest.fixture(scope="session")
def kube_prometheus_dir() -> Path:
    value = os.environ.get("KUBE_PROMETHEUS_DIR")
    if not value and in_ci():
        pytest.fail(f"{NO_UPSTREAM}; under CI=true the deploy tests must run", pytrace=False)
    if not value:
        pytest.skip(NO_UPSTREAM)
    path = Path(value)
    assert (path / "kustomization.yaml").is_file(), f"KUBE_PROMETHEUS_DIR={value}: no kustomization"
    return path


@pytest.fixture(scope="session")
def renders(
    kube_prometheus_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """Render name (setup, base, overlays/<x>, components/<x>) → its objects."""
    kubectl = find_kubectl()
    staged = stage_deploy(tmp_path_factory.mktemp("staged"), kube_prometheus_dir)
    return render_all(kubectl, staged)


@pytest.fixture(scope="session")
def example(renders: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return renders["overlays/example"]


@pytest.fixture
def cached_kubernetes_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes-validate re-reads its 1 MB definitions file for every object it validates;
    with the reads cached a version's validation takes 0.2 s instead of 2 s."""
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        functools.cache(kubernetes_validate.utils.schema_contents),
    )


@pytest.fixture(scope="session")
def crd_schemas(kube_prometheus_dir: Path) -> CustomResourceSchemas:
    return CustomResourceSchemas.from_crds(kube_prometheus_dir / "manifests" / "setup")
