"""Alertmanager's webhook payload (version 4, and version 3 of Alertmanager before 0.10, which has
no groupKey): pydantic models and their mapping to Notification.

Facts the models encode are in shared/reference/inbound-payloads.md §1 (notify/webhook/webhook.go,
template/template.go); unknown and newer fields (notification_reason, routeLabels) are ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.config.model import Limits
from app.models import Alert, Notification, group_status
from app.sources import InvalidPayload
from app.sources.limits import DEFAULT_LIMITS, enforce_limits, longest
from app.text import has_surrogate

T = TypeVar("T")

SUPPORTED_VERSIONS = ("3", "4")
# How many validation errors one 422 message lists; the rest are counted, not spelled out.
MAX_REPORTED_ERRORS = 5
# Field names in a 422 reason come from the body (label names): shown escaped and clipped.
MAX_NAME_CHARS = 40

# Go's time.RFC3339Nano; Python's datetime holds microseconds, so the fraction is cut to 6 digits.
_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)"
)
# A \uD800-\uDFFF escape: only a body holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Go's zero time.Time, which Alertmanager sends as endsAt of every firing alert.
_GO_ZERO_YEAR = 1


def _parse_time(value: Any) -> datetime | None:
    """An RFC3339 timestamp of any precision as an aware UTC datetime; Go's zero time is None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("rfc3339", "Input should be an RFC3339 timestamp")
    return _rfc3339(value)


# Remembered: the same times come again and again (every firing alert's endsAt, each alert's
# startsAt in every repeat of its group), and parsing two per alert was a fifth of reading a
# body. Only successes are kept (lru_cache does not keep exceptions); datetimes are immutable.
@functools.lru_cache(maxsize=4096)
def _rfc3339(value: str) -> datetime | None:
    if not (match := _RFC3339.fullmatch(value)):
        raise PydanticCustomError("rfc3339", "Input should be an RFC3339 timestamp")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    try:
        parsed = datetime.fromisoformat(f"{match['base']}.{frac}{zone}")
        return None if parsed.year == _GO_ZERO_YEAR else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PydanticCustomError("rfc3339", "Input should be a valid RFC3339 timestamp") from None


def _none_as_empty(value: Any) -> Any:
    # Go marshals a nil map as null; treat it like the empty map it stands for.
    return {} if value is None else value


GoTime = Annotated[datetime | None, BeforeValidator(_parse_time)]
Labels = dict[str, StrictStr]
OptionalLabels = Annotated[Labels, BeforeValidator(_none_as_empty)]


class _Model(BaseModel):
    # extra="ignore": newer Alertmanagers add fields (notification_reason in 0.32, routeLabels in
    # 0.34) and an old alertbridge must keep accepting them.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AlertmanagerAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: OptionalLabels = {}
    starts_at: GoTime = Field(default=None, alias="startsAt")
    ends_at: GoTime = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class AlertmanagerPayload(_Model):
    version: str | None = None
    group_key: str = Field(default="", alias="groupKey")
    # Alertmanager's is a Go uint64; the bound keeps it within what the outbox's encoder takes.
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0, le=2**63 - 1)
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    group_labels: OptionalLabels = Field(default={}, alias="groupLabels")
    common_labels: OptionalLabels = Field(default={}, alias="commonLabels")
    common_annotations: OptionalLabels = Field(default={}, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert]

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        if value is not None and str(value) not in SUPPORTED_VERSIONS:
            raise PydanticCustomError(
                "unsupported_version",
                "Unsupported webhook version {version}; alertbridge understands versions 3 and 4",
                {"version": _shown(repr(value))},
            )
        return None if value is None else str(value)

    @field_validator("receiver")
    @classmethod
    def _unquote_receiver(cls, value: str) -> str:
        return unquote_receiver(value)


def unquote_receiver(value: str) -> str:
    # template.go sends regexp.QuoteMeta(receiver), which puts a backslash before each regexp
    # metacharacter (and before a backslash itself): dropping each escaping backslash undoes it.
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL) if "\\" in value else value


