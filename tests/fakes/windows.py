"""Sliding-window rate counters on an injected clock, so tests move time instead of sleeping."""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """At most `limit` accepted messages in any `seconds`-long window ending now."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._hits: deque[float] = deque()

    def full(self, now: float) -> bool:
        # A hit exactly `seconds` old has left the window: 20 sends at t=0 allow one at t=60.
        while self._hits and self._hits[0] <= now - self.seconds:
            self._hits.popleft()
        return len(self._hits) >= self.limit

    def add(self, now: float) -> None:
        self._hits.append(now)
