"""Properties of the parsers over hostile input (Hypothesis): both raise nothing but
InvalidPayload whatever the bytes, and say why in one short line.

150 and 50 examples per parser; `HYPOTHESIS_PROFILE=long` runs 5,000 of each
(tests/support/profiles.py):

    HYPOTHESIS_PROFILE=long python3 -m pytest tests/sources/test_parser_properties.py
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.models import Notification
from app.sources import InvalidPayload
from app.sources.alertmanager import parse_alertmanager
from app.sources.grafana import parse_grafana
from app.sources.kube_eventer import parse_kube_eventer
from tests.fakes.kube_eventer import default_body
from tests.support.profiles import examples
from tests.support.strategies import (
    JSON_VALUES,
    PARSERS,
    SINK_MESSAGES,
    TIMESTAMP,
    alertmanager_bodies,
    kube_eventer_bodies,
)

MALFORMED = st.sampled_from(
    [
        b"",
        b" \n\t",
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        "{}".encode("utf-16"),
        b"\xff\xfe\x00",
        b"[" * 100_000,  # deeper than the recursion limit
        b'{"alerts": ' * 10_000,
        b"9" * 5_000,  # longer than Python's int digit limit
        b"1e999999",
        b"-",
        b"NaN",
        b"[NaN, Infinity, -Infinity]",
        b'"\\ud800"',
        b'{"alerts": [{"status": "firing", "labels": {"a": "\\udfff"}}]}',
        b"\x00",
        b'{"a": 1, "a": 2}',
    ]
)
ALERT_SHAPES = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | JSON_VALUES},
    optional={
        "labels": st.dictionaries(st.text(), st.text()) | JSON_VALUES,
        "annotations": st.dictionaries(st.text(), st.text()) | JSON_VALUES,
        "startsAt": TIMESTAMP | st.datetimes().map(str) | JSON_VALUES,
        "endsAt": st.sampled_from(["9999-12-31T23:59:59-23:59", "2024-02-30T00:00:00Z"])
        | JSON_VALUES,
        "fingerprint": JSON_VALUES,
    },
)
PAYLOAD_SHAPES = st.fixed_dictionaries(
    {"alerts": st.lists(ALERT_SHAPES, max_size=3) | JSON_VALUES},
    optional={
        "version": st.sampled_from(["4", 4, "3"]) | JSON_VALUES,
        "receiver": st.text() | JSON_VALUES,
        "truncatedAlerts": JSON_VALUES,
        "commonLabels": JSON_VALUES,
        "status": JSON_VALUES,
    },
)
EVENT_TIMES = st.sampled_from(
    ["0001-01-01T00:00:00Z", "9999-12-31 23:59:59 -2359 X", "2024-11-12 16:17:43 +9999 CST"]
)
EVENT_SHAPES = st.fixed_dictionaries(
    {},
    optional={
        key: EVENT_TIMES | st.integers() | JSON_VALUES
        for key in (
            "type",
            "reason",
            "message",
            "note",
            "count",
            "deprecatedCount",
            "series",
            "metadata",
            "involvedObject",
            "regarding",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "eventTime",
        )
    },
)
JSONISH_TEXT = st.text(alphabet=st.sampled_from('{}[]":,\\ \n\tabu01xU'), max_size=60)
DEFAULT_BODIES = st.builds(
    default_body,
    SINK_MESSAGES,
    EVENT_TIMES | st.text(max_size=40).map(lambda t: t.replace('"', "")),
)


def mutate(raw: bytes, at: int, cut: int, insert: bytes) -> bytes:
    """`raw` with `cut` bytes at `at` replaced by `insert`: a body damaged on the way."""
    at %= len(raw) + 1
    return raw[:at] + insert + raw[at + cut :]


HOSTILE_BODIES = st.one_of(
    st.binary(max_size=300),
    MALFORMED,
    JSONISH_TEXT.map(str.encode),
    DEFAULT_BODIES,
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    PAYLOAD_SHAPES.map(lambda value: json.dumps(value).encode()),
    st.lists(EVENT_SHAPES, max_size=3).map(lambda value: json.dumps(value).encode()),
    EVENT_SHAPES.map(lambda value: json.dumps(value).encode()),
    st.builds(
        mutate,
        st.one_of(alertmanager_bodies(max_alerts=3), kube_eventer_bodies(max_events=3)).map(
            lambda body: body.raw
        ),
        st.integers(min_value=0),
        st.integers(min_value=0, max_value=8),
        st.binary(max_size=8) | st.sampled_from([b'"', b"\\", b"\n", b"\xff", b"{", b"]"]),
    ),
)
# Names and values that would put a forged line into the service's log through a 422 reason.
FORGED_LOG_LINES = [
    json.dumps({"alerts": [{"status": "firing", "labels": {"x\nERROR forged log line": 1}}]}),
    json.dumps(["x\nERROR forged log line"]),
]
MAX_REASON_CHARS = 1_000


def refusal_of(parse: Callable[[bytes], Notification], body: bytes) -> InvalidPayload | None:
    """What `parse` refused `body` with; None if it parsed. Any other exception propagates."""
    try:
        parse(body)
    except InvalidPayload as exc:
        return exc
    return None


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
@settings(max_examples=examples(150), deadline=None)
@given(body=HOSTILE_BODIES)
def test_parsers_raise_nothing_but_invalid_payload(
    parse: Callable[[bytes], Notification], body: bytes
) -> None:
    refusal = refusal_of(parse, body)

    if refusal is not None:
        assert refusal.status_code in (400, 422)
        assert refusal.message


@pytest.mark.parametrize(
    "parse",
    [
        pytest.param(parse_alertmanager, id="alertmanager"),
        pytest.param(parse_kube_eventer, id="kube-eventer"),
        pytest.param(parse_grafana, id="grafana"),
    ],
)
@settings(max_examples=examples(50), deadline=None)
@given(body=HOSTILE_BODIES)
@example(body=FORGED_LOG_LINES[0].encode())
@example(body=FORGED_LOG_LINES[1].encode())
def test_invalid_payload_reasons_are_one_short_line(
    parse: Callable[[bytes], Notification], body: bytes
) -> None:
    refusal = refusal_of(parse, body)

    if refusal is not None:
        assert len(refusal.message) <= MAX_REASON_CHARS
        assert refusal.message.isprintable(), "a control character or line break in the reason"
