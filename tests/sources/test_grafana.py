"""Grafana Alerting webhook bodies (version "1", and the legacy format) → Notification; the
/alertmanager parser's recognition of them; 422 naming the field for bodies that are not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from app.config.model import Limits
from app.sources import InvalidPayload
from app.sources.grafana import (
    is_grafana,
    parse_alertmanager_or_grafana,
    parse_grafana,
    readable,
    value_string_text,
    values_text,
)
from tests.support.paths import FIXTURES

HERE = FIXTURES / "grafana"


def fixture(name: str) -> bytes:
    return (HERE / name).read_bytes()


def body_of(name: str, **changes: Any) -> bytes:
    return json.dumps({**json.loads(fixture(name)), **changes}).encode()


def test_reads_the_documented_firing_body_with_values_and_silence_links() -> None:
    n = parse_grafana(fixture("firing.json"))

    assert (n.kind, n.status, n.receiver, n.group_key) == (
        "alert",
        "firing",
        "My Super Webhook",
        "{}:{}",
    )
    assert n.common_labels == {"team": "blue"}
    assert n.external_url == "https://play.grafana.org/"
    first, second = n.alerts
    assert first.labels["alertname"] == "High memory usage"
    assert first.annotations["summary"] == "This alert was triggered for zone us-1"
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert first.ends_at is None
    assert first.fingerprint == "c6eadffa33fcdf37"
    assert first.generator_url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert first.value == "B=44.2394, C=1"
    assert first.links == {
        "silence": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
        "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1"
    }
    assert second.fingerprint == "bc97ff14869b13e3"


def test_reads_a_resolved_body_with_every_link_preferring_values_to_value_string() -> None:
    n = parse_grafana(fixture("resolved.json"))

    assert n.status == "resolved"
    assert n.group_key.endswith(':{alertname="High memory usage", grafana_folder="Infra"}')
    (alert,) = n.alerts
    assert alert.status == "resolved"
    assert alert.ends_at == datetime(2021, 10, 12, 8, 6, 3, 157076, tzinfo=UTC)
    assert sorted(alert.links) == ["dashboard", "image", "panel", "silence"]
    assert alert.links["panel"].endswith("&viewPanel=4")
    assert alert.value == "B=12.5, C=0"


def test_reads_a_test_notification_with_null_values_from_its_value_string() -> None:
    n = parse_grafana(fixture("test-notification.json"))

    (alert,) = n.alerts
    assert (alert.labels, alert.annotations) == (
        {"alertname": "TestAlert", "instance": "Grafana"},
        {"summary": "Notification test"},
    )
    assert alert.value == "foo{instance=bar}=10"
    assert alert.generator_url == ""
    assert list(alert.links) == ["silence"]


def test_reads_the_legacy_body_as_one_alert_of_the_rule() -> None:
    n = parse_grafana(fixture("legacy.json"))

    assert (n.kind, n.status) == ("alert", "firing")
    (alert,) = n.alerts
    assert alert.labels == {"alertname": "Test notification", "grafana_state": "alerting"}
    assert alert.annotations == {
        "message": "Someone is testing the alert notification within grafana."
    }
    assert alert.value == "High value=100, Higher Value=200"
    assert alert.generator_url == "https://localhost:3000/"
    assert alert.links == {"image": "http://grafana.org/assets/img/blog/mixed_styles.png"}
    assert n.group_key == "grafana-legacy:0/0:alerting"


@pytest.mark.parametrize(
    ("state", "status"),
    [("ok", "resolved"), ("paused", "resolved"), ("no_data", "firing"), ("alerting", "firing")],
)
def test_maps_legacy_states_to_firing_or_resolved(state: str, status: str) -> None:
    n = parse_grafana(body_of("legacy.json", state=state, evalMatches=None, tags={"team": "a"}))

    assert (n.status, n.alerts[0].status) == (status, status)
    assert n.alerts[0].labels["team"] == "a"
    assert n.alerts[0].value == ""


@pytest.mark.parametrize(
    "name", ["firing.json", "resolved.json", "test-notification.json", "legacy.json"]
)
def test_alertmanager_route_recognises_every_grafana_body(name: str) -> None:
    assert is_grafana(json.loads(fixture(name)))
    assert parse_alertmanager_or_grafana(fixture(name)) == parse_grafana(fixture(name))
    assert parse_grafana(fixture(name)).from_grafana  # cards then link to Grafana only


def test_alertmanager_route_still_reads_alertmanager_bodies() -> None:
    body = (FIXTURES / "alertmanager" / "firing.json").read_bytes()

    assert not is_grafana(json.loads(body))
    assert parse_alertmanager_or_grafana(body).alerts[0].links == {}
    assert not parse_alertmanager_or_grafana(body).from_grafana


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "2"}, "version: Unsupported Grafana webhook version '2'"),
        ({"orgId": "one"}, "orgId: Input should be a valid integer"),
        ({"alerts": None}, "alerts: Input should be a valid list"),
        ({"title": 7}, "title: Input should be a valid string"),
    ],
    ids=["version", "org-id", "alerts", "title"],
)
def test_rejects_wrong_shapes_with_422_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_grafana(body_of("firing.json", **changes))

    assert caught.value.status_code == 422
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("values", {"B": "high"}, "alerts.0.values.B: Input should be a valid number"),
        ("silenceURL", 3, "alerts.0.silenceURL: Input should be a valid string"),
        ("valueString", [], "alerts.0.valueString: Input should be a valid string"),
    ],
    ids=["values", "silence-url", "value-string"],
)
def test_rejects_wrong_alert_fields_with_422_naming_them(
    field: str, value: Any, message: str
) -> None:
    body = json.loads(fixture("firing.json"))
    body["alerts"][0][field] = value

    with pytest.raises(InvalidPayload) as caught:
        parse_grafana(json.dumps(body).encode())

    assert (caught.value.status_code, message in caught.value.message) == (422, True)


def test_rejects_an_unknown_legacy_state_naming_it() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_grafana(body_of("legacy.json", state="exploded"))

    assert caught.value.status_code == 422
    assert caught.value.message.startswith("state: ")


def test_drops_links_over_the_value_limit_and_clips_the_value() -> None:
    body = json.loads(fixture("resolved.json"))
    body["alerts"][0]["values"] = {"B": 1.5}
    body["alerts"][0]["dashboardURL"] = "https://g.example/d/" + "x" * 500
    limits = Limits(label_value_chars=200)

    (alert,) = parse_grafana(json.dumps(body).encode(), limits).alerts

    assert "dashboard" not in alert.links
    assert "silence" in alert.links
    assert alert.value == "B=1.5"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (44.23943737541908, "44.2394"),
        (14151.331895396988, "14151.3"),
        (1234567.891, "1234567.89"),
        (0.00012, "0.00012"),
        (-3.5, "-3.5"),
        (float("nan"), "nan"),
    ],
)
def test_shows_numbers_readably(value: float, text: str) -> None:
    assert readable(value) == text


def test_shows_the_first_values_by_ref_id() -> None:
    assert values_text({"C": 1, "B": 97.2}) == "B=97.2, C=1"
    assert values_text({f"Q{i:02}": i for i in range(12)}).endswith("Q07=7, …")


@pytest.mark.parametrize(
    ("value_string", "text"),
    [
        ("[ metric='' labels={} value=14151.331895396988 ]", "14151.3"),
        ("[ var='B' labels={} value=97.2 ], [ var='C' labels={} value=1 ]", "B=97.2, C=1"),
        ("[ var='B' labels={zone=eu} value=null ]", "B{zone=eu}=null"),
        ("something else ", "something else"),
        ("", ""),
    ],
    ids=["old-metric", "vars", "labels-and-null", "free-text", "empty"],
)
def test_reads_the_deprecated_value_string(value_string: str, text: str) -> None:
    assert value_string_text(value_string) == text
