"""A card's size may be read off its rendered JSON text (Sender.message_bytes_at_most) only
when that never says less than measuring the message (Sender.message_bytes) does. The bound is
for texts whose numbers are all integers; rendering checks that (tests/rendering/test_card_size)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.platforms import PLATFORMS
from app.platforms.base import Platform

ALL = list(PLATFORMS.values())
WHOLE_BODY = [p for p in ALL if p.message_bytes_at_most('{"a":"b"}') is not None]

# Texts whose message prints shorter than they read, or as long.
SHRINKING = {
    "whitespace": '{ "msgtype" : "text" ,\n "text" : { "content" : "hi" } }',
    "escaped angle brackets": '{"msgtype":"text","c":"\\u003cat id=all\\u003e"}',
    "escaped slash": '{"msgtype":"text","c":"a\\/b"}',
    "surrogate pair": '{"msgtype":"text","c":"\\ud83d\\ude00"}',
    "lone surrogate": '{"msgtype":"text","c":"\\ud800"}',
    "control characters": '{"msgtype":"text","c":"\\u0001\\n\\t\\""}',
    "duplicate keys": '{"msgtype":"text","c":"long long","c":"x"}',
    "negative zero": '{"msgtype":"text","n":-0}',
    "fraction inside a string": '{"msgtype":"text","c":"x: 1.5e3"}',
    "non-ascii": '{"msgtype":"text","c":"告警 🔴"}',
}


def ids(platforms: list[Platform]) -> list[str]:
    return [p.name for p in platforms]


def holds(platform: Platform, text: str) -> bool:
    bound = platform.message_bytes_at_most(text)
    return bound is None or bound >= platform.message_bytes(json.loads(text))


def test_most_platforms_count_the_whole_body() -> None:
    assert len(WHOLE_BODY) >= 2


@pytest.mark.parametrize("platform", ALL, ids=ids(ALL))
@pytest.mark.parametrize("text", SHRINKING.values(), ids=SHRINKING.keys())
def test_the_bound_is_never_below_the_measured_size(platform: Platform, text: str) -> None:
    assert holds(platform, text)


@pytest.mark.parametrize("platform", WHOLE_BODY, ids=ids(WHOLE_BODY))
@pytest.mark.parametrize("text", SHRINKING.values(), ids=SHRINKING.keys())
def test_a_whole_body_is_bounded_by_the_length_of_its_text(platform: Platform, text: str) -> None:
    assert platform.message_bytes_at_most(text) == len(text.encode(errors="replace"))


INTEGRAL_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    value=st.dictionaries(st.text(), INTEGRAL_JSON, min_size=1, max_size=4),
    ascii_only=st.booleans(),
    indent=st.none() | st.integers(min_value=0, max_value=2),
)
def test_the_bound_holds_for_any_text_of_integers(
    value: dict[str, Any], ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    assert all(holds(platform, text) for platform in ALL)
