"""Reference docs generated from the code: the README's config and metrics tables match the model
and the registry; `config-schema` accepts the configs the README shows and refuses a typo; every
option has help; `render | head -1` ends quietly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.cli.parser import build_parser
from app.cli.reference import MARKERS, config_rows, config_schema, with_references
from app.config.model import RESTART_KEYS
from app.ops.metrics import Metrics
from tests.support.paths import FIXTURES, ROOT
from tests.test_docs import alertbridge_configs, sample_value

README = ROOT / "README.md"
PIPE_BUFFER_BYTES = 64 * 1024  # Linux's default
VARIABLE = re.compile(r"\$\{(\w+)(?::-[^}]*)?\}")


def test_readme_tables_are_what_the_code_generates() -> None:
    text = README.read_text(encoding="utf-8")
    assert with_references(text) == text, (
        "README.md's reference tables are out of date: python -m app.cli.reference README.md"
    )


def readme_block(name: str) -> str:
    start, end = MARKERS[name]
    text = README.read_text(encoding="utf-8")
    return text.split(start, 1)[1].split(end, 1)[0]


def test_metrics_table_lists_every_metric_the_service_exports() -> None:
    exported = {
        family.name
        for family in Metrics().registry.collect()
        if family.name.startswith("alertbridge_")
    }
    table = readme_block("metrics")
    listed = {name.removesuffix("_total") for name in re.findall(r"^\| `(\w+)`", table, re.M)}
    assert listed == exported
    assert (
        "| `alertbridge_send_failures_total` | counter | `receiver`, `platform`, `code`," in table
    )


def test_config_table_lists_every_key_and_marks_the_restart_ones() -> None:
    rows = {key: reload for key, _, _, reload, _ in config_rows()}
    assert {key for key, reload in rows.items() if reload == "restart"} == set(RESTART_KEYS)
    assert {"receivers[].mentions.from_labels", "routes[].continue", "outbox.url"} <= set(rows)
    table = readme_block("config")
    assert '| `server.timezone` | string | `"Asia/Shanghai"` | reload | times on cards |' in table


def expanded(block: str) -> Any:
    return yaml.safe_load(VARIABLE.sub(lambda m: sample_value(m.group(1)), block))


@pytest.mark.parametrize(("where", "block"), alertbridge_configs(), ids=lambda v: v[:40])
def test_config_schema_accepts_the_documented_configs(where: str, block: str) -> None:
    jsonschema.validate(expanded(block), config_schema())


def test_config_schema_refuses_a_misspelt_key() -> None:
    config = {"receivers": [{"name": "ops", "platform": "console"}], "sever": {}}
    with pytest.raises(jsonschema.ValidationError, match="sever"):
        jsonschema.validate(config, config_schema())
    wrong_platform = {"receivers": [{"name": "ops", "platform": "slack"}]}
    with pytest.raises(jsonschema.ValidationError, match="slack"):
        jsonschema.validate(wrong_platform, config_schema())


def test_config_schema_command_prints_the_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "config-schema"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == config_schema()


def every_action(parser: Any, path: str = "alertbridge") -> list[tuple[str, Any]]:
    found = []
    for action in parser._actions:  # argparse keeps no public list of an parser's options
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                found += every_action(sub, f"{path} {name}")
        elif action.dest not in ("help", "version"):
            found.append((path, action))
    return found


def test_every_option_has_help() -> None:
    actions = every_action(build_parser())
    assert len(actions) > 25
    missing = [f"{path} {a.option_strings or a.dest}" for path, a in actions if not a.help]
    assert missing == []


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    body = json.loads((FIXTURES / "alertmanager" / "firing.json").read_text())
    first = body["alerts"][0]
    body["alerts"] = [
        {**first, "labels": {**first["labels"], "pod": f"web-{i}"}, "fingerprint": f"{i:016x}"}
        for i in range(3000)
    ]
    payload = tmp_path / "big.json"
    payload.write_text(json.dumps(body))
    argv = [sys.executable, "-m", "app", "render", "--receiver", "console", "--payload", payload]
    env = {**os.environ, "ALERTBRIDGE_CONFIG": ""}
    whole = subprocess.run(argv, capture_output=True, cwd=ROOT, env=env, timeout=120, check=True)
    assert len(whole.stdout) > 4 * PIPE_BUFFER_BYTES  # so the writer must meet the closed pipe
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().strip() == b"{"
        process.stdout.close()  # what `| head -1` does after its line
        stderr = process.stderr.read()
        assert process.wait(timeout=120) == 0
    assert stderr == b""
