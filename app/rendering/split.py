"""The search for the most alerts a message can show: the largest count whose card fits the size
limit, in few renders, by predicting sizes from a straight line and checking the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# Predicted probes per search before it falls back to halving the range: a good prediction needs
# two (the count, and the count plus one that must not fit); a bad one must not cost O(n).
MAX_PREDICTED_PROBES = 4


@dataclass(frozen=True, slots=True)
class Line:
    """A card's size in bytes against the number of alerts it shows: base + per_alert * count."""

    base: float
    per_alert: float

    def most_within(self, limit: int) -> int:
        """The largest count this line keeps within `limit` (1 when it cannot tell)."""
        return max(0, _alerts_in(limit - self.base, self.per_alert))


def largest_fitting(
    count: int,
    size_of: Callable[[int], int | None],
    limit: int,
    line: Line,
) -> int:
    """The largest k in 0..count with size_of(k) <= limit; None (no card) counts as too big.

    Sizes must grow with k (more alerts, more bytes): then the answer is exact, whatever the
    line predicts. Only counts from 1 up are rendered, none twice. Every probe narrows the
    range, so a bad line costs at most MAX_PREDICTED_PROBES probes more than halving would.
    """
    low, high = 0, count + 1  # low fits (none always does), high does not (none are left)
    seen: dict[int, int] = {}
    guess, probes = line.most_within(limit), 0
    while high - low > 1:
        probe = min(max(guess, low + 1), high - 1)
        size = size_of(probe)
        probes += 1
        if size is not None:
            seen[probe] = size
        if size is not None and size <= limit:
            low = probe
        else:
            high = probe
        if probes < MAX_PREDICTED_PROBES and size is not None:
            guess = probe + _alerts_in(limit - size, _slope(seen, low, high, line))
        else:
            guess = (low + high) // 2
    return low


def _slope(seen: dict[int, int], low: int, high: int, line: Line) -> float:
    """Bytes per alert: between the two ends of the range when both were measured."""
    if low in seen and high in seen:
        return (seen[high] - seen[low]) / (high - low)
    return line.per_alert


def _alerts_in(room: float, per_alert: float) -> int:
    """How many alerts of `per_alert` bytes fill `room` (negative: how many to take away);
    1 when the slope says nothing (a template that prints no alert, say): try one more."""
    alerts = room / per_alert if per_alert > 0 else math.nan
    return math.floor(alerts) if math.isfinite(alerts) else 1


class SplitSizes:
    """What the cards rendered so far say about sizes: the line each part's search starts from.

    The whole card holds every alert once; the first part measured splits a card into its base
    and its alerts; from then on the alerts not yet placed are, on average, what is left over.
    """

    def __init__(self, whole: int, alerts: int, limit: int) -> None:
        self.whole = whole
        self.alerts = alerts
        self.limit = limit
        self.base = 0.0  # unknown until a part is measured: 0 errs towards too many alerts
        self.rest_bytes = float(whole)  # of the alerts not yet placed (with a base, at first)
        self.rest = alerts
        self.measured = False
        self.planned = 0  # parts

    def line(self) -> Line:
        return Line(self.base, self.rest_bytes / max(self.rest, 1))

    def parts(self) -> int:
        """How many parts all the alerts will likely take: at first from the whole card (a part
        falls short by up to one alert that did not fit), then at the pace of the parts so far."""
        if self.planned:
            pace = (self.alerts - self.rest) / self.planned
            return self.planned + math.ceil(self.rest / pace)
        room = self.limit - self.whole / self.alerts
        return math.ceil(self.whole / room) if room > 0 else self.alerts

    def placed(self, count: int, size: int | None) -> None:
        """A part takes `count` alerts in a card of `size` bytes (None: not measured)."""
        if size is None:
            self.rest_bytes -= self.rest_bytes * count / max(self.rest, 1)
        elif self.measured:
            self.rest_bytes -= size - self.base
        else:  # the whole card less this part: the bytes of the rest, without any base
            self.rest_bytes -= size
            per_alert = self.rest_bytes / max(self.rest - count, 1)
            self.base = max(0.0, size - count * per_alert)
            self.measured = True
        self.rest -= count
        self.planned += 1
