"""The outbox's JSON form of a Notification: a lossless round trip, and rows written before a
field existed still decode (with that field's default)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from app.models import Alert, Notification, notification_from_json, notification_to_json

GRAFANA_ALERT = Alert(
    status="firing",
    labels={"alertname": "High memory usage", "team": "blue"},
    annotations={"summary": "zone us-1"},
    starts_at=datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC),
    ends_at=None,
    generator_url="https://play.grafana.org/alerting/1afz29v7z/edit",
    fingerprint="c6eadffa33fcdf37",
    links={"silence": "https://play.grafana.org/alerting/silence/new?matcher=team%3Dblue"},
    value="B=44.2394, C=1",
)


def test_round_trips_grafana_links_and_value() -> None:
    notification = Notification(
        kind="alert", status="firing", alerts=[GRAFANA_ALERT], group_key="{}:{}"
    )

    assert notification_from_json(notification_to_json(notification)) == notification


def test_decodes_rows_written_before_links_and_value_existed() -> None:
    row = json.loads(
        notification_to_json(Notification(kind="alert", status="firing", alerts=[GRAFANA_ALERT]))
    )
    for alert in row["alerts"]:
        del alert["links"], alert["value"]

    (decoded,) = notification_from_json(json.dumps(row)).alerts

    assert (decoded.links, decoded.value) == ({}, "")
    assert decoded.fingerprint == GRAFANA_ALERT.fingerprint


def test_narrowing_to_some_alerts_keeps_every_other_field() -> None:
    resolved = Alert(
        **{**{f.name: getattr(GRAFANA_ALERT, f.name) for f in fields(Alert)}, "status": "resolved"}
    )
    notification = Notification(
        kind="alert",
        status="firing",
        alerts=[GRAFANA_ALERT, resolved],
        receiver="grafana",
        group_key="{}:{}",
        group_labels={"team": "blue"},
        common_labels={"team": "blue"},
        common_annotations={"summary": "zone us-1"},
        external_url="https://play.grafana.org/",
        truncated_alerts=3,
        from_grafana=True,
    )

    narrowed = notification.with_alerts([resolved])

    assert (narrowed.alerts, narrowed.status) == ([resolved], "resolved")
    for field in fields(Notification):
        if field.name not in ("alerts", "status"):
            assert getattr(narrowed, field.name) == getattr(notification, field.name), field.name
