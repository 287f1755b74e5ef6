"""Grafana Alerting's webhook contact point: its body (Alertmanager's, `version` "1", plus
orgId/title/state/message and per alert silence, dashboard, panel and image URLs and the
evaluated values) and the legacy body of Grafana 8 and before (ruleName, ruleUrl, evalMatches),
each as a Notification of kind "alert".

Facts: shared/reference/inbound-payloads.md §3 (grafana/alerting templates/template_data.go
ExtendedAlert, receivers/webhook/v1/webhook.go; Grafana's "Configure the webhook notifier" page).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from app.config.model import Limits
from app.models import Alert, Notification, Status
from app.sources import InvalidPayload
from app.sources.alertmanager import (
    AlertmanagerAlert,
    AlertmanagerPayload,
    OptionalLabels,
    alertmanager_notification,
    describe_errors,
    load_json,
    to_notification,
    validated_json,
)
from app.sources.limits import DEFAULT_LIMITS, enforce_limits
from app.text import clip

GRAFANA_VERSION = "1"
# A card shows the first few query values; a rule rarely has more than three (query, reduce,
# threshold), and a long list would crowd out the summary.
MAX_VALUES = 8
# Fields only Grafana's body has: with version "1", any of them marks a body as Grafana's.
GRAFANA_FIELDS = ("orgId", "state", "title")
LEGACY_FIELDS = ("ruleName", "ruleUrl", "evalMatches")
# Legacy states that mean the rule is not alerting (Grafana 8 models/alert.go AlertStateType).
LEGACY_RESOLVED = frozenset({"ok", "paused"})
# One entry of the deprecated valueString: "[ var='B' labels={instance=a} value=97.2 ]"; Grafana
# before 9.1 wrote metric= instead of var=.
_VALUE_STRING_ENTRY = re.compile(
    r"\[ (?:var|metric)='(?P<name>[^']*)' labels=\{(?P<labels>[^}]*)\} value=(?P<value>[^ \]]*) \]"
)


def _none_as_empty(value: Any) -> Any:
    # Go marshals a nil map (a test notification's values) as null.
    return {} if value is None else value


def _none_as_no_matches(value: Any) -> Any:
    return [] if value is None else value


Values = Annotated[dict[str, float], BeforeValidator(_none_as_empty)]


class GrafanaAlert(AlertmanagerAlert):
    silence_url: str = Field(default="", alias="silenceURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    values: Values = Field(default_factory=dict)
    value_string: str = Field(default="", alias="valueString")


class GrafanaPayload(AlertmanagerPayload):
    """Alertmanager's payload with Grafana's fields; title, state and message are documented as
    "will be deprecated soon", and status says the same as state, so they are only checked."""

    alerts: list[GrafanaAlert]  # type: ignore[assignment]  # pydantic narrows a field this way
    org_id: int | None = Field(default=None, alias="orgId")
    title: str = ""
    state: str = ""
    message: str = ""

    # Replaces AlertmanagerPayload's check of the same name.
    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        if value is not None and str(value) != GRAFANA_VERSION:
            raise PydanticCustomError(
                "unsupported_version",
                "Unsupported Grafana webhook version {version}; alertbridge understands version 1",
                {"version": repr(value)[:40]},
            )
        return None if value is None else str(value)


class EvalMatch(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    value: float | None = None
    metric: str = ""
    tags: OptionalLabels = {}


class LegacyPayload(BaseModel):
    """The body of Grafana's legacy alerting webhook notifier (Grafana 8 and before)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    title: str = ""
    rule_id: int = Field(default=0, alias="ruleId")
    rule_name: str = Field(default="", alias="ruleName")
    rule_url: str = Field(default="", alias="ruleUrl")
    state: Literal["ok", "alerting", "no_data", "paused", "pending", "unknown"]
    image_url: str = Field(default="", alias="imageUrl")
    message: str = ""
    eval_matches: Annotated[list[EvalMatch], BeforeValidator(_none_as_no_matches)] = Field(
        default=[], alias="evalMatches"
    )
    org_id: int = Field(default=0, alias="orgId")
    tags: OptionalLabels = {}


def is_grafana(data: Any) -> bool:
    """Whether a decoded body is Grafana's rather than Alertmanager's."""
    if not isinstance(data, dict):
        return False
    if data.get("version") == GRAFANA_VERSION and any(f in data for f in GRAFANA_FIELDS):
        return True
    return is_legacy(data)


def is_legacy(data: dict[str, Any]) -> bool:
    return "alerts" not in data and any(f in data for f in LEGACY_FIELDS)


def parse_grafana(body: bytes, limits: Limits = DEFAULT_LIMITS) -> Notification:
    """The Notification in a Grafana webhook body, either format, within `limits`;
    InvalidPayload (400, 413 or 422) if there is none."""
    return grafana_notification(load_json(body), limits)


