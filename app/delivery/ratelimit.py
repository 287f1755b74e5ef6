"""Sliding-window rate limiter that keeps one bot under all of its platform's limits at once.

A burst waits here instead of tripping the platform's penalty (DingTalk blocks a robot for ten
minutes after its 21st message in a minute).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from app.platforms.sending import RateLimit

# Our send time and the platform's arrival time differ by network jitter; widening each window
# slightly keeps the platform's count under its limit even when two sends arrive closer together.
WINDOW_MARGIN_FRACTION = 0.05
WINDOW_MARGIN_SECONDS = 0.05


class RateLimiter:
    def __init__(
        self,
        limits: Sequence[RateLimit],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = [
            RateLimit(lim.count, lim.seconds * (1 + WINDOW_MARGIN_FRACTION) + WINDOW_MARGIN_SECONDS)
            for lim in limits
        ]
        self.clock = clock
        self.sleep = sleep
        longest = max((lim.count for lim in self.limits), default=0)
        self.sent: deque[float] = deque(maxlen=longest or None)
        self.blocked_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next send keeps every window within its count."""
        now = self.clock()
        return self._earliest(list(self.sent), now) - now

    def _earliest(self, sent: list[float], now: float) -> float:
        """The first moment from `now` on at which one more send after `sent` is allowed."""
        moment = max(now, self.blocked_until)
        for limit in self.limits:
            if len(sent) >= limit.count:
                moment = max(moment, sent[-limit.count] + limit.seconds)
        return moment

    def slots_within(self, seconds: float, cap: int) -> int:
        """How many sends (at most `cap`) the limits allow from now until `seconds` from now."""
        now = self.clock()
        sent = list(self.sent)
        while len(sent) - len(self.sent) < cap:
            moment = self._earliest(sent, now)
            if moment > now + seconds:
                break
            sent.append(moment)
        return len(sent) - len(self.sent)

    async def wait(self) -> None:
        """Until one more send keeps every window within its count."""
        while (wait := self.delay()) > 0:
            await self.sleep(wait)

    async def acquire(self) -> None:
        """Wait, then count a send now: call it right before the request goes out, since the
        platform counts arrivals."""
        await self.wait()
        self.sent.append(self.clock())

    def seed(self, ages: list[float]) -> None:
        """Start from sends made elsewhere (another replica's, from the shared ledger): each
        `ages` seconds ago, oldest first."""
        now = self.clock()
        self.sent.clear()
        self.sent.extend(now - age for age in ages)

    def block_for(self, seconds: float) -> None:
        """The platform said "too fast": send nothing at all until its penalty is over."""
        self.blocked_until = max(self.blocked_until, self.clock() + seconds)
