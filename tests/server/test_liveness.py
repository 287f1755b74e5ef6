"""The service keeps answering /status promptly while a bot hangs with a backlog queued behind it,
and after bad user card templates are loaded.

The fake bots listen on a real loopback port, so a hung bot is a real connection that never
answers and the service's send timeout is a real one. A probe asks for /status back to back for
the whole scenario, and the slowest answer is what counts: every request shares the service's
event loop, so anything that blocks it shows up there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.chatbots import FakeBots
from tests.fakes.server import serve_in_thread
from tests.support.app import running_app
from tests.support.bots import fake_bots
from tests.support.builders import bot_receiver, service_config
from tests.support.cards import CHAT_PLATFORMS, user_cards

# An in-process /status takes milliseconds; these bounds are generous, and each is well under
# what the scenario would cost /status if it blocked the event loop (the send timeout, the card).
PROMPT_SECONDS = 0.5
PROMPT_BESIDE_BUSY_THREAD_SECONDS = 1.0  # a card rendering in a thread still competes for the GIL
SEND_TIMEOUT_SECONDS = 1.0
WAIT_SECONDS = 5.0
SLOW_CARD_SECONDS = 60.0
BACKLOG = 50


def alert(number: int) -> bytes:
    """A distinct notification each time, so that de-duplication keeps every one."""
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "groupKey": f'{{}}:{{instance="node-{number}"}}',
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DiskFull", "instance": f"node-{number}"},
                    "startsAt": "2024-05-01T02:00:00Z",
                    "fingerprint": f"{number:016x}",
                }
            ],
        }
    ).encode()


TOKENS = {platform: f"liveness-{platform}" for platform in CHAT_PLATFORMS}
BROKEN_CARDS = {
    "feishu/alert.json.j2": "{% if %}",
    "dingtalk/alert.json.j2": "{{ no_such_function() }}",
    "wecom/alert.json.j2": '{"msgtype": "markdown", "markdown": {"content": {{ title }} }}',
}
# Valid output, but seventy million loop steps first: a few seconds of one CPU.
SLOW_CARD = {
    "wecom/alert.json.j2": "{% for i in range(100000) %}{% for j in range(700) %}{% endfor %}"
    '{% endfor %}{"msgtype": "markdown", "markdown": {"content": "slow {{ title }}"}}'
}


@dataclass
class Probe:
    """Asks for /status back to back until stopped; remembers the slowest answer."""

    client: httpx.AsyncClient
    slowest: float = 0.0
    answers: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            response = await self.client.get("/status")
            self.slowest = max(self.slowest, time.monotonic() - started)
            assert response.status_code == 200, response.text
            self.answers += 1
            self.last = response.json()
            # In process, a /status request can complete without suspending once (no socket in
            # between): yield as a real client's network round trip would, or nothing else runs.
            await asyncio.sleep(0)

    def receiver(self, name: str) -> dict[str, Any]:
        receiver: dict[str, Any] = self.last["receivers"][name]
        return receiver


@dataclass
class Service:
    client: httpx.AsyncClient
    bots: FakeBots
    probe: Probe
    numbers: Iterator[int] = field(default_factory=itertools.count)

    async def post_alerts(self, receiver: str, count: int) -> None:
        for _ in range(count):
            body = alert(next(self.numbers))
            response = await self.client.post(f"/alertmanager/{receiver}", content=body)
            assert response.status_code == 200, response.text

    async def until(self, predicate: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
        await self.bots.wait_for(predicate, timeout=seconds)


@asynccontextmanager
async def probed_service(
    cards: dict[str, str], within: float, tmp_path: Path
) -> AsyncIterator[Service]:
    user_cards(tmp_path, cards)
    bots = fake_bots(TOKENS, rate_limits=False)
    with serve_in_thread(bots.app) as base_url:
        receivers = [
            bot_receiver(platform, platform, token=token, base=base_url)
            for platform, token in TOKENS.items()
        ]
        server = {"cards_dir": str(tmp_path), "send_timeout_seconds": SEND_TIMEOUT_SECONDS}
        async with running_app(service_config(*receivers, server=server)) as client:
            probe = Probe(client)
            probing = asyncio.create_task(probe.run())
            try:
                yield Service(client, bots, probe)
            finally:
                probing.cancel()
                (ended,) = await asyncio.gather(probing, return_exceptions=True)
                for token in TOKENS.values():
                    bots.heal(token)
            if not isinstance(ended, asyncio.CancelledError):
                raise AssertionError("the /status probe stopped") from ended
            assert probe.answers > 0
            assert probe.slowest < within, f"/status took {probe.slowest:.2f} s"


async def bot_hangs_with_a_backlog(service: Service) -> None:
    service.bots.fail(TOKENS["feishu"], "hang")
    await service.post_alerts("feishu", BACKLOG)
    await service.until(lambda: any(a.token == TOKENS["feishu"] for a in service.bots.attempts))
    await service.post_alerts("wecom", 1)
    # The other bots are not held up, and the hung one times out for real and says so.
    await service.until(lambda: len(service.bots.messages(TOKENS["wecom"])) == 1)
    await service.until(lambda: service.probe.receiver("feishu")["last_error"] is not None)
    feishu = service.probe.receiver("feishu")
    assert feishu["last_error"].startswith("timeout")
    assert feishu["backlog"] >= BACKLOG - 1  # all but the one in flight, or all


async def user_cards_are_broken(service: Service) -> None:
    for platform in TOKENS:
        await service.post_alerts(platform, 3)
    # Each falls back to the built-in card, which the bot accepts.
    await service.until(lambda: len(service.bots.received) == 3 * len(TOKENS))
    await service.until(lambda: service.probe.answers > 3)
    metrics = (await service.client.get("/metrics")).text
    for name in BROKEN_CARDS:
        assert f'template="{name}"}} 3.0' in metrics


async def user_card_is_slow(service: Service) -> None:
    await service.post_alerts("wecom", 1)
    # The card alone takes seconds of CPU (~4 s here), now shared with the probes' requests.
    await service.until(lambda: len(service.bots.messages(TOKENS["wecom"])) == 1, SLOW_CARD_SECONDS)


Scenario = Callable[[Service], Awaitable[None]]


@pytest.mark.parametrize(
    ("cards", "scenario", "within"),
    [
        pytest.param({}, bot_hangs_with_a_backlog, PROMPT_SECONDS, id="bot-hangs-with-a-backlog"),
        pytest.param(
            BROKEN_CARDS, user_cards_are_broken, PROMPT_SECONDS, id="user-cards-are-broken"
        ),
        pytest.param(
            SLOW_CARD,
            user_card_is_slow,
            PROMPT_BESIDE_BUSY_THREAD_SECONDS,
            id="user-card-is-slow",
        ),
    ],
)
async def test_status_answers_promptly(
    cards: dict[str, str], scenario: Scenario, within: float, tmp_path: Path
) -> None:
    async with probed_service(cards, within, tmp_path) as service:
        await scenario(service)
