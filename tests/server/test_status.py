"""GET /status (liveness: always 200, "ok" or "degraded" with reasons) and GET /ready (readiness:
503 unless the outbox can commit a write)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.bridge import Bridge
from app.config.load import parse_config
from app.outbox.sqlite import SqliteOutbox
from app.server.status import FAILING_AFTER_ATTEMPTS
from tests.fakes.chatbots import FakeBots
from tests.support.app import service_app
from tests.support.bots import SECRETS, TOKENS, add_bot, webhook_url
from tests.support.cards import CHAT_PLATFORMS
from tests.support.paths import FIXTURES

FIRING = (FIXTURES / "alertmanager" / "firing.json").read_bytes()
PLATFORMS = CHAT_PLATFORMS


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    bots = FakeBots()
    for platform in PLATFORMS:
        add_bot(bots, platform, TOKENS[platform])
    receivers = [
        {
            "name": p,
            "platform": p,
            "webhook_url": webhook_url(p, TOKENS[p]),
            "secret": SECRETS.get(p),
        }
        for p in PLATFORMS
    ]
    config = parse_config(
        {
            "server": {"path_prefix": "/1bdc0637", "auth": {"bearer_token": "in-token-1"}},
            "delivery": {"shutdown_grace": "50ms"},
            "receivers": receivers,
            "routes": [{"receivers": list(PLATFORMS)}],
        },
        environ={},
    )
    service = service_app(config, bots)
    async with service.router.lifespan_context(service):
        yield service


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ab")


def outbox_of(app: FastAPI) -> SqliteOutbox:
    bridge: Bridge = app.state.bridge
    assert isinstance(bridge.outbox, SqliteOutbox)
    return bridge.outbox


def read_only(app: FastAPI, on: bool) -> None:
    """As a disk that went read-only (or full) does to every write: they fail, reads work."""
    outbox_of(app).db.execute(f"PRAGMA query_only = {int(on)}")


async def test_a_healthy_service_is_ready_and_ok_without_prefix_or_credentials(
    app: FastAPI,
) -> None:
    async with client_of(app) as client:
        ready = await client.get("/ready")
        status = await client.get("/status")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert status.status_code == 200
    assert (status.json()["status"], status.json()["reasons"]) == ("ok", [])


async def test_an_outbox_that_takes_no_writes_is_not_ready_and_status_says_degraded(
    app: FastAPI,
) -> None:
    async with client_of(app) as client:
        read_only(app, True)
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert ready.json()["reasons"] == [
            "outbox not writable: attempt to write a readonly database"
        ]
        status = await client.get("/status")
        assert status.status_code == 200  # alive: a restart cannot fix a full disk
        assert status.json()["status"] == "degraded"
        assert status.json()["reasons"] == ready.json()["reasons"]

        read_only(app, False)
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/status")).json()["status"] == "ok"


async def test_a_failed_enqueue_alone_makes_status_degraded(app: FastAPI) -> None:
    headers = {"Authorization": "Bearer in-token-1"}
    async with client_of(app) as client:
        read_only(app, True)
        refused = await client.post("/1bdc0637/alertmanager", content=FIRING, headers=headers)
        assert refused.status_code == 503
        report = (await client.get("/status")).json()
    assert report["status"] == "degraded"
    assert report["reasons"][0].startswith("outbox not writable")


async def test_a_receiver_whose_deliveries_all_fail_makes_status_degraded(app: FastAPI) -> None:
    bridge: Bridge = app.state.bridge
    health = bridge.workers["dingtalk"].health
    health.last_error = "http_503: HTTP 503 from dingtalk"
    async with client_of(app) as client:
        health.failures_in_a_row = FAILING_AFTER_ATTEMPTS - 1
        assert (await client.get("/status")).json()["status"] == "ok"
        health.failures_in_a_row = FAILING_AFTER_ATTEMPTS
        report: dict[str, Any] = (await client.get("/status")).json()
        assert (await client.get("/ready")).status_code == 200  # the queue is there for that
    assert report["status"] == "degraded"
    assert report["reasons"] == [
        f"receiver dingtalk: the last {FAILING_AFTER_ATTEMPTS} delivery attempts failed"
        " (http_503: HTTP 503 from dingtalk)"
    ]
    assert report["receivers"]["dingtalk"]["failures_in_a_row"] == FAILING_AFTER_ATTEMPTS
