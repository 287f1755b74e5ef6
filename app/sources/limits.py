"""What one inbound notification may hold (config `limits:`), applied by every source after
parsing: too many alerts or labels, or a too long label name, is refused; a too long value is
clipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace

from app.config.model import Limits
from app.models import Notification
from app.sources import InvalidPayload
from app.text import clip

log = logging.getLogger("alertbridge.limits")
DEFAULT_LIMITS = Limits()

# Where a label set sits, as the parts of its path in the body: ("alerts", 3, "labels").
Where = tuple[str | int, ...]


def enforce_limits(notification: Notification, limits: Limits) -> Notification:
    """`notification` with values longer than the limit clipped; InvalidPayload when it holds
    too many alerts (413: the request is too large, like an oversized body) or a label set with
    too many entries or a too long name (422: one part has an impossible shape). Messages name
    the limit and its config key, never the offending name or value."""
    count = len(notification.alerts)
    if count > limits.alerts_per_notification:
        raise InvalidPayload(
            f"{count} {_noun(notification)} exceed the limit of "
            f"{limits.alerts_per_notification} per notification (limits.alerts_per_notification)",
            413,
        )
    # One pass, and only len() per name and value: it runs on every request, over every label.
    too_long = 0
    for where, pairs in _label_sets(notification):
        if len(pairs) > limits.labels_per_alert or longest(pairs) > limits.label_name_chars:
            raise InvalidPayload(f"{'.'.join(map(str, where))}: {_problem(pairs, limits)}", 422)
        too_long += longest(pairs.values()) > limits.label_value_chars
    if not too_long:
        return notification
    return _clip_values(notification, limits.label_value_chars, too_long)


def _problem(pairs: dict[str, str], limits: Limits) -> str:
    if len(pairs) > limits.labels_per_alert:
        return (
            f"{len(pairs)} entries exceed the limit of {limits.labels_per_alert} "
            "(limits.labels_per_alert)"
        )
    return (
        f"a name of {longest(pairs)} characters exceeds the limit of {limits.label_name_chars} "
        "(limits.label_name_chars)"
    )


def longest(texts: Iterable[str]) -> int:
    return max(map(len, texts), default=0)


def _clip_values(notification: Notification, limit: int, clipped: int) -> Notification:
    # Clipped and accepted, not refused: Alertmanager never retries a 4xx, so a refusal would
    # lose every alert of the group over one long annotation, while a card shows far less of a
    # value than this anyway. The body limit already bounds the memory; this bounds what routing
    # matches against, the outbox stores and a template walks. Clipping is deterministic, so an
    # HA peer's copy still de-duplicates against the first.
    log.warning(
        "clipped values longer than %d characters (limits.label_value_chars) in %d label sets",
        limit,
        clipped,
    )
    alerts = [
        replace(a, labels=_clipped(a.labels, limit), annotations=_clipped(a.annotations, limit))
        for a in notification.alerts
    ]
    return replace(
        notification,
        alerts=alerts,
        group_labels=_clipped(notification.group_labels, limit),
        common_labels=_clipped(notification.common_labels, limit),
        common_annotations=_clipped(notification.common_annotations, limit),
    )


def _clipped(pairs: dict[str, str], limit: int) -> dict[str, str]:
    if longest(pairs.values()) <= limit:
        return pairs
    return {name: clip(value, limit) for name, value in pairs.items()}


def _label_sets(notification: Notification) -> Iterator[tuple[Where, dict[str, str]]]:
    """Every label set with its path, named as in an Alertmanager body."""
    yield ("groupLabels",), notification.group_labels
    yield ("commonLabels",), notification.common_labels
    yield ("commonAnnotations",), notification.common_annotations
    noun = _noun(notification)
    for i, alert in enumerate(notification.alerts):
        yield (noun, i, "labels"), alert.labels
        yield (noun, i, "annotations"), alert.annotations


def _noun(notification: Notification) -> str:
    return "alerts" if notification.kind == "alert" else "events"