def to_notification(payload: AlertmanagerPayload) -> Notification:
    alerts = [_to_alert(a) for a in payload.alerts]
    return Notification(
        kind="alert",
        status=payload.status or group_status(alerts),
        alerts=alerts,
        receiver=payload.receiver,
        group_key=payload.group_key or group_key_of(payload.group_labels),
        group_labels=dict(payload.group_labels),
        common_labels=dict(payload.common_labels),
        common_annotations=dict(payload.common_annotations),
        external_url=payload.external_url,
        truncated_alerts=payload.truncated_alerts,
    )


def group_key_of(group_labels: dict[str, str]) -> str:
    """The key Alertmanager gives a group, `{}:{a="1", b="2"}` (a route key, then the group
    labels sorted as prometheus/common's LabelSet.String() prints them), for bodies without one
    (version 3): HA peers derive the same key, so their duplicates still collapse. json.dumps
    stands in for Go's strconv.Quote; they differ only on rare control characters."""
    pairs = sorted(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in group_labels.items()
    )
    return "{}:{" + ", ".join(pairs) + "}"


def _to_alert(alert: AlertmanagerAlert) -> Alert:
    return Alert(
        status=alert.status,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        generator_url=alert.generator_url,
        fingerprint=alert.fingerprint,
    )


def parse_alertmanager(body: bytes, limits: Limits = DEFAULT_LIMITS) -> Notification:
    """The Notification in an Alertmanager webhook body, within `limits`; InvalidPayload (400,
    413 or 422) if there is none."""
    notification = validated_json(body, limits)
    if notification is not None:
        return notification
    return alertmanager_notification(load_json(body), limits)


def validated_json(body: bytes, limits: Limits) -> Notification | None:
    """The Notification of a body validated straight from the bytes by pydantic's own JSON
    parser (0.1 ms less than json.loads then model_validate for 20 alerts), or None for a body
    it does not take: the caller then reads that one the slow way, whose refusals say where
    the JSON is broken or which field holds a lone surrogate. A body valid here is never
    Grafana's: Grafana's have version "1" or no alerts, which this model refuses."""
    if _SURROGATE_ESCAPE.search(body):
        return None
    notification = lean_notification(body, limits)
    if notification is not None:
        return notification
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError:
        return None
    return enforce_limits(to_notification(payload), limits)


# Python names of the models' aliased fields: a body may use them (populate_by_name), and one
# that does is left to pydantic, which knows which of the two spellings wins.
_PAYLOAD_NAMES = frozenset(
    (
        "group_key",
        "truncated_alerts",
        "group_labels",
        "common_labels",
        "common_annotations",
        "external_url",
    )
)
_ALERT_NAMES = frozenset(("starts_at", "ends_at", "generator_url"))
_STATUSES = ("firing", "resolved")
_MAX_TRUNCATED = 2**63 - 1


class _NotLean(Exception):
    """The body is not one lean_notification takes: the pydantic path decides about it."""


