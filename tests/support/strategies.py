"""Hypothesis strategies for what alertbridge reads: hostile text, and valid Alertmanager v4
payloads and kube-eventer bodies (default body, Event objects, lists) carrying it, each as a
Body that knows which ids its labels may mention. Shared by the parser and renderer properties
(tests/sources/test_parser_properties.py, tests/rendering/test_renderer_properties.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from app.config.model import Limits
from app.models import Notification
from app.sources.alertmanager import parse_alertmanager
from app.sources.grafana import parse_alertmanager_or_grafana, parse_grafana
from app.sources.kube_eventer import parse_kube_eventer
from app.text import mend_surrogates
from tests.fakes.kube_eventer import default_body

PARSERS: dict[str, Callable[..., Notification]] = {
    "alertmanager": parse_alertmanager,
    "kube-eventer": parse_kube_eventer,
    "grafana": parse_grafana,
    "alertmanager-or-grafana": parse_alertmanager_or_grafana,
}

GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert
# The generated times stay a few days inside datetime's range: the calendar's last day is
# test_renders_times_at_the_end_of_the_calendar's (a known bug).
LATEST = datetime(9999, 12, 28)
# Many small alerts or a few big ones: 300 alerts of 20 KB each would only time the JSON parser.
MAX_BODY_CHARS = 300_000

# -- text ------------------------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        '"',
        "\\",
        '\\"',
        "\n",
        "\r\n",
        "\t",
        "\x00",
        "\x7f",
        "\u2028",
        "\u202e",
        "\ufeff",
        "\ud800",  # a lone surrogate, as a JSON "\ud800" escape decodes
        "<at id=all></at>",
        '<at user_id="all"></at>',
        "<at id=ou_alpha></at>",
        "@all",
        "@13800000000",
        "<@all>",
        "<@zhangsan>",
        "</font>",
        "<font color=red>",
        "**",
        "~~",
        "_",
        "`",
        "[link](http://evil.example/)",
        "# ",
        "\n- ",
        "\n1. ",
        "===",
        "{{ x }}",
        "{% raw %}",
        "&lt;at&gt;",
        "&amp;",
        "NaN",
        "}",
        "中文告警",
        "🚨",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=30), NASTY), max_size=6).map("".join)
# A value long enough to overflow a message on its own: a short text repeated.
BIG_TEXT = st.builds(
    lambda text, size: (text * size)[:size],
    st.builds(str.__add__, NASTY, TEXT),
    st.integers(min_value=500, max_value=6_000),
)
VALUE = st.sampled_from([TEXT, TEXT, TEXT, TEXT, BIG_TEXT]).flatmap(lambda strategy: strategy)
LABEL_NAME = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,30}", fullmatch=True), TEXT)
URL = st.one_of(
    TEXT,
    st.builds(
        "{}://{}".format, st.sampled_from(["http", "https", "HTTP", "javascript", "ftp"]), TEXT
    ),
    st.sampled_from(
        [
            "",
            "http://prometheus.example:9090/graph?g0.expr=up%7Bjob%3D%22x%22%7D&g0.tab=1",
            "https://user:pw@grafana.example/d/abc",
            "http://p.example/a)b(c",
            "http://p.example/@all",
            "http://p.example/<at id=all>",
            "http://[::1",
        ]
    ),
)

# -- mentions --------------------------------------------------------------------------------

# Ids that are valid for mentioning, and tokens a mention label may hold that must never ping.
USER_IDS = ("ou_alpha", "ou_beta", "zhangsan", "user.1")
MOBILES = ("13800000000", "+852-12345678")
NOT_IDS = ("all", "@all", "ALL", "<at id=all></at>", "<@all>", 'a"b', "ou_x>", "@", "x" * 65)
SEPARATOR = st.sampled_from([",", " ", ";", ", ", "\n"])


def id_list(ids: Iterable[str]) -> st.SearchStrategy[str]:
    tokens = st.lists(st.sampled_from([*ids, *NOT_IDS]), max_size=5)
    return st.builds(lambda items, sep: sep.join(items), tokens, SEPARATOR)


def named_ids(maps: Iterable[dict[str, Any]], key: str, valid: Iterable[str]) -> set[str]:
    """The valid ids listed under `key` in any of the maps: who may be mentioned dynamically."""
    listed: set[str] = set()
    for mapping in maps:
        value = mapping.get(key)
        if isinstance(value, str):
            listed |= {t.strip().removeprefix("@") for t in re.split(r"[,;\s]+", value)}
    return listed & set(valid)


# -- Alertmanager payloads -------------------------------------------------------------------


def rfc3339(moment: datetime, fraction: str, zone: str) -> str:
    """Go's RFC3339Nano, zero-padded years included (strftime does not pad years below 1000)."""
    base = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    return base + (f".{fraction}" if fraction else "") + zone


