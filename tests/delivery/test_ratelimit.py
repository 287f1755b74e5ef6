"""The limiter keeps a bot under every window of its platform's limits."""

from __future__ import annotations

import pytest

from app.delivery.ratelimit import RateLimiter
from app.platforms.sending import RateLimit


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("limits", "sends", "window", "most"),
    [
        ((RateLimit(20, 60),), 60, 60.0, 20),
        ((RateLimit(100, 60), RateLimit(5, 1)), 300, 1.0, 5),
        ((RateLimit(100, 60), RateLimit(5, 1)), 300, 60.0, 100),
    ],
    ids=["dingtalk-20-per-minute", "feishu-5-per-second", "feishu-100-per-minute"],
)
async def test_no_window_ever_holds_more_than_the_limit(
    limits: tuple[RateLimit, ...], sends: int, window: float, most: int
) -> None:
    time = FakeTime()
    limiter = RateLimiter(limits, clock=time.clock, sleep=time.sleep)
    stamps = []
    for _ in range(sends):
        await limiter.acquire()
        stamps.append(time.now)
    busiest = max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)
    assert busiest == most


async def test_burst_under_the_limit_does_not_wait() -> None:
    time = FakeTime()
    limiter = RateLimiter((RateLimit(20, 60),), clock=time.clock, sleep=time.sleep)
    for _ in range(20):
        await limiter.acquire()
    assert time.now == 1000.0


async def test_block_for_pauses_all_sends() -> None:
    time = FakeTime()
    limiter = RateLimiter((RateLimit(20, 60),), clock=time.clock, sleep=time.sleep)
    limiter.block_for(600)
    await limiter.acquire()
    assert time.now == pytest.approx(1600.0)
