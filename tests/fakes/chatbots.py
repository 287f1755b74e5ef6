"""FakeBots: one ASGI app faking the Feishu, DingTalk and WeCom group-bot webhooks.

Behaves like reference/chat-platforms.md sections 1.8, 2.8 and 3.8: signatures and timestamps
checked, size and rate limits enforced with the real codes, business errors inside HTTP 200.
Use it in-process through httpx.ASGITransport or on loopback through tests.fakes.server.

The app may run on a server thread while a test reads and scripts it from another thread, so all
state is plain data guarded by one threading.Lock that is never held across an await.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import dingtalk, faults, feishu, wecom
from tests.fakes.faults import FAIL_MODES, FailMode, Fault
from tests.fakes.records import Attempt, Platform, Received, Reply, parse_object

FEISHU_PATH = "/open-apis/bot/v2/hook/{token}"
DINGTALK_PATH = "/robot/send"
WECOM_PATH = "/cgi-bin/webhook/send"
WAIT_POLL_SECONDS = 0.01

Decide = Callable[[bytes, float], Reply]


class FakeBots:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._feishu: dict[str, feishu.FeishuBot] = {}
        self._dingtalk: dict[str, dingtalk.DingtalkBot] = {}
        self._wecom: dict[str, wecom.WecomBot] = {}
        self._faults: dict[str, Fault] = {}
        self._rate_limits = True
        # An unknown DingTalk token has no bot to take its code from: the last add_dingtalk wins.
        self._dingtalk_bad_token_code = 300001
        self.received: list[Received] = []
        self.attempts: list[Attempt] = []
        self.app = Starlette(
            routes=[
                Route(FEISHU_PATH, self._feishu_route, methods=["POST"]),
                Route(DINGTALK_PATH, self._dingtalk_route, methods=["POST"]),
                Route(WECOM_PATH, self._wecom_route, methods=["POST"]),
            ]
        )

    # -- scripting -------------------------------------------------------------------------

    def add_feishu(
        self,
        token: str,
        *,
        secret: str | None = None,
        keywords: Sequence[str] = (),
        rate_variant: Literal["11232", "9499"] = "11232",
        bad_request_status: Literal[200, 400] = 200,
    ) -> None:
        if rate_variant not in ("11232", "9499"):
            raise ValueError(f"unknown Feishu rate_variant {rate_variant!r}")
        bot = feishu.FeishuBot(
            token, secret, _keywords(keywords), rate_variant, bad_request_status=bad_request_status
        )
        with self._lock:
            self._feishu[token] = bot

    def add_dingtalk(
        self,
        token: str,
        *,
        secret: str | None = None,
        keywords: Sequence[str] = (),
        rate_code: int = 130101,
        penalty_seconds: float = 600.0,
        bad_token_code: int = 300001,
    ) -> None:
        bot = dingtalk.DingtalkBot(token, secret, _keywords(keywords), rate_code, penalty_seconds)
        with self._lock:
            self._dingtalk[token] = bot
            self._dingtalk_bad_token_code = bad_token_code

    def add_wecom(self, key: str, *, text_limit: int = wecom.TEXT_MAX_BYTES) -> None:
        with self._lock:
            self._wecom[key] = wecom.WecomBot(key, text_limit)

    def fail(self, token: str, mode: FailMode, times: int | None = None) -> None:
        """The next `times` requests to `token` (None: until heal) fail in `mode`, before any
        platform check runs and without counting towards its rate limits."""
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {mode!r}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for until heal()")
        with self._lock:
            self._faults[token] = Fault(mode, times)

    def heal(self, token: str) -> None:
        with self._lock:
            self._faults.pop(token, None)

    def set_rate_limits(self, enabled: bool) -> None:
        with self._lock:
            self._rate_limits = enabled

    # -- inspection ------------------------------------------------------------------------

    def messages(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received if r.token == token]

    # The brief fixes this signature; a timeout argument reads better than asyncio.timeout here.
    async def wait_for(
        self,
        predicate: Callable[[], bool | Awaitable[bool]],
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Poll `predicate` (sync or async) until true; raise TimeoutError after `timeout` real
        seconds (the injected clock is for the platforms' windows and may stand still)."""
        deadline = time.monotonic() + timeout
        while not await _truth(predicate()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(WAIT_POLL_SECONDS)

    # -- routes ----------------------------------------------------------------------------

    async def _feishu_route(self, request: Request) -> Response:
        token = request.path_params["token"]

        def decide(raw: bytes, now: float) -> Reply:
            return feishu.answer(self._feishu.get(token), raw, now, self._rate_limits)

        return await self._serve(request, "feishu", token, decide)

    async def _dingtalk_route(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")

        def decide(raw: bytes, now: float) -> Reply:
            bot = self._dingtalk.get(token)
            return dingtalk.answer(
                bot,
                request.query_params,
                raw,
                now,
                rate_limits=self._rate_limits,
                bad_token_code=self._dingtalk_bad_token_code,
            )

        return await self._serve(request, "dingtalk", token, decide)

    async def _wecom_route(self, request: Request) -> Response:
        key = request.query_params.get("key")
        ip = request.client.host if request.client else "127.0.0.1"

        def decide(raw: bytes, now: float) -> Reply:
            bot = self._wecom.get(key or "")
            return wecom.answer(bot, key, raw, now, ip=ip, rate_limits=self._rate_limits)

        return await self._serve(request, "wecom", key or "", decide)

    async def _serve(
        self, request: Request, platform: Platform, token: str, decide: Decide
    ) -> Response:
        raw = await request.body()
        with self._lock:
            now = self._clock()
            mode = self._take_fault(token)
            if mode is not None:
                self._record(platform, token, raw, now, faults.status_of(mode), None)
            else:
                reply = decide(raw, now)
                self._record(platform, token, raw, now, reply.http_status, reply.code)
                if reply.code == 0 and reply.accepted is not None:
                    self.received.append(Received(platform, token, reply.accepted, now))
        if mode is not None:
            return await faults.respond(mode, request)
        return JSONResponse(reply.payload, status_code=reply.http_status)

    def _take_fault(self, token: str) -> FailMode | None:
        fault = self._faults.get(token)
        if fault is None:
            return None
        if not fault.take():
            del self._faults[token]
        return fault.mode

    def _record(
        self,
        platform: Platform,
        token: str,
        raw: bytes,
        now: float,
        http_status: int | None,
        code: int | None,
    ) -> None:
        body = parse_object(raw) or {}
        self.attempts.append(Attempt(platform, token, body, now, http_status, code))


def _keywords(keywords: Sequence[str]) -> tuple[str, ...]:
    # A bare string is a Sequence[str] too; "CPU" must not become the keywords C, P and U.
    if isinstance(keywords, str):
        raise TypeError("keywords must be a sequence of strings, not a string")
    return tuple(keywords)


async def _truth(value: bool | Awaitable[bool]) -> bool:
    return await value if inspect.isawaitable(value) else value
