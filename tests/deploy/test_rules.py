"""Alerting rules and the Grafana dashboard: promtool accepts every shipped rule, alertbridge's own
alerts pass their unit tests, and both speak only of metrics alertbridge exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.ops.metrics import Metrics
from tests.deploy.support import DEPLOY, ident, load_file, require_tool, run

HERE = Path(__file__).parent
ALERTBRIDGE = DEPLOY / "base" / "alertbridge"
RULE_UNIT_TESTS = HERE / "alertbridge-rules.test.yaml"
METRIC_NAME = re.compile(r"\balertbridge_[a-z0-9_]+")
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", "prometheus")


def exported_sample_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return names


def alertbridge_rules() -> dict[str, Any]:
    (rule,) = load_file(ALERTBRIDGE / "prometheusrule.yaml")
    spec: dict[str, Any] = rule["spec"]
    return spec


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in alertbridge_rules()["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ALERTBRIDGE / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_promtool_accepts_every_shipped_rule(
    renders: dict[str, list[dict[str, Any]]], promtool: str, tmp_path: Path
) -> None:
    rules = {
        ident(doc): doc["spec"]
        for docs in renders.values()
        for doc in docs
        if doc["kind"] == "PrometheusRule"
    }
    files = []
    for index, spec in enumerate(rules.values()):
        files.append(tmp_path / f"rules-{index}.yaml")
        files[-1].write_text(yaml.safe_dump(spec))

    assert "PrometheusRule monitoring/alertbridge" in rules
    run([promtool, "check", "rules", *map(str, files)])


def test_alertbridge_alerts_pass_their_unit_tests(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "alertbridge-rules.yaml").write_text(yaml.safe_dump(alertbridge_rules()))
    unit_tests = tmp_path / RULE_UNIT_TESTS.name
    unit_tests.write_text(RULE_UNIT_TESTS.read_text())

    run([promtool, "test", "rules", str(unit_tests)])


@pytest.mark.parametrize(
    "expressions", [rule_expressions(), dashboard_expressions()], ids=["rules", "dashboard"]
)
def test_uses_only_metrics_alertbridge_exports(expressions: list[str]) -> None:
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}

    assert used, "no alertbridge metric used at all"
    assert used - exported_sample_names() == set()
