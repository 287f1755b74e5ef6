"""The one in-process service: the FastAPI app create_app builds, its lifespan running (HTTP
client, one delivery worker per receiver), an httpx client on it, and its senders wired to the
fake bots in process (httpx.ASGITransport) or, without them, to the network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.bridge import Bridge
from app.config.model import Config
from app.server.app import create_app
from app.server.reload import Reloader
from tests.fakes.chatbots import FakeBots

BASE_URL = "http://ab"


def service_app(
    config: Config,
    bots: FakeBots | None = None,
    *,
    bridge: Bridge | None = None,
    reloader: Reloader | None = None,
) -> FastAPI:
    """The app, lifespan not started; its senders post to `bots` in process, or (None) to the
    webhook URLs over the network (fake bots on a loopback port: tests/fakes/server.py)."""
    transport = None if bots is None else httpx.ASGITransport(app=bots.app)
    return create_app(config, transport=transport, bridge=bridge, reloader=reloader)


@asynccontextmanager
async def running_app(
    config: Config,
    bots: FakeBots | None = None,
    *,
    bridge: Bridge | None = None,
    reloader: Reloader | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on service_app(...) with its lifespan running for the block."""
    app = service_app(config, bots, bridge=bridge, reloader=reloader)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
    ):
        yield client
