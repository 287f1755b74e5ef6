"""The kube-prometheus pin: one remote base, by commit, named in exactly one file of the repo."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.support import DEPLOY, KUBERNETES_VERSIONS, REPO_ROOT, pinned_remote_base

# `git log --oneline` abbreviates to 7 hex digits; a shorter run is too likely to be a chance.
ABBREVIATED_DIGITS = 7


def repository_files() -> list[str]:
    """Tracked files plus new ones not ignored: what a commit of this tree would contain."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()})


def test_upstream_is_kube_prometheus_pinned_by_a_full_commit() -> None:
    url, sha = pinned_remote_base()

    assert url.startswith("https://github.com/prometheus-operator/kube-prometheus?ref=")
    assert re.fullmatch(r"[0-9a-f]{40}", sha)


def test_pinned_commit_appears_in_exactly_one_place() -> None:
    _, sha = pinned_remote_base()
    abbreviated = re.compile(sha[:ABBREVIATED_DIGITS])

    places = {}
    for name in repository_files():
        text = (REPO_ROOT / name).read_bytes().decode("utf-8", errors="replace")
        if count := len(abbreviated.findall(text)):
            places[name] = count

    assert places == {"deploy/upstream/kustomization.yaml": 1}


def test_readme_states_the_supported_kubernetes_versions() -> None:
    readme = (DEPLOY / "README.md").read_text()

    assert f"{KUBERNETES_VERSIONS[0]}-{KUBERNETES_VERSIONS[-1]}" in readme
