"""Storm control: when a receiver's backlog cannot be sent within `max_delay` at its bot's rate
limit, the next send carries a digest of the oldest messages instead of the oldest one, just
enough of them that the rest can still go out in time; digests are spaced at the bot's sustained
rate. The digest's Tally (app/rendering/tally.py) accounts for every alert it replaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.delivery.ratelimit import RateLimiter
from app.models import Message
from app.outbox.contract import Outbox
from app.rendering.tally import Tally

# A digest of thousands of messages is read in steps this big, letting inbound requests in
# between. Reading a queued 20-alert notification whole cost ~110 µs (its summary costs a
# fraction of that), and a request needs several turns of the event loop while three workers
# may each take a step per turn: steps of 50 gave an ack p99 of ~150 ms at 200 notifications/s
# during a storm, steps of 10 ~20 ms, both reading whole notifications.
ITEMS_PER_STEP = 10


class StormControl:
    """Decides how many messages the next send carries, and builds the digest when it is many."""

    def __init__(self, max_delay: float, render: Callable[[Tally], Awaitable[Message]]) -> None:
        self.max_delay = max_delay
        self.render = render

    def coalesce_count(self, due: int, limiter: RateLimiter) -> int:
        """1 while the rest of the backlog can go out within max_delay after this send; else
        the number of oldest messages to fold into this send so that the rest can. Called when
        the limiter has a slot free for this send."""
        slots = limiter.slots_within(self.max_delay, cap=due)  # this send's slot included
        return max(1, due - slots + 1)

    async def digest(self, outbox: Outbox, receiver: str, count: int) -> tuple[Message, Tally]:
        """The digest of the receiver's `count` oldest due messages and their tally, counted
        from their summaries; only the head and the groups shown are read whole. No message is
        rendered for none, or when the head left the queue meanwhile (tally.head is None)."""
        tally = Tally()
        index = 0
        async for queued in outbox.summaries(receiver, count):
            tally.count(queued)
            index += 1
            if index % ITEMS_PER_STEP == 0:
                await asyncio.sleep(0)
        if not tally.ids:
            return {}, tally
        whole = await outbox.items("pending", receiver, [tally.ids[0], *tally.wanted()])
        tally.head = next((item for item in whole if item.id == tally.ids[0]), None)
        tally.supply(whole)
        if tally.head is None:
            return {}, tally
        return await self.render(tally), tally

    @staticmethod
    def spacing(limiter: RateLimiter) -> float:
        """Seconds between digests: the bot's sustained rate (DingTalk 3 s, Feishu 0.6 s). In a
        storm the budget is spread over the window instead of spent in one burst: the group
        gets a steady digest, and alertbridge does not build five a second for Feishu."""
        return max((limit.seconds / limit.count for limit in limiter.limits), default=0.0)
