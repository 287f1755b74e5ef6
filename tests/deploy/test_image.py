"""The container image, as far as a machine without a Docker daemon can tell: the Dockerfile keeps
its contract, requirements.lock is uv.lock exported, and the wheel it installs builds, carries the
cards, and runs from a fresh venv holding exactly the locked, hash-checked dependencies."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

from app.cli.parser import build_parser
from tests.deploy.support import DEPLOY, REPO_ROOT, env_file, missing, run
from tests.support.launcher import LOOPBACK, Processes

DOCKERFILE = REPO_ROOT / "Dockerfile"
DEPLOY_CONFIG = DEPLOY / "base" / "alertbridge" / "alertbridge.yaml"
EXAMPLE_ENV = DEPLOY / "overlays" / "example" / "secrets" / "alertbridge.env"
REQUIREMENTS_LOCK = REPO_ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
# How requirements.lock is made; its own first lines say so too.
EXPORT = "uv export --frozen --no-dev --extra postgres --format requirements-txt --no-emit-project"
INSTALL_TIMEOUT_SECONDS = 300


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage_steps() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def final_stage() -> dict[str, str]:
    return dict(final_stage_steps())


def exposed_port() -> int:
    return int(final_stage()["EXPOSE"])


def default_command() -> list[str]:
    stage = final_stage()
    command: list[str] = json.loads(stage["ENTRYPOINT"]) + json.loads(stage["CMD"])
    return command


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM, with their defaults."""
    steps = instructions()
    first_from = next(i for i, (name, _) in enumerate(steps) if name == "FROM")
    pairs = (args.split("=", 1) for name, args in steps[:first_from] if name == "ARG")
    return {name: value for name, value in pairs}


def expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)


def labels() -> dict[str, str]:
    """The final stage's LABELs, its ARG defaults and the global ARGs substituted."""
    stage = final_stage_steps()
    values = global_args()
    values |= dict(args.split("=", 1) for name, args in stage if name == "ARG" and "=" in args)
    words = [word for name, args in stage if name == "LABEL" for word in shlex.split(args)]
    pairs = (word.split("=", 1) for word in words)
    return {key: expand(value, values) for key, value in pairs}


def test_selects_the_stable_dockerfile_syntax() -> None:
    assert DOCKERFILE.read_text().splitlines()[0] == "# syntax=docker/dockerfile:1"


def test_builds_in_stages_from_one_slim_python_pinned_by_digest() -> None:
    bases = [args.split()[0] for name, args in instructions() if name == "FROM"]
    pinned = {expand(base, global_args()) for base in bases}

    assert len(bases) >= 2
    assert len(pinned) == 1
    assert re.fullmatch(r"python:3\.1[1-9](\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", pinned.pop())


def test_labels_say_what_the_image_is_in_oci_terms() -> None:
    found = labels()
    base = {expand(args.split()[0], global_args()) for n, args in instructions() if n == "FROM"}
    name, digest = base.pop().split("@")

    assert found["org.opencontainers.image.title"] == PYPROJECT["name"]
    assert found["org.opencontainers.image.version"] == PYPROJECT["version"]
    assert found["org.opencontainers.image.licenses"] == PYPROJECT["license"]
    assert found["org.opencontainers.image.description"]
    assert found["org.opencontainers.image.base.name"] == f"docker.io/library/{name}"
    assert found["org.opencontainers.image.base.digest"] == digest


def test_dependencies_are_the_locked_wheels_hash_checked() -> None:
    """The build stage fetches wheels only (nothing compiles), checked against requirements.lock;
    the runtime stage installs those offline, checked again, and the project without deps."""
    runs = [args for name, args in instructions() if name == "RUN"]
    fetch = next(run for run in runs if "pip wheel" in run)
    runtime = [args for name, args in final_stage_steps() if name == "RUN"]
    install = next(run for run in runtime if "pip install" in run)

    assert {"--require-hashes", "--only-binary=:all:", "requirements.lock"} <= set(fetch.split())
    assert {"--require-hashes", "--no-index", "/tmp/requirements.lock"} <= set(install.split())
    assert "--no-deps /dist/alertbridge-" in install
    # Nothing in the runtime stage that builds or downloads: no apt, no build frontend, no index.
    assert not [run for run in runtime if re.search(r"apt-get|python -m build|pip wheel", run)]
    assert all("--no-index" in command for command in install.split("&&"))


def test_requirements_lock_is_uv_lock_exported() -> None:
    """After `uv lock`, regenerate it with the command in its first lines."""
    try:
        from uv import find_uv_bin
    except ImportError:
        missing("uv is not installed (it is in the test extra)")
        raise
    lines = REQUIREMENTS_LOCK.read_text().splitlines()
    header = [line for line in lines[:2] if line.startswith("#")]
    export = [find_uv_bin(), *EXPORT.split()[1:], "--no-header"]

    exported = run(export, cwd=REPO_ROOT, timeout=INSTALL_TIMEOUT_SECONDS).stdout

    assert header[-1].strip() == f"#    {EXPORT} -o requirements.lock".strip()
    assert lines[len(header) :] == exported.splitlines()


