"""The container image, as far as a machine without a Docker daemon can tell: the Dockerfile keeps
its contract, and the wheel it installs builds, carries the cards, and runs from a fresh venv."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

from app.cli.main import build_parser
from tests.deploy.support import DEPLOY, REPO_ROOT, env_file, run
from tests.support.launcher import LOOPBACK, Processes

DOCKERFILE = REPO_ROOT / "Dockerfile"
DEPLOY_CONFIG = DEPLOY / "base" / "alertbridge" / "alertbridge.yaml"
EXAMPLE_ENV = DEPLOY / "overlays" / "example" / "secrets" / "alertbridge.env"
INSTALL_TIMEOUT_SECONDS = 300


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage() -> dict[str, str]:
    steps = instructions()
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return dict(steps[last_from:])


def exposed_port() -> int:
    return int(final_stage()["EXPOSE"])


def default_command() -> list[str]:
    stage = final_stage()
    command: list[str] = json.loads(stage["ENTRYPOINT"]) + json.loads(stage["CMD"])
    return command


def test_builds_in_stages_from_a_slim_python() -> None:
    steps = instructions()
    base = dict(steps)["ARG"]

    assert sum(name == "FROM" for name, _ in steps) >= 2
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[1-9]-slim(-\w+)?", base)


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
    """Built with `python -m build` as the Dockerfile does, installed with its dependencies."""
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO_ROOT)]
    run(build, timeout=INSTALL_TIMEOUT_SECONDS)
    (wheel,) = out.glob("alertbridge-*.whl")
    venv = out / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    run([*pip, str(wheel)], timeout=INSTALL_TIMEOUT_SECONDS)
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
