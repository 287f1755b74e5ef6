"""kube-eventer bodies (default, our custom template, Event objects, lists) → Notification."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from app.config.model import Limits
from app.models import Alert
from app.sources import InvalidPayload
from app.sources.kube_eventer import parse_kube_eventer
from tests.fakes.kube_eventer import default_body, go_quote
from tests.support.paths import FIXTURES
from tests.support.paths import ROOT as REPO_ROOT
from tests.support.strategies import SINK_MESSAGES

HERE = FIXTURES / "kube_eventer"
TEMPLATE = REPO_ROOT / "deploy" / "kube-eventer" / "custom-body.tmpl"


def fixture(name: str) -> bytes:
    return (HERE / name).read_bytes()


def only_alert(body: bytes) -> Alert:
    (alert,) = parse_kube_eventer(body).alerts
    return alert


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def test_reads_the_default_body_byte_for_byte_as_kube_eventer_sends_it() -> None:
    body = fixture("default-body.txt")
    assert body.startswith(b'\n{\n\t"EventType": ')
    assert body.endswith(b'"\n}')

    n = parse_kube_eventer(body)

    assert (n.kind, n.status, n.receiver, n.group_key) == ("event", "firing", "", "")
    (alert,) = n.alerts
    assert alert.status == "firing"
    assert alert.labels == {
        "type": "Warning",
        "kind": "Pod",
        "reason": "BackOff",
        "severity": "warning",
    }
    assert alert.annotations == {
        "message": "Back-off restarting failed container web in pod "
        "web-7c5ddbdf54-x2vq8_shop(8c1e0f3a-2d4b-4c6e-9f10-3a5b7c9d1e2f)"
    }
    assert alert.starts_at == alert.ends_at == utc(2024, 11, 12, 8, 17, 43)
    assert (alert.fingerprint, alert.count) == ("", 1)
    assert n.common_labels == alert.labels
    assert n.common_annotations == alert.annotations


def test_recovers_a_default_body_message_with_raw_newlines_tabs_and_backslashes() -> None:
    body = fixture("default-body-raw-message.txt")
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)

    alert = only_alert(body)

    assert alert.annotations["message"] == (
        "Readiness probe failed: Get http://10.244.1.17:8080/healthz: context deadline exceeded"
        "\n\tlog: C:\\app\\logs\\new\\probe.log\n\\"
    )
    assert alert.labels["reason"] == "Unhealthy"
    assert alert.ends_at == utc(2024, 11, 12, 8, 17, 43, 123456)


def test_reads_the_recommended_custom_body() -> None:
    alert = only_alert(fixture("custom-body.json"))

    assert alert.labels == {
        "type": "Warning",
        "namespace": "shop",
        "kind": "Pod",
        "name": "web-7c5ddbdf54-x2vq8",
        "reason": "Unhealthy",
        "severity": "warning",
        "component": "kubelet",
        "host": "node-3",
    }
    assert alert.annotations["message"] == (
        "Readiness probe failed: HTTP probe failed with statuscode: 503\n"
        "body: {\\status\\:\\down\\}\tpath=C:\\app\\health 健康检查失败"
    )
    assert alert.fingerprint == "3f6d2a9e-5b1c-4e8f-9a07-2c4d6e8f0a1b"
    assert alert.count == 17
    assert alert.starts_at == utc(2024, 11, 12, 8, 2, 11)
    assert alert.ends_at == utc(2024, 11, 12, 8, 17, 43)


def test_reads_go_only_escapes_and_a_zero_first_timestamp_in_the_custom_body() -> None:
    alert = only_alert(fixture("custom-body-go-escapes.json"))

    assert alert.annotations["message"] == (
        "Liveness probe failed: \aping\vtimeout \ufffd\ufffd garbage"
    )
    assert alert.starts_at == alert.ends_at == utc(2024, 11, 12, 8, 17, 43)
    assert alert.count == 1


def test_custom_body_fixture_has_exactly_the_templates_fields() -> None:
    template = TEMPLATE.read_text()
    assert "{{/*" not in template, "kube-eventer renders the ConfigMap verbatim: no comments"

    skeleton = json.loads(re.sub(r"\{\{.*?\}\}", "0", template))

    assert _key_tree(skeleton) == _key_tree(json.loads(fixture("custom-body.json")))


def _key_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _key_tree(v) for k, v in value.items()}
    return None


def test_reads_a_core_v1_event_object() -> None:
    alert = only_alert(fixture("core-v1-event.json"))

    assert alert.labels == {
        "type": "Warning",
        "namespace": "data",
        "kind": "Pod",
        "name": "ingest-worker-0",
        "reason": "FailedScheduling",
        "severity": "warning",
        "component": "default-scheduler",
    }
    assert alert.annotations["message"].startswith("0/6 nodes are available: 3 Insufficient memory")
    assert alert.fingerprint == "a1b2c3d4-e5f6-4789-8abc-def012345678"
    assert alert.count == 4
    assert alert.starts_at == utc(2024, 11, 12, 7, 58, 2)
    assert alert.ends_at == utc(2024, 11, 12, 8, 12, 40)


EVENTS_K8S_IO = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "node-3.1807b", "namespace": "default", "uid": "0d9c-uid"},
    "eventTime": "2024-11-12T08:17:43.123456Z",
    "series": {"count": 3, "lastObservedTime": "2024-11-12T08:20:00.000001Z"},
    "reportingController": "node-controller",
    "reportingInstance": "",
    "action": "NodeNotReady",
    "reason": "NodeNotReady",
    "regarding": {"kind": "Node", "name": "node-3", "apiVersion": "v1"},
    "note": "Node node-3 status is now: NodeNotReady",
    "type": "Normal",
    "deprecatedCount": 0,
}


def test_reads_an_events_k8s_io_v1_event_object() -> None:
    alert = only_alert(json.dumps(EVENTS_K8S_IO).encode())

    assert alert.labels == {
        "type": "Normal",
        "namespace": "default",
        "kind": "Node",
        "name": "node-3",
        "reason": "NodeNotReady",
        "severity": "info",
        "component": "node-controller",
    }
    assert alert.annotations == {"message": "Node node-3 status is now: NodeNotReady"}
    assert (alert.fingerprint, alert.count) == ("0d9c-uid", 3)
    assert alert.starts_at == utc(2024, 11, 12, 8, 17, 43, 123456)
    assert alert.ends_at == utc(2024, 11, 12, 8, 20, 0, 1)


def test_reads_a_list_of_events_and_keeps_only_the_shared_labels_in_common() -> None:
    core = json.loads(fixture("core-v1-event.json"))
    custom = json.loads(fixture("custom-body.json"))

    n = parse_kube_eventer(json.dumps([core, custom]).encode())

    assert [a.labels["reason"] for a in n.alerts] == ["FailedScheduling", "Unhealthy"]
    assert [a.count for a in n.alerts] == [4, 17]
    assert n.common_labels == {"type": "Warning", "kind": "Pod", "severity": "warning"}
    assert n.common_annotations == {}
    assert n.status == "firing"


@pytest.mark.parametrize(
    ("body", "labels", "message"),
    [
        ({"reason": "OOMKilling"}, {"reason": "OOMKilling", "severity": "info"}, None),
        ({"message": "disk full"}, {"severity": "info"}, "disk full"),
        (
            {"event_type": "Warning", "event_reason": "Evicted", "EVENT_MESSAGE": "low memory"},
            {"type": "Warning", "reason": "Evicted", "severity": "warning"},
            "low memory",
        ),
        (
            {"reason": "X", "involvedObject": {"kind": "", "name": None}, "type": "warning"},
            {"reason": "X", "type": "warning", "severity": "warning"},
            None,
        ),
    ],
    ids=["reason-only", "message-only", "other-key-spellings", "empty-values-omitted"],
)
def test_accepts_any_object_with_a_reason_or_a_message(
    body: dict[str, Any], labels: dict[str, str], message: str | None
) -> None:
    alert = only_alert(json.dumps(body).encode())

    assert alert.labels == labels
    assert alert.annotations.get("message") == message
    assert (alert.starts_at, alert.ends_at, alert.fingerprint, alert.count) == (None, None, "", 1)


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2024-11-12 16:17:43 +0800 CST", utc(2024, 11, 12, 8, 17, 43)),
        ("2024-11-12 16:17:43.123456 +0800 CST", utc(2024, 11, 12, 8, 17, 43, 123456)),
        (
            "2024-11-12 16:17:43.123456789 +0800 CST m=+12.345000001",
            utc(2024, 11, 12, 8, 17, 43, 123456),
        ),
        ("2024-11-12 03:17:43 -0500 EST", utc(2024, 11, 12, 8, 17, 43)),
        ("2024-11-12 08:17:43 +0000 UTC", utc(2024, 11, 12, 8, 17, 43)),
        ("2024-11-12T08:17:43Z", utc(2024, 11, 12, 8, 17, 43)),
        ("0001-01-01 00:00:00 +0000 UTC", None),
        ("2024-11-12 25:00:00 +0000 UTC", None),
        ("yesterday", None),
    ],
    ids=[
        "seconds",
        "microseconds",
        "monotonic-suffix",
        "negative-offset",
        "utc",
        "rfc3339",
        "go-zero",
        "impossible-hour",
        "unreadable",
    ],
)
def test_reads_go_time_strings_in_the_default_body(
    event_time: str, expected: datetime | None
) -> None:
    alert = only_alert(default_body(time=event_time))

    assert alert.starts_at == alert.ends_at == expected


@pytest.mark.parametrize(
    ("raw_message", "message"),
    [
        ("line one\n\tline two", "line one\n\tline two"),
        ("dir C:\\data\\x", "dir C:\\data\\x"),
        (
            "bell\\a vt\\v ctl\\x01 bad\\xff smile\\U0001F600",
            "bell\a vt\v ctl\x01 bad\ufffd smile😀",
        ),
        ("kept \\n \\u00e9 \\\\", "kept \n é \\"),
        ("raw \x01 control", "raw \x01 control"),
    ],
    ids=["raw-newline-tab", "lone-backslashes", "go-escapes", "json-escapes", "raw-control"],
)
def test_repairs_string_literals_of_other_templates(raw_message: str, message: str) -> None:
    # Not the byte-exact default body (no leading newline), so it takes the lenient JSON path.
    body = '{"EventReason": "Unhealthy", "EventMessage": "' + raw_message + '"}'

    assert only_alert(body.encode()).annotations["message"] == message


@pytest.mark.parametrize(
    "body",
    [
        b'{"reason": "Back\\ud800Off", "message": "m\\udc00", "involvedObject": {"name": "p"}}',
        b'{"EventReason": "Back\\U0000d800Off", "EventMessage": "m\\uDC00", "x": "raw \x01"}',
    ],
    ids=["json-escapes", "go-escape-on-the-lenient-path"],
)
def test_replaces_lone_surrogates_with_the_replacement_character(body: bytes) -> None:
    alert = only_alert(body)

    assert alert.labels["reason"] == "Back\ufffdOff"
    assert alert.annotations["message"] == "m\ufffd"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "empty body"),
        (b" \n\t", 400, "empty body"),
        (b'{"reason": "X",\n "message": ]', 400, "malformed JSON at line 2 column"),
        (b"\xff\xfe\x00garbage", 400, "malformed JSON at line 1 column 1"),
        (b"{}", 422, "neither a reason nor a message"),
        (b'{"kind": "Event", "count": 3}', 422, "neither a reason nor a message"),
        (b"[]", 422, "empty list"),
        (b'"just a string"', 422, "got a string"),
        (b'[{"reason": "X"}, 7]', 422, "body[1]: expected an event object, got a number"),
        (b'[{"reason": "X"}, {"note": ""}]', 422, "body[1]: event has neither"),
    ],
    ids=[
        "empty",
        "whitespace",
        "broken-json",
        "binary",
        "empty-object",
        "no-reason-or-message",
        "empty-list",
        "string",
        "list-with-number",
        "list-with-empty-event",
    ],
)
def test_rejects_bodies_without_an_event(body: bytes, status: int, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_kube_eventer(body)

    assert caught.value.status_code == status
    assert message in caught.value.message


def test_refuses_more_events_than_the_limit_with_413() -> None:
    events = [{"reason": "BackOff", "message": f"m{i}"} for i in range(3)]

    with pytest.raises(InvalidPayload) as caught:
        parse_kube_eventer(json.dumps(events).encode(), Limits(alerts_per_notification=2))

    assert caught.value.status_code == 413
    assert caught.value.message == (
        "3 events exceed the limit of 2 per notification (limits.alerts_per_notification)"
    )


def test_clips_a_too_long_message_and_keeps_the_event() -> None:
    message = "Back-off restarting failed container " + "x" * 20_000

    n = parse_kube_eventer(default_body(message=message))

    (alert,) = n.alerts
    clipped = alert.annotations["message"]
    assert len(clipped) == Limits().label_value_chars
    assert clipped == message[: len(clipped) - 1] + "…"
    assert n.common_annotations == alert.annotations
    assert alert.labels["reason"] == "BackOff"


@settings(max_examples=200, deadline=None)
@given(SINK_MESSAGES)
def test_recovers_any_message_from_the_default_body_exactly(message: str) -> None:
    alert = only_alert(default_body(message=message))

    assert alert.annotations.get("message", "") == message


@settings(max_examples=200, deadline=None)
@given(SINK_MESSAGES)
def test_recovers_any_message_from_the_custom_body_exactly(message: str) -> None:
    body = fixture("custom-body.json").decode()
    body = re.sub(r'"message": ".*?",\n', lambda _: f'"message": {go_quote(message)},\n', body)

    alert = only_alert(body.encode())

    assert alert.annotations.get("message", "") == message
