"""Properties of the renderer over generated input (Hypothesis): any valid Alertmanager v4
payload, and any event body kube-eventer sends, renders for every platform to messages the
platform accepts: valid JSON within its size limit, mentioning nobody the receiver's config did
not name, and accepted by the fake bot (signature, keyword, shape and size checked as the real
platform does) when the real sender posts it.

40 examples per platform (every message is posted to the fake bot); `HYPOTHESIS_PROFILE=long`
runs 5,000 (tests/support/profiles.py), which takes tens of minutes:

    HYPOTHESIS_PROFILE=long python3 -m pytest tests/rendering/test_renderer_properties.py
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.config.model import Receiver
from app.models import Message
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import encode_json
from app.rendering.renderer import MAX_PARTS, Renderer
from app.rendering.sandbox import message_strings
from app.sources.alertmanager import parse_alertmanager
from app.sources.kube_eventer import parse_kube_eventer
from app.text import clean_text
from tests.fakes.chatbots import FakeBots
from tests.support.bots import SECRETS, TOKENS, add_bot, webhook_url
from tests.support.cards import PLATFORMS
from tests.support.profiles import examples
from tests.support.strategies import (
    CROWDED_LIMITS,
    MOBILES,
    PARSERS,
    USER_IDS,
    Body,
    alertmanager_bodies,
    kube_eventer_bodies,
)

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
