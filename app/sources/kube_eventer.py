"""kube-eventer webhook bodies → Notification (kind "event", one Alert per Kubernetes Event).

Accepts kube-eventer's default body (raw text pasted into JSON, often invalid), our recommended
custom body (deploy/kube-eventer/custom-body.tmpl), a core/v1 or events.k8s.io/v1 Event object,
and a list of any of these. Facts: shared/reference/inbound-payloads.md §2.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from app.config.model import Limits
from app.models import Alert, Notification
from app.sources import InvalidPayload
from app.sources.limits import DEFAULT_LIMITS, enforce_limits
from app.text import mend_surrogates

# sinks/webhook/webhook.go defaultBodyTemplate, byte for byte. Nothing in it is escaped, and the
# sink deletes every `"` from the message, so a value is exactly the text up to the next quote.
_DEFAULT_BODY = re.compile(
    r'\n\{\n\t"EventType": "(?P<EventType>[^"]*)",'
    r'\n\t"EventKind": "(?P<EventKind>[^"]*)",'
    r'\n\t"EventReason": "(?P<EventReason>[^"]*)",'
    r'\n\t"EventTime": "(?P<EventTime>[^"]*)",'
    r'\n\t"EventMessage": "(?P<EventMessage>[^"]*)"\n\}\s*'
)

# Where each field lives, as dotted paths of normalised keys (lower case, no "_" or "-"), first
# hit wins: core/v1 Event (also our custom body), events.k8s.io/v1 Event, then the default body.
_TEXT_PATHS: dict[str, tuple[str, ...]] = {
    "type": ("type", "eventtype"),
    "reason": ("reason", "eventreason"),
    "message": ("message", "note", "eventmessage"),
    "kind": ("involvedobject.kind", "regarding.kind", "eventkind"),
    "namespace": ("involvedobject.namespace", "regarding.namespace", "metadata.namespace"),
    "name": ("involvedobject.name", "regarding.name"),
    "component": (
        "source.component",
        "deprecatedsource.component",
        "reportingcomponent",
        "reportingcontroller",
    ),
    "host": ("source.host", "deprecatedsource.host"),
    "uid": ("metadata.uid", "uid"),
}
# events.k8s.io's eventTime is the first observation; the default body's EventTime is kube-eventer's
# "last" (LastTimestamp, else EventTime, else now), so it serves as both ends there.
_FIRST_PATHS = ("firsttimestamp", "deprecatedfirsttimestamp", "eventtime")
_LAST_PATHS = ("lasttimestamp", "deprecatedlasttimestamp", "series.lastobservedtime", "eventtime")
_COUNT_PATHS = ("count", "deprecatedcount", "series.count")
_LABELS = ("type", "namespace", "kind", "name", "reason", "component", "host")

# RFC3339 (custom body, Event JSON) and Go's time.String() (default body), e.g.
# `2024-11-12 16:17:43.123456789 +0800 CST m=+12.345`: the zone name and m= suffix are ignored.
_TIME = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<hh>\d\d):?(?P<mm>\d\d))?"
)
_GO_ZERO_YEAR = 1  # Go's zero time.Time, 0001-01-01 00:00:00 UTC: "never"
_MAX_COUNT_DIGITS = 18
# Kubernetes counts events in an int32; a larger number is kept as this, so that a hostile body
# cannot hand the outbox an integer its JSON encoder refuses (orjson: 64 bits at most).
_MAX_COUNT = 2**31 - 1

# A JSON string literal, a backslash taking the next character whatever it is.
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE_OR_CONTROL = re.compile(
    r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)|[\x00-\x1f]", re.DOTALL
)
_JSON_ESCAPES = frozenset('"\\/bfnrt')
# Escapes Go's %q (strconv.Quote) emits that JSON lacks; \x and \U are handled by value.
_GO_ESCAPES = {"a": "\a", "v": "\v"}


def parse_kube_eventer(body: bytes, limits: Limits = DEFAULT_LIMITS) -> Notification:
    """The Notification in a kube-eventer body, within `limits`; InvalidPayload (400, 413 or 422)
    if there is none."""
    text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if not text.strip():
        raise InvalidPayload("empty body: expected a kube-eventer event", 400)
    events = _load_events(text)
    alerts = [_to_alert(event, _where(i, len(events))) for i, event in enumerate(events)]
    notification = Notification(
        kind="event",
        status="firing",
        alerts=alerts,
        common_labels=_shared([a.labels for a in alerts]),
        common_annotations=_shared([a.annotations for a in alerts]),
    )
    return enforce_limits(notification, limits)


def _load_events(text: str) -> list[dict[str, Any]]:
    # Before any JSON decoding: a default body can be valid JSON and still decode wrongly
    # (a raw `C:\new` in the message would turn into a newline).
    if default := _DEFAULT_BODY.fullmatch(text):
        return [default.groupdict()]
    data = _load_json(text)
    items: list[Any] = data if isinstance(data, list) else [data]
    if not items:
        raise InvalidPayload("body is an empty list: expected at least one event", 422)
    events: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            where = _where(i, len(items))
            raise InvalidPayload(f"{where}expected an event object, got {_json_type(item)}", 422)
        events.append(item)
    return events


def _load_json(text: str) -> Any:
    """Strict JSON, else JSON whose string literals were repaired; 400 if neither parses."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first_error = exc
    except (ValueError, RecursionError):  # json's int digit limit, or the recursion limit
        raise InvalidPayload("unreadable JSON: number too long or nesting too deep", 400) from None
    try:
        return json.loads(_repair(text))
    except (ValueError, RecursionError):
        raise InvalidPayload(
            f"malformed JSON at line {first_error.lineno} column {first_error.colno}: "
            f"{first_error.msg}",
            400,
        ) from None


