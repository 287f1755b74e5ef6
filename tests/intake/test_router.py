"""Matchers, filters and routes behave as in Alertmanager."""

from __future__ import annotations

import pytest

from app.config.load import parse_config
from app.config.matchers import MatcherError, parse_matcher, parse_matchers
from app.intake.router import Router
from app.models import Alert, Notification


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ("severity = critical", {"severity": "critical"}, True),
        ("severity=critical", {"severity": "warning"}, False),
        ('severity="critical"', {"severity": "critical"}, True),
        ("severity != critical", {"severity": "warning"}, True),
        ("severity != critical", {}, True),
        ("alertname =~ Watchdog|DeadMansSnitch", {"alertname": "DeadMansSnitch"}, True),
        ("alertname =~ Watch", {"alertname": "Watchdog"}, False),
        ("alertname !~ Kube.*", {"alertname": "KubePodCrashLooping"}, False),
        ('team = ""', {}, True),
        ('{team="a b"}', {"team": "a b"}, True),
        (r'msg = "say \"hi\""', {"msg": 'say "hi"'}, True),
    ],
    ids=[
        "equal",
        "equal-miss",
        "quoted",
        "not-equal",
        "not-equal-missing",
        "regex",
        "regex-anchored",
        "negative-regex",
        "empty-matches-missing",
        "braces",
        "escaped-quote",
    ],
)
def test_matcher_semantics(matcher: str, labels: dict[str, str], expected: bool) -> None:
    [parsed] = parse_matchers([matcher])  # a config string: the brace form is allowed there
    assert parsed.matches(labels) is expected


@pytest.mark.parametrize("text", ["severity", "1abc = x", "a =~ (", "a ~ b"])
def test_invalid_matcher_is_rejected(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matcher(text)


CONFIG = {
    "receivers": [
        {"name": "feishu-ops", "platform": "console"},
        {"name": "ding-db", "platform": "console"},
        {"name": "wecom-all", "platform": "console"},
        {"name": "fallback", "platform": "console"},
    ],
    "routes": [
        {"matchers": ["team = db"], "receivers": ["ding-db"], "continue": True},
        {"matchers": ["severity = critical"], "receivers": ["feishu-ops"]},
        {"matchers": [], "receivers": ["wecom-all"]},
    ],
    "default_receiver": "fallback",
}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical"}, ["feishu-ops"]),
        ({"team": "db", "severity": "critical"}, ["ding-db", "feishu-ops"]),
        ({"severity": "info"}, ["wecom-all"]),
    ],
    ids=["first-match-wins", "continue-goes-on", "catch-all"],
)
def test_routes_pick_receivers(labels: dict[str, str], expected: list[str]) -> None:
    assert Router(parse_config(CONFIG, environ={})).match_receivers(labels) == expected


def test_default_receiver_takes_what_no_route_matched() -> None:
    config = parse_config({**CONFIG, "routes": CONFIG["routes"][:2]}, environ={})
    assert Router(config).match_receivers({"severity": "info"}) == ["fallback"]


def alert(**labels: str) -> Alert:
    return Alert("firing", labels, {}, None, None)


def test_plan_splits_a_group_per_receiver_and_drops_watchdog() -> None:
    router = Router(parse_config(CONFIG, environ={}))
    notification = Notification(
        "alert",
        "firing",
        [
            alert(alertname="Watchdog"),
            alert(alertname="A", severity="critical"),
            alert(alertname="B", severity="info"),
        ],
    )
    plan = router.plan(notification)
    assert plan.filtered == 1
    assert {
        n: [a.labels["alertname"] for a in p.alerts] for n, p in plan.notifications.items()
    } == {"feishu-ops": ["A"], "wecom-all": ["B"]}


def test_plan_for_one_receiver_bypasses_routes_but_keeps_filters() -> None:
    router = Router(parse_config(CONFIG, environ={}))
    notification = Notification(
        "alert", "firing", [alert(alertname="DeadMansSnitch"), alert(alertname="C")]
    )
    plan = router.plan(notification, only="ding-db")
    assert list(plan.notifications) == ["ding-db"]
    assert [a.labels["alertname"] for a in plan.notifications["ding-db"].alerts] == ["C"]
    assert plan.filtered == 1


def test_unrouted_alerts_are_counted() -> None:
    config = parse_config(
        {
            "receivers": [{"name": "c", "platform": "console"}],
            "routes": [{"matchers": ["team = x"], "receivers": ["c"]}],
        },
        environ={},
    )
    plan = Router(config).plan(Notification("alert", "firing", [alert(alertname="Z")]))
    assert plan.unrouted == 1
    assert plan.notifications == {}
