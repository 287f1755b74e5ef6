"""Reading the config: ${ENV} expansion, YAML parsing with errors that name the key (never the
value), and the embedded default used when no file is given (one console receiver, or one bot per
ALERTBRIDGE_<PLATFORM>_URL).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.matchers import MatcherError, parse_matchers
from app.config.model import Config, ConfigError
from app.platforms import PLATFORMS

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, environ: dict[str, str]) -> Any:
    """Replace ${NAME} or ${NAME:-default} in every string; an unset name with no default fails."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set")

        return ENV_PATTERN.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    return value


def parse_config(data: Any, environ: dict[str, str] | None = None) -> Config:
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping with at least 'receivers'")
    expanded = expand_env(data, dict(os.environ) if environ is None else environ)
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
    check_matchers(config)
    return config


def check_matchers(config: Config) -> None:
    groups = [(f"routes.{i}", r.matchers) for i, r in enumerate(config.routes)]
    groups += [(f"filters.{i}", f.matchers) for i, f in enumerate(config.filters)]
    for where, matchers in groups:
        try:
            parse_matchers(matchers)
        except MatcherError as exc:
            raise ConfigError(f"{where}.matchers: {exc}") from None


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each starting with the dotted path of the offending key.

    Input values are left out on purpose: they may be webhook URLs or secrets.
    """
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{path}: {error['msg']}")
    return "invalid config:\n  " + "\n  ".join(lines)


def load_config(path: Path, environ: dict[str, str] | None = None) -> Config:
    return parse_config_bytes(read_config(path), path, environ)


def read_config(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None


def parse_config_bytes(raw: bytes, path: Path, environ: dict[str, str] | None = None) -> Config:
    """The config in `raw`, as read from `path` (named in errors). A reload parses the very bytes
    it fingerprints, so what /status reports is what was parsed."""
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {yaml_problem(exc)}") from None
    return parse_config(data, environ)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found and where, without the snippet of the line it quotes: that line may
    hold a webhook URL or a secret."""
    problem = getattr(exc, "problem", None) or "unreadable YAML"
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


# ALERTBRIDGE_<PLATFORM>_URL is read for every platform that posts to a webhook.
ENV_PLATFORMS = tuple(name for name, p in PLATFORMS.items() if p.needs_webhook_url)
EMBEDDED_DEFAULT = "embedded default"  # where the config came from, said without a file


def default_config(environ: dict[str, str] | None = None) -> Config:
    """No file: one receiver per ALERTBRIDGE_<PLATFORM>_URL set, else a console receiver."""
    env = dict(os.environ) if environ is None else environ
    receivers: list[dict[str, Any]] = []
    for platform in ENV_PLATFORMS:
        url = env.get(f"ALERTBRIDGE_{platform.upper()}_URL")
        if url:
            secret = env.get(f"ALERTBRIDGE_{platform.upper()}_SECRET") or None
            receivers.append(
                {"name": platform, "platform": platform, "webhook_url": url, "secret": secret}
            )
    if not receivers:
        receivers.append({"name": "console", "platform": "console"})
    # Every notification goes to every configured bot: that is what a one-bot setup means.
    routes = [{"matchers": [], "receivers": [r["name"] for r in receivers]}]
    return parse_config({"receivers": receivers, "routes": routes}, environ={})