def _repair(text: str) -> str:
    """Makes kube-eventer's raw template output JSON: escapes raw control characters and lone
    backslashes inside strings, and turns Go-only escapes from %q (\\a, \\v, \\xNN, \\UXXXXXXXX)
    into JSON ones. Valid JSON escapes are kept, so a raw `C:\\new` still reads as a newline: only
    the default body, matched literally above, is recovered exactly."""
    return _STRING.sub(lambda m: '"' + _ESCAPE_OR_CONTROL.sub(_fix_escape, m[1]) + '"', text)


def _fix_escape(match: re.Match[str]) -> str:
    token = match[0]
    if not token.startswith("\\"):
        return _json_chars(token)
    tail = token[1:]
    if tail in _JSON_ESCAPES or (tail[0] == "u" and len(tail) == 5):
        return token
    if tail in _GO_ESCAPES:
        return _json_chars(_GO_ESCAPES[tail])
    if tail[0] == "x" and len(tail) == 3:
        # Go writes \xNN for control bytes and for bytes that are not valid UTF-8.
        code = int(tail[1:], 16)
        return _json_chars(chr(code) if code < 0x80 else "\ufffd")
    if tail[0] == "U" and len(tail) == 9 and int(tail[1:], 16) <= 0x10FFFF:
        return _json_chars(chr(int(tail[1:], 16)))
    return "\\\\" + _json_chars(tail)


def _json_chars(text: str) -> str:
    return json.dumps(text)[1:-1]


def _to_alert(event: dict[str, Any], where: str) -> Alert:
    fields = {name: _text(event, paths) for name, paths in _TEXT_PATHS.items()}
    if not fields["reason"] and not fields["message"]:
        raise InvalidPayload(
            f"{where}event has neither a reason nor a message "
            "(looked for reason/EventReason and message/note/EventMessage)",
            422,
        )
    labels = {name: fields[name] for name in _LABELS if fields[name]}
    labels["severity"] = "warning" if fields["type"].lower() == "warning" else "info"
    last = _time(event, _LAST_PATHS)
    return Alert(
        status="firing",
        labels=labels,
        annotations={"message": fields["message"]} if fields["message"] else {},
        starts_at=_time(event, _FIRST_PATHS) or last,
        ends_at=last,
        fingerprint=fields["uid"],
        count=_count(event),
    )


def _lookup(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = next((v for k, v in node.items() if _normalise(k) == part), None)
    return node


def _normalise(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _text(event: dict[str, Any], paths: tuple[str, ...]) -> str:
    for path in paths:
        value = _lookup(event, path)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            # Lenient like the rest of this parser: a lone surrogate (a "\ud800" escape or Go's
            # \U0000D800) is not text, and becomes U+FFFD rather than cost the event.
            return mend_surrogates(str(value))
    return ""


def _time(event: dict[str, Any], paths: tuple[str, ...]) -> datetime | None:
    for path in paths:
        if (parsed := _parse_time(_lookup(event, path))) is not None:
            return parsed
    return None


def _count(event: dict[str, Any]) -> int:
    for path in _COUNT_PATHS:
        if (count := _as_count(_lookup(event, path))) > 0:
            return count
    return 1  # core/v1 leaves count 0 when events.k8s.io's series carries it


def _as_count(value: Any) -> int:
    return min(_any_count(value), _MAX_COUNT)


def _any_count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdecimal() and len(value) <= _MAX_COUNT_DIGITS:
        return int(value)
    return 0


def _parse_time(value: Any) -> datetime | None:
    """A kube-eventer timestamp (RFC3339, Go time.String() or Unix seconds) in UTC; None when
    absent, zero or unreadable: a bad time must not cost the event."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, ValueError, OSError):
            return None
    if not isinstance(value, str) or not (match := _TIME.match(value)):
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match[7] or "")[:6].ljust(6, "0"))
    try:
        offset = timedelta(hours=int(match["hh"] or 0), minutes=int(match["mm"] or 0))
        zone = timezone(-offset if match["sign"] == "-" else offset)
        parsed = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        return None if parsed.year == _GO_ZERO_YEAR else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _shared(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def _where(index: int, total: int) -> str:
    return f"body[{index}]: " if total > 1 else ""


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def with_static_labels(notification: Notification, labels: dict[str, str]) -> Notification:
    """The events with config `kube_eventer.labels` added (their own labels win)."""
    if not labels:
        return notification
    alerts = [replace(a, labels={**labels, **a.labels}) for a in notification.alerts]
    return replace(notification, alerts=alerts)