def lean_notification(body: bytes, limits: Limits) -> Notification | None:
    """The Notification of an ordinary body (every field of the type the models expect, within
    `limits`, no value to clip) read with orjson and plain checks: half the CPU of
    model_validate_json and to_notification (tests/bench/ingest_cpu.py). None for any other
    body, which the pydantic path then reads, with its refusals and clipping: this path
    accepts only bodies the models accept, and builds the same Notification from them."""
    try:
        data = orjson.loads(body)
        if type(data) is not dict or not _PAYLOAD_NAMES.isdisjoint(data):
            return None
        version = data.get("version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            return None
        raw_alerts = _of(list, data, "alerts", None)
        status = data.get("status")
        if len(raw_alerts) > limits.alerts_per_notification or status not in (None, *_STATUSES):
            return None
        alerts = [_lean_alert(a, limits) for a in raw_alerts]
        truncated = _of(int, data, "truncatedAlerts", 0)
        if not 0 <= truncated <= _MAX_TRUNCATED:
            return None
        group_labels = _labels(data.get("groupLabels"), limits)
        return Notification(
            kind="alert",
            status=status or group_status(alerts),
            alerts=alerts,
            receiver=unquote_receiver(_of(str, data, "receiver", "")),
            group_key=_of(str, data, "groupKey", "") or group_key_of(group_labels),
            group_labels=group_labels,
            common_labels=_labels(data.get("commonLabels"), limits),
            common_annotations=_labels(data.get("commonAnnotations"), limits),
            external_url=_of(str, data, "externalURL", ""),
            truncated_alerts=truncated,
        )
    except (orjson.JSONDecodeError, _NotLean, PydanticCustomError):
        return None


def _lean_alert(alert: Any, limits: Limits) -> Alert:
    if type(alert) is not dict or not _ALERT_NAMES.isdisjoint(alert):
        raise _NotLean
    status = alert.get("status")
    if status not in _STATUSES or alert.get("labels") is None:
        raise _NotLean
    return Alert(
        status=status,
        labels=_labels(alert["labels"], limits),
        annotations=_labels(alert.get("annotations"), limits),
        starts_at=_parse_time(alert.get("startsAt")),
        ends_at=_parse_time(alert.get("endsAt")),
        generator_url=_of(str, alert, "generatorURL", ""),
        fingerprint=_of(str, alert, "fingerprint", ""),
    )


def _of(kind: type[T], data: dict[str, Any], key: str, default: T | None) -> T:
    """data[key] if it is exactly of `kind` (not bool for int), `default` if absent."""
    value = data.get(key, default)
    if type(value) is not kind:
        raise _NotLean
    return value


def _labels(pairs: Any, limits: Limits) -> dict[str, str]:
    """A label set (null is empty, as OptionalLabels reads it) within every limit, no value
    to clip; _NotLean otherwise."""
    if pairs is None:
        return {}
    if type(pairs) is not dict or len(pairs) > limits.labels_per_alert:
        raise _NotLean
    try:
        values = "".join(pairs.values())  # TypeError unless every value is a str (StrictStr)
    except TypeError:
        raise _NotLean from None
    # The total first: within the limit, so is every part (a third of the time of max(len)).
    if len("".join(pairs)) > limits.label_name_chars and longest(pairs) > limits.label_name_chars:
        raise _NotLean
    if (
        len(values) > limits.label_value_chars
        and longest(pairs.values()) > limits.label_value_chars
    ):
        raise _NotLean
    return pairs


def alertmanager_notification(data: Any, limits: Limits) -> Notification:
    """The Notification in a decoded Alertmanager webhook body; InvalidPayload (413 or 422)."""
    try:
        payload = AlertmanagerPayload.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(describe_errors(exc), 422) from None
    return enforce_limits(to_notification(payload), limits)


def load_json(body: bytes) -> Any:
    """`body` decoded; InvalidPayload (400) saying where when it is not JSON, 422 naming the
    field that holds a lone surrogate (Alertmanager and Grafana never send one)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", 400
        ) from None
    except UnicodeDecodeError:
        raise InvalidPayload("body is not UTF-8 encoded JSON", 400) from None
    except (ValueError, RecursionError):  # json's int digit limit, or the recursion limit
        raise InvalidPayload("unreadable JSON: number too long or nesting too deep", 400) from None
    if _SURROGATE_ESCAPE.search(body) and (where := _surrogate_at(data)) is not None:
        raise InvalidPayload(
            f"{where or 'body'}: a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape) "
            "is not text",
            422,
        )
    return data


def _surrogate_at(data: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string value holding a lone surrogate, else None.
    Alertmanager never sends one (Go's encoder writes invalid UTF-8 as U+FFFD), and a label
    value that is not text cannot be routed, stored or shown faithfully: refused, not mended."""
    if isinstance(data, str):
        return path if has_surrogate(data) else None
    items: Iterable[tuple[object, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        where = f"{path}.{_shown(str(key))}" if path else _shown(str(key))
        if isinstance(key, str) and has_surrogate(key):
            return where
        if (found := _surrogate_at(value, where)) is not None:
            return found
    return None


def describe_errors(exc: ValidationError) -> str:
    """`alerts.0.status: Input should be ...; ...`: field paths and reasons, never the input."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(_shown(str(p)) for p in err['loc']) or 'body'}: {err['msg']}"
        for err in errors[:MAX_REPORTED_ERRORS]
    ]
    if len(errors) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more errors")
    return "; ".join(parts)


def _shown(text: str) -> str:
    """`text` from the body as one short printable token: no line breaks to forge log lines."""
    if not text.isprintable():
        text = ascii(text)[1:-1]
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 1] + "…"
