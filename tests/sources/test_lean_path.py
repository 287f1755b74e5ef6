"""The lean reading of Alertmanager bodies (orjson and plain checks) takes only bodies the
pydantic models take, and builds the same Notification from them; every other body is left to
the pydantic path (None), whose refusals and clipping the other tests check."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from app.config.model import Limits
from app.sources.alertmanager import AlertmanagerPayload, lean_notification, to_notification
from app.sources.limits import DEFAULT_LIMITS, enforce_limits
from tests.bench.payloads import alertmanager_payload

BASE: dict[str, Any] = json.loads(alertmanager_payload(20).body(1))
Change = Callable[[dict[str, Any]], object]


def first(**changes: Any) -> Change:
    return lambda body: body["alerts"][0].update(changes)


def resolved(body: dict[str, Any]) -> None:
    for alert in body["alerts"]:
        alert["status"] = "resolved"
    body.pop("status")


LEAN: list[Change] = [
    lambda body: None,
    lambda body: body.update(version="4"),
    lambda body: body.pop("status"),
    lambda body: body.update(truncatedAlerts=3, groupLabels=None, extra={"z": [1.5, None]}),
    lambda body: body.update(groupLabels={"b": "2", "a": "1"}),  # no groupKey: derived
    lambda body: body.update(receiver=r"team\.a\\b"),
    lambda body: body.update(alerts=[]),
    first(annotations=None, startsAt="", endsAt=None, status="resolved"),
    resolved,
]
LEFT: list[Change] = [
    lambda body: body.update(version=4),
    lambda body: body.update(version="1"),
    lambda body: body.update(groupKey=None),
    lambda body: body.update(status="pending"),
    lambda body: body.update(truncatedAlerts=-1),
    lambda body: body.update(truncatedAlerts=True),
    lambda body: body.update(truncatedAlerts=1.0),
    lambda body: body.update(groupLabels={"a": 1}),
    lambda body: body.update(group_key="x"),  # a field's Python name
    lambda body: body.pop("alerts"),
    lambda body: body["alerts"].append(5),
    first(labels=None),
    first(startsAt="yesterday"),
    first(starts_at="2024-11-12T08:17:43Z"),
    first(fingerprint=None),
    first(labels={"x": "y" * 20_000}),  # clipped, and logged, by the pydantic path
    first(labels={"n" * 2_000: "y"}),
]


def body_with(change: Change) -> bytes:
    body = copy.deepcopy(BASE)
    change(body)
    return json.dumps(body).encode()


@pytest.mark.parametrize("change", LEAN)
def test_an_ordinary_body_reads_as_pydantic_reads_it(change: Change) -> None:
    body = body_with(change)
    expected = enforce_limits(
        to_notification(AlertmanagerPayload.model_validate_json(body)), DEFAULT_LIMITS
    )
    assert lean_notification(body, DEFAULT_LIMITS) == expected


@pytest.mark.parametrize("change", LEFT)
def test_any_other_body_is_left_to_pydantic(change: Change) -> None:
    assert lean_notification(body_with(change), DEFAULT_LIMITS) is None


def test_a_body_beyond_a_limit_is_left_to_pydantic() -> None:
    body = body_with(lambda body: None)
    assert lean_notification(body, Limits(alerts_per_notification=19)) is None
    assert lean_notification(body, Limits(labels_per_alert=3)) is None
    assert lean_notification(b"{not json", DEFAULT_LIMITS) is None
