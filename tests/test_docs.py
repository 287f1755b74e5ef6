"""The documentation works as written: every alertbridge config shown in README.md and
deploy/**/*.md passes `alertbridge check-config`, and every relative link and #anchor in them
leads somewhere in the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def repository_root() -> Path:
    """The directory holding pyproject.toml, wherever this file sits below it."""
    here = Path(__file__).resolve()
    return next(parent for parent in here.parents if (parent / "pyproject.toml").is_file())


REPO_ROOT = repository_root()
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "deploy").rglob("*.md"))]
CHECK_TIMEOUT_SECONDS = 60

FENCED = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
VARIABLE = re.compile(r"\$\{(\w+)(?::-[^}]*)?\}")
# Alertmanager's own receivers (alertmanager.yaml, AlertmanagerConfig) are not alertbridge's.
ALERTMANAGER_RECEIVER = re.compile(r"webhook_configs|webhookConfigs")


def name(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def yaml_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in FENCED.findall(text) if lang == "yaml"]


def alertbridge_configs() -> list[tuple[str, str]]:
    """(where, YAML) of every ```yaml block that holds an alertbridge config's `receivers:`."""
    found = []
    for path in DOCS:
        for index, block in enumerate(yaml_blocks(path), 1):
            holds_receivers = re.search(r"^\s*receivers:", block, re.M)
            if holds_receivers and not ALERTMANAGER_RECEIVER.search(block):
                found.append((f"{name(path)}, yaml block {index}", block))
    return found


CONFIGS = alertbridge_configs()


def test_finds_the_readmes_config_example() -> None:
    assert any(where.startswith("README.md") for where, _ in CONFIGS)


def sample_value(variable: str) -> str:
    """A value of the kind the name asks for: URLs must be URLs."""
    if variable.endswith("_URL"):
        return f"https://bots.example.com/{variable.lower()}"
    return f"sample-{variable.lower()}"


@pytest.mark.parametrize("config", [text for _, text in CONFIGS], ids=[w for w, _ in CONFIGS])
def test_config_example_passes_check_config(config: str, tmp_path: Path) -> None:
    """Through the command, as a reader would run it, with each ${VAR} it uses set."""
    path = tmp_path / "alertbridge.yaml"
    path.write_text(config, encoding="utf-8")
    variables = {var: sample_value(var) for var in VARIABLE.findall(config)}
    env = {"PATH": os.environ["PATH"], **variables}

    done = subprocess.run(
        [sys.executable, "-m", "app", "check-config", str(path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr


# -- links -------------------------------------------------------------------------------------


def prose(path: Path) -> str:
    """The Markdown without its fenced code blocks, where neither links nor headings live."""
    return FENCED.sub("", path.read_text(encoding="utf-8"))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and a
    repeated heading numbered."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links() -> list[tuple[Path, str]]:
    """(document, target) of each distinct link that is not to another site."""
    found = {
        (path, target): None
        for path in DOCS
        for target in LINK.findall(prose(path))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    }
    return list(found)


LINKS = relative_links()


def test_finds_links_to_check() -> None:
    assert any(target.startswith("#") for _, target in LINKS)
    assert any(not target.startswith("#") for _, target in LINKS)


@pytest.mark.parametrize(
    ("document", "target"), LINKS, ids=[f"{name(p)}->{target}" for p, target in LINKS]
)
def test_relative_link_resolves_in_the_repository(document: Path, target: str) -> None:
    where, _, anchor = target.partition("#")
    resolved = (document.parent / where).resolve() if where else document

    assert resolved.is_relative_to(REPO_ROOT), f"{target} leaves the repository"
    assert resolved.exists(), f"{target}: no {resolved.relative_to(REPO_ROOT)}"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{target}: no heading #{anchor}"
