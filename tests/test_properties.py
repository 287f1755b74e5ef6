"""Properties of the parsers and the renderer over generated input (Hypothesis).

- Any valid Alertmanager v4 payload, and any event body kube-eventer sends, parses and renders for
  every platform to messages the platform accepts: valid JSON within its size limit, mentioning
  nobody the receiver's config did not name, and accepted by the fake bot (signature, keyword,
  shape and size checked as the real platform does) when the real sender posts it.
- Both parsers raise nothing but InvalidPayload whatever the bytes, and say why in one short line.

Each property runs a modest number of examples (40 per platform for rendering, which posts every
message to the fake bot; 50-150 for the parsers): about 15 s in all on an idle machine.
`HYPOTHESIS_PROFILE=long` runs 5,000 of each (support/profiles.py), which takes tens of minutes:

    HYPOTHESIS_PROFILE=long python3 -m pytest tests/test_properties.py
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.config.model import Limits, Receiver
from app.models import Message, Notification
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import encode_json
from app.rendering.renderer import MAX_PARTS, Renderer
from app.rendering.sandbox import message_strings
from app.sources import InvalidPayload
from app.sources.alertmanager import parse_alertmanager
from app.sources.kube_eventer import parse_kube_eventer
from app.text import clean_text, mend_surrogates
from tests.fakes.chatbots import FakeBots
from tests.sources.test_kube_eventer import MESSAGES, default_body
from tests.support.bots import SECRETS, TOKENS, add_bot, webhook_url
from tests.support.profiles import examples

PLATFORMS = ("feishu", "dingtalk", "wecom", "console")
PARSERS: dict[str, Callable[..., Notification]] = {
    "alertmanager": parse_alertmanager,
    "kube-eventer": parse_kube_eventer,
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


# -- receivers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the receiver's config says: its keyword, its static mentions, the cards' time zone."""

    keyword: str | None
    everyone: bool
    users: tuple[str, ...]
    mobiles: tuple[str, ...]
    timezone: str

    def receiver(self, platform: str) -> Receiver:
        url = "" if platform == "console" else webhook_url(platform, TOKENS.get(platform, ""))
        mentions = {"all": self.everyone, "users": self.users, "mobiles": self.mobiles}
        return Receiver.model_validate(
            {
                "name": "ops",
                "platform": platform,
                "webhook_url": url,
                "secret": SECRETS.get(platform),
                "keyword": self.keyword,
                "mentions": mentions,
            }
        )


OPTIONS = st.builds(
    Options,
    # "<", ">" and "@" would make the keyword itself look like a mention: test_cards has those.
    keyword=st.none()
    | st.text(
        st.characters(categories=["L", "N", "P", "S"], exclude_characters="<>@\uff20"),
        min_size=1,
        max_size=9,
    ),
    everyone=st.booleans(),
    users=st.lists(st.sampled_from(USER_IDS), max_size=2, unique=True).map(tuple),
    mobiles=st.lists(st.sampled_from(MOBILES), max_size=2, unique=True).map(tuple),
    timezone=st.sampled_from(["Asia/Shanghai", "UTC", "America/St_Johns", "Pacific/Kiritimati"]),
)

# -- what a message mentions -----------------------------------------------------------------

# A link target may hold an "@" (user@host); no platform pings from inside a URL.
URL_TEXT = re.compile(r"https?://[^\s)\"]*", re.IGNORECASE)
FEISHU_TAG = re.compile(r"<at\b[^>]*>")
FEISHU_MENTION = re.compile(r'<at (?:id=([^\s>"]+)|user_id="([^"]+)")>')
WECOM_TAG = re.compile(r"<@([^>]*)>")
AT_TOKEN = re.compile(r"@(\S*)")


@dataclass(frozen=True)
class Mentioned:
    everyone: bool
    ids: frozenset[str]


def texts_of(message: Message) -> Iterator[str]:
    for text in message_strings(message):
        yield URL_TEXT.sub("", text)


def mentioned(platform: str, message: Message) -> Mentioned:
    """Who `message` pings on `platform` (chat-platforms.md 1.4, 2.4, 3.4), plus anything that
    looks like a mention: a tag that is not the exact mention syntax counts as mentioning "?"."""
    ids: set[str] = set()
    everyone = False
    if platform == "feishu":
        for text in texts_of(message):
            for tag in FEISHU_TAG.findall(text):
                found = FEISHU_MENTION.fullmatch(tag)
                ids.add((found.group(1) or found.group(2)) if found else "?")
        everyone = "all" in ids
    elif platform == "dingtalk":
        at = message.get("at", {})
        everyone = at.get("isAtAll") is True
        ids |= set(at.get("atUserIds", [])) | set(at.get("atMobiles", []))
        for text in texts_of(message):  # "@id" in the text is where DingTalk highlights a ping
            ids |= set(AT_TOKEN.findall(text))
    elif platform == "wecom":
        text_part = message.get("text", {})
        listed = [*text_part.get("mentioned_list", []), *text_part.get("mentioned_mobile_list", [])]
        for text in texts_of(message):
            ids |= set(WECOM_TAG.findall(text))
            ids |= set(AT_TOKEN.findall(WECOM_TAG.sub("", text)))
        ids |= set(listed)
        everyone = bool({"all", "@all"} & ids)
    return Mentioned(everyone, frozenset(ids - {"all", "@all"}))


