"""`alertbridge` with its own per-bot rate limiter lifted, for the delivery-capacity benchmark only:
the service as shipped never sends faster than the platforms' documented limits (Feishu 5/s,
DingTalk and WeCom 20/min), so what its outbox → send → ack loop could do is hidden behind them.
Every sender gets one limit of 1,000 messages per window, which the limiter widens to 50 ms
(app/ratelimit.py WINDOW_MARGIN_SECONDS): 20,000/s per bot, beyond anything measured here.

    python -m tests.bench.unthrottled serve --config ... (the arguments of `alertbridge`)
"""

from __future__ import annotations

import sys

from app.cli.main import main
from app.platforms import PLATFORMS as REGISTRY
from app.platforms.sending import RateLimit

UNTHROTTLED = (RateLimit(1000, 0.0),)


def lift_rate_limits() -> None:
    for sender in (p.sender for p in REGISTRY.values()):
        sender.RATE_LIMITS = UNTHROTTLED


if __name__ == "__main__":
    lift_rate_limits()
    sys.exit(main())
