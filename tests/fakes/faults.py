"""Scripted infrastructure failures in front of a bot: 503s, garbage bodies, JSON that is not the
platform's answer, requests that hang."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

FailMode = Literal["5xx", "hang", "garbage", "empty", "alien"]
FAIL_MODES: tuple[FailMode, ...] = ("5xx", "hang", "garbage", "empty", "alien")

# A hung request checks this often whether its client has given up.
HANG_POLL_SECONDS = 0.02
# ...and answers anyway after this long, so a forgotten hang cannot pin a server thread forever.
HANG_MAX_SECONDS = 600.0
# What a load balancer in front of the platform says when it cannot reach it.
GARBAGE_BODY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
# HTTP 200 with JSON that is not the platform's answer: an empty object, or what some other
# service (a health endpoint behind a misrouted proxy) says. Neither carries the success code.
EMPTY_BODY: dict[str, object] = {}
ALIEN_BODY: dict[str, object] = {"status": "ok", "service": "ingress-default-backend"}


@dataclass(slots=True)
class Fault:
    mode: FailMode
    remaining: int | None  # None: until healed.

    def take(self) -> bool:
        """Consume one failure; True while this fault still applies afterwards."""
        if self.remaining is not None:
            self.remaining -= 1
        return self.remaining is None or self.remaining > 0


def status_of(mode: FailMode) -> int | None:
    """The HTTP status the client will see, None when it will see nothing."""
    return {"5xx": 503, "garbage": 200, "empty": 200, "alien": 200, "hang": None}[mode]


async def respond(mode: FailMode, request: Request) -> Response:
    if mode == "5xx":
        return PlainTextResponse("503 Service Temporarily Unavailable", status_code=503)
    if mode == "garbage":
        return HTMLResponse(GARBAGE_BODY, status_code=200)
    if mode in ("empty", "alien"):
        return JSONResponse(EMPTY_BODY if mode == "empty" else ALIEN_BODY, status_code=200)
    await _hang(request)
    return Response(status_code=504)  # Nobody is listening any more; this is never seen.


async def _hang(request: Request) -> None:
    # asyncio.sleep in the serving loop: cancellable (httpx.ASGITransport runs the app in the
    # caller's task, so a client-side timeout cancels it), and on a real server the loop notices
    # the client disconnecting, so uvicorn can shut down without waiting for us.
    deadline = time.monotonic() + HANG_MAX_SECONDS
    # Polling, not an Event: a disconnect is only visible by asking the ASGI receive channel.
    while time.monotonic() < deadline and not await request.is_disconnected():  # noqa: ASYNC110
        await asyncio.sleep(HANG_POLL_SECONDS)