TIMESTAMP = st.one_of(
    st.just(GO_ZERO_TIME),
    st.builds(
        rfc3339,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=LATEST),
        st.text(alphabet="0123456789", max_size=9),
        st.sampled_from(["Z", "+00:00", "+08:00", "-05:30", "+14:00", "-12:00"]),
    ),
)
LABELS = st.dictionaries(LABEL_NAME, VALUE, max_size=6)
# So many labels that even values clipped to a few characters overflow a card: plain-text fallback.
CROWDED_LABELS = st.builds(
    lambda count, value: {f"label_{i}": value for i in range(count)},
    st.integers(min_value=300, max_value=1_500),
    TEXT,
)


# Crowded alerts go past the default limits.labels_per_alert on purpose: the limit can be raised,
# and the cards must cope with whatever it lets through.
CROWDED_LIMITS = Limits(labels_per_alert=2_000)


@st.composite
def alert_labels(draw: st.DrawFn) -> dict[str, str]:
    named = st.fixed_dictionaries(
        {},
        optional={
            "alertname": TEXT,
            "severity": st.sampled_from(["critical", "warning", "info"]) | TEXT,
            "mention_users": id_list(USER_IDS),
            "mention_mobiles": id_list(MOBILES),
        },
    )
    crowded = draw(st.sampled_from([False] * 9 + [True]))  # parsed with CROWDED_LIMITS
    return (draw(CROWDED_LABELS) if crowded else {}) | draw(LABELS) | draw(named)


@st.composite
def alert_annotations(draw: st.DrawFn) -> dict[str, str]:
    named = st.fixed_dictionaries(
        {},
        optional={
            "summary": VALUE,
            "description": VALUE,
            "message": VALUE,
            "runbook_url": URL,
            "mention_users": id_list(USER_IDS),
        },
    )
    return draw(LABELS) | draw(named)


ALERT = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": alert_labels(),
        "annotations": alert_annotations(),
        "startsAt": TIMESTAMP,
        "endsAt": TIMESTAMP,
        "generatorURL": URL,
        "fingerprint": st.text(alphabet="0123456789abcdef", max_size=16),
    }
)
OPTIONAL_MAP = LABELS | st.none()  # Go marshals a nil map as null