def parse_alertmanager_or_grafana(body: bytes, limits: Limits = DEFAULT_LIMITS) -> Notification:
    """What /alertmanager reads: an Alertmanager body, or a Grafana one recognised by its fields,
    so a Grafana contact point pointed at either route works."""
    notification = validated_json(body, limits)
    if notification is not None:
        return notification
    data = load_json(body)
    if is_grafana(data):
        return grafana_notification(data, limits)
    return alertmanager_notification(data, limits)


def grafana_notification(data: Any, limits: Limits) -> Notification:
    try:
        if isinstance(data, dict) and is_legacy(data):
            notification = legacy_notification(LegacyPayload.model_validate(data), limits)
        else:
            notification = unified_notification(GrafanaPayload.model_validate(data), limits)
    except ValidationError as exc:
        raise InvalidPayload(describe_errors(exc), 422) from None
    return enforce_limits(notification, limits)


def unified_notification(payload: GrafanaPayload, limits: Limits) -> Notification:
    """Alertmanager's mapping, each alert with its Grafana links and value added. The group key,
    fingerprints and times are Grafana's own, so HA copies collapse in dedup as Alertmanager's."""
    notification = to_notification(payload)
    alerts = [
        _with_grafana_fields(alert, raw, limits.label_value_chars)
        for alert, raw in zip(notification.alerts, payload.alerts, strict=True)
    ]
    return replace(notification, alerts=alerts, from_grafana=True)


def _with_grafana_fields(alert: Alert, raw: GrafanaAlert, limit: int) -> Alert:
    urls = {
        "silence": raw.silence_url,
        "dashboard": raw.dashboard_url,
        "panel": raw.panel_url,
        "image": raw.image_url,
    }
    value = values_text(raw.values) if raw.values else value_string_text(raw.value_string)
    return replace(alert, links=_links(urls, limit), value=clip(value, limit))


def _links(urls: dict[str, str], limit: int) -> dict[str, str]:
    # A URL cut short is a wrong link: one over the value limit is dropped, not clipped.
    return {name: url for name, url in urls.items() if url and len(url) <= limit}


def values_text(values: dict[str, float]) -> str:
    """`{"B": 97.19, "C": 1}` as "B=97.19, C=1", by query ref id."""
    names = sorted(values)
    shown = [f"{name}={readable(values[name])}" for name in names[:MAX_VALUES]]
    return ", ".join(shown + (["…"] if len(names) > MAX_VALUES else []))


def value_string_text(value_string: str) -> str:
    """The deprecated valueString made readable, "[ var='B' labels={} value=97.2 ]" as "B=97.2";
    text in any other form is kept as it is."""
    entries = list(_VALUE_STRING_ENTRY.finditer(value_string))
    if not entries:
        return value_string.strip()
    parts = []
    for entry in entries[:MAX_VALUES]:
        labels = f"{{{entry['labels']}}}" if entry["labels"] else ""
        name = f"{entry['name']}{labels}"
        value = _readable_text(entry["value"])
        parts.append(f"{name}={value}" if name else value)
    return ", ".join(parts + (["…"] if len(entries) > MAX_VALUES else []))


def _readable_text(value: str) -> str:
    try:
        return readable(float(value))
    except ValueError:
        return value


def readable(value: float) -> str:
    """A number as a person reads it: 1 not 1.0, 44.2394 not 44.23943737541908, 1234567.89 not
    1.23457e+06."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.6g}"
    return f"{value:.2f}" if "e" in text and abs(value) >= 1 else text


def legacy_notification(payload: LegacyPayload, limits: Limits) -> Notification:
    """One alert for the rule. The body has no times and no fingerprint: the rule and its state
    stand in for them, so a state seen again within the dedup window is not sent twice."""
    status: Status = "resolved" if payload.state in LEGACY_RESOLVED else "firing"
    name = payload.rule_name or payload.title or "Grafana alert"
    alert = Alert(
        status=status,
        labels={**payload.tags, "alertname": name, "grafana_state": payload.state},
        annotations={"message": payload.message} if payload.message else {},
        starts_at=None,
        ends_at=None,
        generator_url=payload.rule_url,
        fingerprint=f"{payload.org_id}/{payload.rule_id}",
        links=_links({"image": payload.image_url}, limits.label_value_chars),
        value=clip(_eval_matches_text(payload.eval_matches), limits.label_value_chars),
    )
    return Notification(
        kind="alert",
        status=status,
        alerts=[alert],
        group_key=f"grafana-legacy:{payload.org_id}/{payload.rule_id}:{payload.state}",
        from_grafana=True,
    )


def _eval_matches_text(matches: list[EvalMatch]) -> str:
    parts = [
        f"{m.metric}={_optional(m.value)}" if m.metric else _optional(m.value)
        for m in matches[:MAX_VALUES]
    ]
    return ", ".join(parts + (["…"] if len(matches) > MAX_VALUES else []))


def _optional(value: float | None) -> str:
    return "null" if value is None else readable(value)