def test_runs_as_a_non_root_user() -> None:
    user = final_stage()["USER"].split(":")[0]

    assert user not in ("root", "0")


def test_default_command_is_alertbridge_serve_on_the_exposed_port_and_volume() -> None:
    argv = default_command()
    args = build_parser().parse_args(argv[1:])

    assert argv[0] == "alertbridge"
    assert (args.command, args.port) == ("serve", exposed_port())
    assert json.loads(final_stage()["VOLUME"]) == [str(args.data_dir)]


def test_healthcheck_asks_status_on_the_exposed_port() -> None:
    healthcheck = final_stage()["HEALTHCHECK"]

    assert f"127.0.0.1:{exposed_port()}/status" in healthcheck


def dockerignored(path: str) -> bool:
    """.dockerignore's verdict for a top-level path: the last matching pattern wins."""
    ignored = False
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if pattern and not pattern.startswith("#"):
            negated = pattern.startswith("!")
            if fnmatch(path, pattern.removeprefix("!").rstrip("/")):
                ignored = not negated
    return ignored


def test_dockerignore_sends_what_the_build_copies_and_nothing_else() -> None:
    copied = [
        args.split()[0]
        for name, args in instructions()
        if name == "COPY" and not args.startswith("--from")
    ]

    assert copied
    assert [path for path in copied if dockerignored(path.rstrip("/"))] == []
    assert all(dockerignored(path) for path in (".git", "tests", "deploy", "data", ".venv"))


# -- the wheel, installed into a fresh venv ----------------------------------------------------


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path

    def run(self, *argv: str, env: dict[str, str] | None = None) -> str:
        command = [str(self.bin / argv[0]), *argv[1:]]
        return run(command, env=env, cwd=self.bin).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Installed as the Dockerfile does: the wheels of requirements.lock, hash-checked, then the
    wheel that `python -m build` makes, without dependencies."""
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO_ROOT)]
    run(build, timeout=INSTALL_TIMEOUT_SECONDS)
    (wheel,) = out.glob("alertbridge-*.whl")
    venv = out / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    locked = ["--require-hashes", "-r", str(REQUIREMENTS_LOCK)]
    wheels = str(out / "wheels")
    fetch = [*pip, "wheel", "--only-binary=:all:", "--wheel-dir", wheels, *locked]
    run(fetch, timeout=INSTALL_TIMEOUT_SECONDS)
    run([*pip, "install", "--no-index", "--find-links", wheels, *locked])
    run([*pip, "install", "--no-index", "--no-deps", str(wheel)])
    return Installed(wheel, venv / "bin")


def clean_env(**extra: str) -> dict[str, str]:
    """Only PATH: nothing of this checkout's environment may help the installed package."""
    return {"PATH": os.environ["PATH"], **extra}


def test_wheel_carries_every_card(installed: Installed) -> None:
    cards = REPO_ROOT / "cards"
    expected = {f"app/cards/{p.relative_to(cards)}" for p in cards.rglob("*") if p.is_file()}

    with zipfile.ZipFile(installed.wheel) as wheel:
        packaged = {name for name in wheel.namelist() if name.startswith("app/cards/")}

    assert packaged == expected


def test_installed_package_is_the_venvs_not_this_checkout(installed: Installed) -> None:
    where = installed.run("python", "-c", "import app; print(app.__file__)", env=clean_env())

    assert Path(where.strip()).is_relative_to(installed.bin.parent)


def test_installed_check_config_accepts_the_deploy_config(installed: Installed) -> None:
    env = clean_env(**env_file(EXAMPLE_ENV))

    output = installed.run("alertbridge", "check-config", str(DEPLOY_CONFIG), env=env)

    assert output.startswith(f"{DEPLOY_CONFIG}: OK")


def test_installed_render_uses_the_packaged_cards(installed: Installed) -> None:
    output = installed.run("alertbridge", "render", "--receiver", "console", env=clean_env())

    assert output.strip()


def test_installed_serve_answers_status_and_stops_cleanly(
    installed: Installed, tmp_path: Path
) -> None:
    """The image's default command, on a free loopback port with a scratch data directory."""
    argv = default_command()
    argv[0] = str(installed.bin / "alertbridge")

    def on_port(port: int) -> list[str]:
        values = {"--host": LOOPBACK, "--port": str(port), "--data-dir": str(tmp_path / "data")}
        return [values.get(before, arg) for before, arg in zip(["", *argv], argv, strict=False)]

    with Processes(tmp_path) as processes:
        service = processes.start_listening("alertbridge", on_port, "/status", env=clean_env())
        process = service.process
        process.stop()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
        assert process.exit_code() in (0, -signal.SIGTERM), process.log()
        assert "Application shutdown complete" in process.log()
