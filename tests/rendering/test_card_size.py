"""A card that fits is sent without its message being serialized again to measure it; whether
it fits, and its size when a split plan asks, are those of the message itself."""

from __future__ import annotations

import pytest

from app.models import Alert
from app.platforms import PLATFORMS as REGISTRY
from app.rendering.renderer import _Job
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
