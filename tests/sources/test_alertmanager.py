"""Alertmanager webhook v4 bodies → Notification, 400/422 for bodies that are not, and the
limits on alerts, labels and values (413/422, or clipped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from app.config.model import Limits
from app.sources import InvalidPayload
from app.sources.alertmanager import AlertmanagerPayload, parse_alertmanager, to_notification
from tests.support.paths import FIXTURES

HERE = FIXTURES / "alertmanager"


def fixture(name: str) -> bytes:
    return (HERE / name).read_bytes()


def minimal(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Test"}}],
    }
    body.update(changes)
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def test_reads_a_kube_prometheus_firing_group_with_nanosecond_times() -> None:
    n = parse_alertmanager(fixture("firing.json"))

    assert (n.kind, n.status, n.receiver) == ("alert", "firing", "Default")
    assert n.group_key == '{}:{namespace="shop"}'
    assert n.group_labels == {"namespace": "shop"}
    assert n.common_labels["severity"] == "warning"
    assert n.common_annotations == {}
    assert n.external_url == "http://alertmanager-main-0:9093"
    assert n.truncated_alerts == 0
    assert [a.labels["alertname"] for a in n.alerts] == [
        "KubePodCrashLooping",
        "KubeDeploymentReplicasMismatch",
    ]
    first, second = n.alerts
    assert first.starts_at == datetime(2024, 11, 12, 8, 17, 43, 123456, tzinfo=UTC)
    assert second.starts_at == datetime(2024, 11, 12, 8, 32, 13, 900412, tzinfo=UTC)
    assert first.ends_at is None
    assert second.ends_at is None
    assert first.fingerprint == "1c2bd0f07ea4b9e3"
    assert first.generator_url.startswith("http://prometheus-k8s-0:9090/graph?g0.expr=")
    assert first.annotations["summary"] == "Pod is crash looping."
    assert first.count == 1


def test_reads_a_resolved_group_and_converts_its_times_to_utc() -> None:
    n = parse_alertmanager(fixture("resolved.json"))

    assert (n.status, n.receiver, n.truncated_alerts) == ("resolved", "Critical", 2)
    assert n.common_annotations["summary"] == "One or more targets are unreachable."
    (alert,) = n.alerts
    assert alert.status == "resolved"
    assert alert.starts_at == datetime(2024, 11, 12, 8, 2, 11, 500000, tzinfo=UTC)
    assert alert.ends_at == datetime(2024, 11, 12, 8, 47, 13, 123, tzinfo=UTC)
    assert alert.ends_at is not None
    assert alert.ends_at.tzinfo is UTC
    assert n.resolved == [alert]
    assert n.firing == []


def test_unescapes_the_receiver_and_ignores_route_labels_and_unknown_fields() -> None:
    n = parse_alertmanager(fixture("route-labels-escaped-receiver.json"))

    assert n.receiver == "web.hook"
    assert n.group_labels == {}
    assert [a.status for a in n.alerts] == ["firing", "resolved"]
    assert n.alerts[1].ends_at == datetime(2024, 11, 12, 8, 0, 1, tzinfo=UTC)
    assert n.alerts[0].starts_at == datetime(2024, 11, 12, 0, 0, 31, 777000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("escaped", "receiver"),
    [
        ("web\\.hook", "web.hook"),
        ("team-a\\|team-b", "team-a|team-b"),
        ("a\\\\b", "a\\b"),
        ("\\(ops\\)\\[\\*\\]", "(ops)[*]"),
        ("plain", "plain"),
    ],
    ids=["dot", "pipe", "backslash", "brackets", "nothing-escaped"],
)
def test_undoes_regexp_quotemeta_on_the_receiver(escaped: str, receiver: str) -> None:
    assert parse_alertmanager(encode(minimal(receiver=escaped))).receiver == receiver


def test_derives_the_group_status_and_defaults_when_optional_fields_are_absent() -> None:
    n = parse_alertmanager(encode({"alerts": [{"status": "resolved", "labels": {}}]}))

    assert (n.status, n.receiver, n.group_key, n.truncated_alerts) == ("resolved", "", "{}:{}", 0)
    assert n.alerts[0].annotations == {}
    assert n.alerts[0].starts_at is None
    assert n.alerts[0].ends_at is None


def test_reads_a_version_3_body_without_group_key_deriving_the_key_as_alertmanager_does() -> None:
    body = minimal(version="3", groupLabels={"namespace": "shop", "alertname": 'say "hi"'})

    n = parse_alertmanager(encode(body))

    assert n.group_key == '{}:{alertname="say \\"hi\\"", namespace="shop"}'
    assert n.alerts[0].labels == {"alertname": "Test"}


def test_keeps_a_group_key_the_body_gives() -> None:
    body = minimal(version="3", groupKey='{}/{}:{a="1"}', groupLabels={"b": "2"})

    assert parse_alertmanager(encode(body)).group_key == '{}/{}:{a="1"}'


def test_treats_null_maps_as_empty() -> None:
    body = minimal(commonAnnotations=None)
    body["alerts"][0]["annotations"] = None

    n = parse_alertmanager(encode(body))

    assert n.common_annotations == {}
    assert n.alerts[0].annotations == {}


def test_to_notification_maps_a_validated_payload() -> None:
    payload = AlertmanagerPayload.model_validate(minimal(receiver="x\\.y"))

    n = to_notification(payload)

    assert (n.kind, n.receiver, n.alerts[0].labels) == ("alert", "x.y", {"alertname": "Test"})


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"version": "4",\n "alerts": [}', "line 2 column"),
        (b'{"alerts": [{"status": "firing"', "line 1 column 32"),
        (b"", "line 1 column 1"),
        (b'{"receiver": "\xff"}', "not UTF-8"),
    ],
    ids=["bad-bracket", "truncated", "empty", "not-utf8"],
)
def test_rejects_malformed_json_with_400_saying_where(body: bytes, where: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(body)

    assert caught.value.status_code == 400
    assert where in caught.value.message


def _with_alert(**fields: Any) -> dict[str, Any]:
    return minimal(alerts=[{"status": "firing", "labels": {}, **fields}])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _with_alert(status="pending"),
            "alerts.0.status: Input should be 'firing' or 'resolved'",
        ),
        ({"version": "4", "status": "firing"}, "alerts: Field required"),
        (minimal(version="9"), "version: Unsupported webhook version '9'"),
        (minimal(version=4.0), "version: Unsupported webhook version 4.0"),
        (minimal(alerts={"status": "firing"}), "alerts: Input should be a valid list"),
        (minimal(alerts=[{"labels": {}}]), "alerts.0.status: Field required"),
        (minimal(alerts=[{"status": "firing"}]), "alerts.0.labels: Field required"),
        (_with_alert(labels={"replicas": 3}), "alerts.0.labels.replicas: Input should be a valid"),
        (_with_alert(annotations={"n": None}), "alerts.0.annotations.n: Input should be a valid"),
        (_with_alert(startsAt="yesterday"), "alerts.0.startsAt: Input should be an RFC3339"),
        (_with_alert(endsAt="2024-13-40T00:00:00Z"), "alerts.0.endsAt: Input should be a valid"),
        (minimal(commonLabels={"a": 1}), "commonLabels.a: Input should be a valid string"),
        (minimal(status="pending"), "status: Input should be 'firing' or 'resolved'"),
        (minimal(truncatedAlerts=-1), "truncatedAlerts: Input should be greater than"),
        (minimal(truncatedAlerts=2**70), "truncatedAlerts: Input should be less than"),
        ([minimal()], "body: Input should be a valid dictionary"),
    ],
    ids=[
        "alert-status-pending",
        "alerts-missing",
        "version-9",
        "version-float",
        "alerts-not-a-list",
        "alert-status-missing",
        "alert-labels-missing",
        "label-value-number",
        "annotation-value-null",
        "starts-at-not-a-time",
        "ends-at-impossible-date",
        "common-label-number",
        "group-status-pending",
        "negative-truncated",
        "truncated-beyond-64-bits",
        "list-body",
    ],
)
def test_rejects_wrong_shapes_with_422_naming_the_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(encode(body))

    assert caught.value.status_code == 422
    assert message in caught.value.message


def _lone_surrogate(body: dict[str, Any], marker: str = "LONE") -> bytes:
    """`body` as JSON with each MARKER turned into a lone "\\ud800" escape."""
    return encode(body).replace(marker.encode(), b"\\ud800")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with_alert(labels={"alertname": "LONE"}), "alerts.0.labels.alertname"),
        (_with_alert(labels={"alertname": "x", "LONE": "y"}), "alerts.0.labels.\\ud800"),
        (_with_alert(annotations={"summary": "disk LONE full"}), "alerts.0.annotations.summary"),
        (_with_alert(generatorURL="http://p/LONE"), "alerts.0.generatorURL"),
        (_with_alert(fingerprint="LONE"), "alerts.0.fingerprint"),
        (minimal(receiver="LONE"), "receiver"),
        (minimal(groupKey="{}:{alertname=LONE}"), "groupKey"),
        (minimal(commonLabels={"team": "LONE"}), "commonLabels.team"),
        (minimal(externalURL="LONE"), "externalURL"),
        (minimal(extra={"nested": ["LONE"]}), "extra.nested.0"),
    ],
    ids=[
        "label-value",
        "label-name",
        "annotation",
        "generator-url",
        "fingerprint",
        "receiver",
        "group-key",
        "common-label",
        "external-url",
        "unknown-field",
    ],
)
def test_refuses_a_lone_surrogate_with_422_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(_lone_surrogate(body))

    assert caught.value.status_code == 422
    assert caught.value.message.startswith(f"{field}: a lone UTF-16 surrogate")


def test_accepts_surrogate_pairs_and_upper_case_escapes_of_ordinary_characters() -> None:
    body = encode(_with_alert(annotations={"summary": "PAIR and UPPER"}))
    body = body.replace(b"PAIR", b"\\ud83d\\udea8").replace(b"UPPER", b"\\u00E9")

    (alert,) = parse_alertmanager(body).alerts
    assert alert.annotations["summary"] == "\U0001f6a8 and \u00e9"


def test_lists_only_the_first_errors_and_never_echoes_the_input() -> None:
    secret = "do-not-echo-me"
    alerts = [{"status": secret, "labels": {}} for _ in range(8)]

    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(encode(minimal(alerts=alerts)))

    assert "and 3 more errors" in caught.value.message
    assert secret not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-11-12T08:17:43Z", datetime(2024, 11, 12, 8, 17, 43, tzinfo=UTC)),
        ("2024-11-12T08:17:43.1Z", datetime(2024, 11, 12, 8, 17, 43, 100000, tzinfo=UTC)),
        ("2024-11-12T08:17:43.999999999Z", datetime(2024, 11, 12, 8, 17, 43, 999999, tzinfo=UTC)),
        ("2024-11-12T00:30:00-05:30", datetime(2024, 11, 12, 6, 0, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        (None, None),
    ],
    ids=["seconds", "one-digit-fraction", "nanoseconds", "negative-offset", "go-zero", "null"],
)
def test_reads_go_rfc3339nano_times(raw: str | None, expected: datetime | None) -> None:
    n = parse_alertmanager(encode(_with_alert(startsAt=raw)))

    assert n.alerts[0].starts_at == expected


SMALL = Limits(
    alerts_per_notification=3, labels_per_alert=4, label_name_chars=10, label_value_chars=20
)


def _alerts(count: int) -> list[dict[str, Any]]:
    return [{"status": "firing", "labels": {"alertname": f"A{i}"}} for i in range(count)]


def _labels(count: int) -> dict[str, str]:
    return {f"l{i}": "v" for i in range(count)}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            minimal(alerts=_alerts(4)),
            413,
            "4 alerts exceed the limit of 3 per notification (limits.alerts_per_notification)",
        ),
        (
            minimal(alerts=[*_alerts(1), {"status": "firing", "labels": _labels(5)}]),
            422,
            "alerts.1.labels: 5 entries exceed the limit of 4 (limits.labels_per_alert)",
        ),
        (
            _with_alert(annotations=_labels(5)),
            422,
            "alerts.0.annotations: 5 entries exceed the limit of 4 (limits.labels_per_alert)",
        ),
        (
            minimal(commonLabels=_labels(5)),
            422,
            "commonLabels: 5 entries exceed the limit of 4 (limits.labels_per_alert)",
        ),
        (
            _with_alert(labels={"n" * 11: "v"}),
            422,
            "alerts.0.labels: a name of 11 characters exceeds the limit of 10 "
            "(limits.label_name_chars)",
        ),
    ],
    ids=[
        "too-many-alerts",
        "too-many-labels",
        "too-many-annotations",
        "too-many-common-labels",
        "label-name-too-long",
    ],
)
def test_refuses_what_exceeds_a_limit_naming_the_limit(
    body: dict[str, Any], status: int, message: str
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(encode(body), SMALL)

    assert (caught.value.status_code, caught.value.message) == (status, message)


def test_accepts_what_is_exactly_at_each_limit() -> None:
    alerts = [*_alerts(2), {"status": "firing", "labels": {"n" * 10: "v" * 20, **_labels(3)}}]

    n = parse_alertmanager(encode(minimal(alerts=alerts, commonLabels=_labels(4))), SMALL)

    assert len(n.alerts) == 3
    assert n.alerts[2].labels["n" * 10] == "v" * 20


def test_never_echoes_a_too_long_label_name() -> None:
    name = "secret_token_" + "x" * 2000

    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(encode(_with_alert(labels={name: "v"})))

    assert caught.value.status_code == 422
    assert "limits.label_name_chars" in caught.value.message
    assert "secret_token_" not in caught.value.message


def test_clips_too_long_values_and_keeps_the_alert() -> None:
    long = "0123456789" * 5
    body = minimal(
        alerts=[{"status": "firing", "labels": {"pod": long}, "annotations": {"text": long}}],
        commonLabels={"pod": long},
        groupLabels={"short": "kept"},
    )

    n = parse_alertmanager(encode(body), SMALL)

    clipped = long[:19] + "…"
    assert n.alerts[0].labels == {"pod": clipped}
    assert n.alerts[0].annotations == {"text": clipped}
    # Common labels clip exactly like the alerts' own, so they still say what all alerts share.
    assert n.common_labels == {"pod": clipped}
    assert n.group_labels == {"short": "kept"}


def test_default_limits_take_a_group_of_ten_thousand_alerts_with_long_annotations() -> None:
    alert = {
        "status": "firing",
        "labels": _labels(60),
        "annotations": {"description": "d" * 16 * 1024, **_labels(60)},
    }
    body = minimal(alerts=[alert, *_alerts(9_999)])

    n = parse_alertmanager(encode(body))

    assert len(n.alerts) == 10_000
    assert n.alerts[0].annotations["description"] == "d" * 16 * 1024
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(encode(minimal(alerts=_alerts(10_001))))
    assert caught.value.status_code == 413
