"""The search for the most alerts one message can show: exact for growing sizes, and cheap when
the predicted line is good, never worse than halving by more than a few probes when it is not."""

from __future__ import annotations

import math
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rendering.split import MAX_PREDICTED_PROBES, Line, SplitSizes, largest_fitting
from tests.support.profiles import examples


class Cards:
    """Card sizes as a base plus each alert's bytes; records which counts were rendered."""

    def __init__(self, base: int, alert_bytes: list[int], broken_from: int | None = None) -> None:
        self.sizes = [base, *(base + s for s in accumulate(alert_bytes))]
        self.broken_from = broken_from  # from this count on, the template fails
        self.probes: list[int] = []

    def size_of(self, count: int) -> int | None:
        self.probes.append(count)
        if self.broken_from is not None and count >= self.broken_from:
            return None
        return self.sizes[count]

    def most_within(self, limit: int) -> int:
        """What a render of every count would find."""
        return max(k for k, size in enumerate(self.sizes) if size <= limit)


LINES = st.builds(
    Line,
    base=st.floats(min_value=-1_000, max_value=5_000),
    per_alert=st.floats(min_value=-10, max_value=5_000),
)


@given(
    base=st.integers(min_value=0, max_value=3_000),
    alert_bytes=st.lists(st.integers(min_value=0, max_value=3_000), max_size=300),
    limit=st.integers(min_value=0, max_value=30_000),
    line=LINES,
)
@settings(max_examples=examples(300))
def test_finds_what_rendering_every_count_finds_whatever_the_line_predicts(
    base: int, alert_bytes: list[int], limit: int, line: Line
) -> None:
    cards = Cards(base, alert_bytes)
    count = len(alert_bytes)
    found = largest_fitting(count, cards.size_of, limit, line)
    assert found == (cards.most_within(limit) if base <= limit else 0)
    assert all(1 <= probe <= count for probe in cards.probes), "renders only real parts"
    assert len(cards.probes) == len(set(cards.probes)), "renders no count twice"
    halving = math.ceil(math.log2(count + 1)) + 1
    assert len(cards.probes) <= MAX_PREDICTED_PROBES + halving


def test_an_exact_line_settles_in_two_probes() -> None:
    cards = Cards(1_500, [900] * 200)
    found = largest_fitting(200, cards.size_of, 20_000, Line(1_500, 900))
    assert found == cards.most_within(20_000)
    assert cards.probes == [found, found + 1], "the answer, then the count that must not fit"


@pytest.mark.parametrize(
    ("alert_bytes", "limit"),
    [([700, 1100] * 100, 4_096), ([700, 1100] * 100, 20_000), ([300] * 30 + [2_000] * 30, 20_000)],
    ids=["alternating-small", "alternating", "growing"],
)
def test_an_average_line_settles_in_a_few_probes(alert_bytes: list[int], limit: int) -> None:
    cards = Cards(1_500, alert_bytes)
    line = Line(0, (1_500 + sum(alert_bytes)) / len(alert_bytes))  # all the whole card tells
    found = largest_fitting(len(alert_bytes), cards.size_of, limit, line)
    assert found == cards.most_within(limit)
    assert len(cards.probes) <= 5, cards.probes


def test_a_card_that_does_not_render_counts_as_too_big() -> None:
    cards = Cards(100, [100] * 50, broken_from=7)
    assert largest_fitting(50, cards.size_of, 10_000, Line(100, 100)) == 6


def test_nothing_fits_when_even_one_alert_is_too_big() -> None:
    cards = Cards(100, [50_000, 10])
    assert largest_fitting(2, cards.size_of, 20_000, Line(0, 1_000)) == 0
    assert cards.probes[-1] == 1


def test_split_sizes_learn_the_base_and_the_bytes_of_the_alerts_left() -> None:
    sizes = SplitSizes(
        whole=1_000 + 100 * 50, alerts=100, limit=20_000
    )  # a base and 100 alerts of 50 bytes
    assert sizes.line() == Line(0, 60), "all the whole card says: no base known yet"
    sizes.placed(30, 1_000 + 30 * 50)
    assert sizes.line() == Line(1_000, 50)
    sizes.placed(20, 1_000 + 20 * 50)
    assert sizes.line() == Line(1_000, 50)
    sizes.placed(10, None)  # a part that was not measured takes its share of the bytes left
    assert sizes.line() == Line(1_000, 50)


def test_split_sizes_foretell_the_parts_from_the_whole_card_then_from_the_pace() -> None:
    sizes = SplitSizes(whole=50_000, alerts=100, limit=20_000)
    assert sizes.parts() == 3  # 50 KB in parts of 20 KB less one alert of 500 bytes
    sizes.placed(30, 19_800)
    assert sizes.parts() == 1 + 3  # 70 alerts left at 30 a part
    sizes.placed(40, 19_900)
    assert sizes.parts() == 2 + 1  # 30 left at 35 a part
    assert SplitSizes(whole=50_000, alerts=2, limit=20_000).parts() == 2, "an alert a part"