# -- rendering and posting -------------------------------------------------------------------

TEMPLATE_ERRORS: list[tuple[str, str]] = []


@functools.cache
def renderer_in(timezone: str) -> Renderer:
    """One renderer per zone for the whole run: templates compile once, as in the service."""
    return Renderer(
        timezone=timezone, on_template_error=lambda *names: TEMPLATE_ERRORS.append(names)
    )


async def post_all(platform: str, messages: list[Message], keyword: str | None) -> FakeBots:
    """Sign and post each message with the real sender to a fresh fake bot of the platform."""
    bots = FakeBots()
    bots.set_rate_limits(False)
    checks_keyword = keyword is not None and platform != "wecom"
    add_bot(bots, platform, TOKENS[platform], **({"keywords": [keyword]} if checks_keyword else {}))
    transport = httpx.ASGITransport(app=bots.app)
    async with httpx.AsyncClient(transport=transport) as client:
        url = webhook_url(platform, TOKENS[platform])
        sender = REGISTRY[platform].sender(url, SECRETS.get(platform), client)
        for message in messages:
            await sender.send(message)  # SendError, with the platform's code, if refused
    return bots


def check_messages(platform: str, body: Body, options: Options, messages: list[Message]) -> None:
    sender = REGISTRY[platform].sender
    assert 1 <= len(messages) <= MAX_PARTS
    for part, message in enumerate(messages):
        assert json.loads(encode_json(message)) == message, "not a JSON object that round-trips"
        assert sender.message_bytes(message) <= sender.MAX_MESSAGE_BYTES, "over the size limit"
        assert clean_text(options.keyword or "") in "\n".join(message_strings(message))
        if platform == "console":
            continue
        found = mentioned(platform, message)
        allowed = set(options.users) | set(options.mobiles) | body.users | body.mobiles
        assert found.ids <= allowed, f"part {part + 1} mentions {sorted(found.ids - allowed)}"
        # Everyone only when configured, and only once per notification: on its first part.
        assert not found.everyone or (options.everyone and part == 0), f"@all on part {part + 1}"


@pytest.mark.parametrize("platform", PLATFORMS)
@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=alertmanager_bodies() | kube_eventer_bodies(), options=OPTIONS)
def test_any_valid_payload_renders_to_messages_the_platform_accepts(
    platform: str, body: Body, options: Options
) -> None:
    notification = PARSERS[body.source](body.raw, CROWDED_LIMITS)
    TEMPLATE_ERRORS.clear()

    messages = renderer_in(options.timezone).render(options.receiver(platform), notification)

    assert TEMPLATE_ERRORS == [], "a built-in card failed"
    event(f"{len(messages)} part(s)")
    event("type " + ", ".join(sorted({str(m.get("msg_type", m.get("msgtype"))) for m in messages})))
    check_messages(platform, body, options, messages)
    if platform != "console":
        bots = asyncio.run(post_all(platform, messages, options.keyword))
        assert len(bots.received) == len(messages)


# -- the calendar's last day ----------------------------------------------------------------

END_OF_TIME = "9999-12-31T23:59:59.999999999Z"


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"alerts": [{"status": "firing", "labels": {}, "startsAt": END_OF_TIME}]}),
        json.dumps(
            {"alerts": [{"status": "resolved", "labels": {}, "endsAt": "9999-12-31T20:00:00Z"}]}
        ),
        json.dumps({"reason": "BackOff", "lastTimestamp": "9999-12-31T23:00:00Z"}),
        json.dumps({"reason": "BackOff", "firstTimestamp": 253_402_300_000}),
    ],
    ids=["alert-starts-at", "alert-ends-at", "event-last-seen", "event-unix-seconds"],
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_renders_times_at_the_end_of_the_calendar(platform: str, raw: str) -> None:
    parse = parse_alertmanager if raw.startswith('{"alerts"') else parse_kube_eventer
    options = Options(None, False, (), (), "Asia/Shanghai")

    messages = renderer_in(options.timezone).render(options.receiver(platform), parse(raw.encode()))

    check_messages(platform, Body("any", raw.encode()), options, messages)


# -- the parsers are total -------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
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
    default_body, MESSAGES, EVENT_TIMES | st.text(max_size=40).map(lambda t: t.replace('"', ""))
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
