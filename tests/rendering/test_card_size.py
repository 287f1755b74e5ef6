"""A card that fits is sent without its message being serialized again to measure it; whether
it fits, and its size when a split plan asks, are those of the message itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.models import Alert
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import encode_json
from app.rendering.renderer import _Job
from app.rendering.sandbox import parse_json
from tests.support.cards import CHAT_PLATFORMS, alert, notification, receiver, renderer


def group(count: int, summary: str = "Pod is not ready") -> list[Alert]:
    return [
        alert("KubePodNotReady", labels={"pod": f"checkout-{i}"}, annotations={"summary": summary})
        for i in range(count)
    ]


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
@pytest.mark.parametrize(
    ("count", "summary"), [(1, "short"), (20, "short"), (20, "x" * 900)], ids=["1", "20", "big"]
)
def test_whether_a_card_fits_is_what_measuring_it_says(
    platform: str, count: int, summary: str
) -> None:
    job = _Job(renderer(), receiver(platform), notification(*group(count, summary)))
    card = job.card(0, count, 1, 1, 0)
    assert card is not None
    spec = REGISTRY[platform]
    measured = spec.message_bytes(card.message)
    for limit in (measured - 1, measured, measured + 1, spec.max_message_bytes):
        assert card.fits(limit) == (measured <= limit)
    assert card.size == measured


def test_a_fitting_card_is_not_measured_again() -> None:
    whole_body = [p for p in CHAT_PLATFORMS if REGISTRY[p].message_bytes_at_most("{}") is not None]
    assert whole_body
    for platform in whole_body:
        job = _Job(renderer(), receiver(platform), notification(*group(20)))
        card = job.card(0, 20, 1, 1, 0)
        assert card is not None
        assert card.fits(REGISTRY[platform].max_message_bytes)
        assert card.measured is None


# Numbers that print longer than they read once parsed: no bound is taken from such a text.
GROWING = {
    "exponent": '{"n":1e5}',
    "huge exponent": '{"n":[1E400]}',
    "fraction beyond 1e16": '{"n": 12345678901234567.0}',
    "small exponent": '{"n":-5E-5}',
}


@pytest.mark.parametrize("text", GROWING.values(), ids=GROWING.keys())
def test_a_number_that_may_print_longer_is_found(text: str) -> None:
    value, integral = parse_json(text)
    assert value == json.loads(text)
    assert not integral
    assert len(encode_json(value)) > len(text.encode())


def test_integers_and_fractions_inside_strings_leave_a_text_integral() -> None:
    assert parse_json('{"a":[1,-0,true,null],"b":"x: 1.5e3"}') == (
        {"a": [1, 0, True, None], "b": "x: 1.5e3"},
        True,
    )


JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    value=st.dictionaries(st.text(), JSON, min_size=1, max_size=4),
    ascii_only=st.booleans(),
    indent=st.none() | st.integers(min_value=0, max_value=2),
)
def test_a_text_found_integral_is_never_shorter_than_its_message(
    value: dict[str, Any], ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    parsed, integral = parse_json(text)
    if integral:
        for platform in REGISTRY.values():
            bound = platform.message_bytes_at_most(text)
            assert bound is None or bound >= platform.message_bytes(parsed)