def numbered(alerts: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` alerts cycling through `alerts`, each made distinct as Alertmanager's are."""
    return [
        {
            **alerts[i % len(alerts)],
            "labels": {**alerts[i % len(alerts)]["labels"], "instance": f"node-{i}"},
            "fingerprint": f"{i:016x}",
        }
        for i in range(count)
    ]


def affordable(prototypes: list[dict[str, Any]]) -> int:
    """How many copies of these prototypes keep a body within MAX_BODY_CHARS (at least one)."""
    per_copy = len(json.dumps(prototypes)) / len(prototypes)
    return max(1, int(MAX_BODY_CHARS // per_copy))


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON as Go or Python might write it; a lone surrogate forces the \\u escape."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


@dataclass(frozen=True)
class Body:
    """A valid body of one source and the ids its labels may mention."""

    source: str
    raw: bytes
    users: frozenset[str] = frozenset()
    mobiles: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        return f"Body({self.source}, {self.raw[:2000]!r}{'...' if len(self.raw) > 2000 else ''})"


@st.composite
def alertmanager_bodies(draw: st.DrawFn, max_alerts: int = 300) -> Body:
    prototypes = draw(st.lists(ALERT, min_size=1, max_size=3))
    count = min(draw(st.integers(min_value=1, max_value=max_alerts)), affordable(prototypes))
    alerts = numbered(prototypes, count)
    payload = draw(
        st.fixed_dictionaries(
            {"alerts": st.just(alerts)},
            optional={
                "version": st.just("4"),
                "status": st.sampled_from(["firing", "resolved"]),
                "receiver": TEXT,
                "groupKey": TEXT,
                "truncatedAlerts": st.integers(min_value=0, max_value=10**12),
                "groupLabels": OPTIONAL_MAP,
                "commonLabels": OPTIONAL_MAP,
                "commonAnnotations": OPTIONAL_MAP,
                "externalURL": URL,
            },
        )
    )
    # Alertmanager never sends a lone surrogate (Go writes invalid UTF-8 as U+FFFD), and a body
    # holding one is refused with a 422 naming the field: a valid body has U+FFFD in its place.
    payload = mended(payload)
    maps = [m for a in payload["alerts"] for m in (a["labels"], a["annotations"])]
    return Body(
        "alertmanager",
        encode(payload, draw(st.booleans())),
        frozenset(named_ids(maps, "mention_users", USER_IDS)),
        frozenset(named_ids(maps, "mention_mobiles", MOBILES)),
    )


def mended(value: Any) -> Any:
    """`value` with every lone surrogate in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return mend_surrogates(value)
    if isinstance(value, dict):
        return {mended(k): mended(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mended(v) for v in value]
    return value


# -- kube-eventer bodies ---------------------------------------------------------------------

EVENT_TIME = TIMESTAMP | st.integers(min_value=0, max_value=2**40)
EVENT = st.fixed_dictionaries(
    {
        "reason": st.builds(str.__add__, st.sampled_from(["BackOff", "Unhealthy", "Failed"]), TEXT),
        "message": VALUE,
        "type": st.sampled_from(["Warning", "Normal"]) | TEXT,
    },
    optional={
        "metadata": st.fixed_dictionaries({"uid": TEXT, "namespace": TEXT}),
        "involvedObject": st.fixed_dictionaries({"kind": TEXT, "name": VALUE, "namespace": TEXT}),
        "source": st.fixed_dictionaries({"component": TEXT, "host": TEXT}),
        "count": st.integers(min_value=0, max_value=10**6),
        "firstTimestamp": EVENT_TIME,
        "lastTimestamp": EVENT_TIME,
    },
)
DEFAULT_BODY_TIME = st.sampled_from(
    ["2024-11-12 16:17:43.123456789 +0800 CST m=+12.345", "2024-11-12T08:17:43Z", "", "garbage"]
)


@st.composite
def kube_eventer_bodies(draw: st.DrawFn, max_events: int = 300) -> Body:
    shape = draw(st.sampled_from(["default", "object", "list"]))
    if shape == "default":
        # The sink deletes every `"` from the message and pastes the rest in raw, as UTF-8.
        message = draw(VALUE).replace('"', "").encode(errors="replace").decode()
        return Body("kube-eventer", default_body(message, draw(DEFAULT_BODY_TIME)))
    prototypes = draw(st.lists(EVENT, min_size=1, max_size=3))
    if shape == "object":
        return Body("kube-eventer", encode(prototypes[0], draw(st.booleans())))
    count = min(draw(st.integers(min_value=1, max_value=max_events)), affordable(prototypes))
    events = [{**prototypes[i % len(prototypes)], "count": i + 1} for i in range(count)]
    return Body("kube-eventer", encode(events, draw(st.booleans())))


# Message text as kube-eventer's sink leaves it: every `"` deleted, everything else (\, newlines,
# tabs) raw.
SINK_MESSAGES = st.text(max_size=200).map(lambda text: text.replace('"', ""))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
