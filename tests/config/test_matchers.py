"""Matchers as Alertmanager reads them: the brace form, quoting and escapes, RE2 only. The table
of routes and label sets goes through both `alertbridge route-test` and the real
`amtool config routes test`, and both must pick the same receivers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.config.load import parse_config
from app.config.matchers import MatcherError, parse_matchers
from app.config.model import ConfigError

# (matchers of one route, in the config's words) -> the receiver it leads to
ROUTES: list[tuple[list[str], str]] = [
    (['{team="db",severity="critical"}'], "db-pager"),
    (["team=db", 'severity=~"warning|info"'], "db-chat"),
    (['service=~"api-.*", env!="dev"'], "api"),
    (['msg="She said: \\"Hi, all\\""'], "quotes"),
    (['path="C:\\\\temp,x"'], "backslash"),
    (["{cluster=~'?'}"], "odd"),
    (['instance!~"10\\\\.0\\\\..*"', "job=node"], "node-outside"),
    (["{}"], "catch-all"),
]
LABEL_SETS = [
    {"team": "db", "severity": "critical"},
    {"team": "db", "severity": "warning"},
    {"team": "db", "severity": "page"},
    {"service": "api-gw", "env": "prod"},
    {"service": "api-gw", "env": "dev"},
    {"msg": "She said: Hi, all"},  # amtool's command line cannot pass a quote in a value
    {"path": "C:\\temp,x"},
    {"job": "node", "instance": "10.0.3.1:9100"},
    {"job": "node", "instance": "192.168.1.1:9100"},
    {"cluster": "?"},
    {"nothing": "here"},
]


def alertmanager_config() -> dict[str, object]:
    names = sorted({r for _, r in ROUTES} | {"fallback"})
    return {
        "route": {
            "receiver": "fallback",
            "routes": [{"receiver": r, "matchers": m} for m, r in ROUTES],
        },
        "receivers": [{"name": n} for n in names],
    }


def alertbridge_config() -> dict[str, object]:
    names = sorted({r for _, r in ROUTES} | {"fallback"})
    return {
        "receivers": [{"name": n, "platform": "console"} for n in names],
        "routes": [{"matchers": m, "receivers": [r]} for m, r in ROUTES],
        "default_receiver": "fallback",
        "filters": [],
    }


def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool (Debian package prometheus-alertmanager) is missing under CI")
        pytest.skip("amtool (Debian package prometheus-alertmanager) is not installed")
    return found


def pairs(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in labels.items()]


@pytest.mark.parametrize("labels", LABEL_SETS, ids=lambda labels: ",".join(pairs(labels)))
def test_routes_like_amtool(labels: dict[str, str], tmp_path: Path) -> None:
    am, ab = tmp_path / "alertmanager.yml", tmp_path / "alertbridge.yml"
    am.write_text(yaml.safe_dump(alertmanager_config()))
    ab.write_text(yaml.safe_dump(alertbridge_config()))
    theirs = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={am}", *pairs(labels)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-m", "app", "route-test", "--config", str(ab), *pairs(labels)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ours == theirs


@pytest.mark.parametrize(
    "text",
    ['x=~"(?=a)b"', 'x=~"(?<!a)b"', 'x=~"(a)\\\\1"', 'x=~"(?>ab)"', 'x=~"a*+"', 'x="un"closed"'],
    ids=["look-ahead", "look-behind", "backreference", "atomic", "possessive", "stray-quote"],
)
def test_refuses_what_alertmanager_refuses(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matchers([text])
    config = {
        "receivers": [{"name": "c", "platform": "console"}],
        "filters": [{"matchers": [text]}],
    }
    with pytest.raises(ConfigError, match=r"filters\.0\.matchers"):
        parse_config(config, environ={})


def test_escaped_quotes_and_commas_stay_inside_the_value() -> None:
    [quoted] = parse_matchers(['msg="She said: \\"Hi, all\\"\\n"'])
    assert quoted.value == 'She said: "Hi, all"\n'


def test_one_string_in_brace_form_is_several_matchers() -> None:
    parsed = parse_matchers(['{team="db", severity=~"crit.*",}'])
    assert [(m.name, m.op, m.value) for m in parsed] == [
        ("team", "=", "db"),
        ("severity", "=~", "crit.*"),
    ]
