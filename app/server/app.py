"""create_app(config): the FastAPI application; its lifespan owns the HTTP client and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app import __version__
from app.bridge import Bridge
from app.config.load import EMBEDDED_DEFAULT
from app.config.model import Config, Server
from app.server.api import install_routes
from app.server.console import install_console
from app.server.inbound import InboundPath
from app.server.preview import preview_router
from app.server.silence import silence_router

if TYPE_CHECKING:
    from app.server.reload import Reloader

# Bots answer in well under a second; a hung connection must not stall a receiver's queue.
CONNECT_TIMEOUT_SECONDS = 5.0


def http_timeout(server: Server) -> httpx.Timeout:
    """The senders' HTTP timeouts, for the service and for `alertbridge send-test` alike."""
    return httpx.Timeout(server.send_timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS)


class AlertbridgeApp(FastAPI):
    """FastAPI, with the inbound webhook routes answered before its routing, middleware and
    response objects (app/server/inbound.py): the same answers and access log, less CPU."""

    inbound: InboundPath

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (route := self.inbound.match(scope)) is not None:
            # Read per request: a reload swaps the bridge (app/server/reload.py).
            await self.inbound.serve(self.state.bridge, route, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    config: Config,
    *,
    config_source: str = EMBEDDED_DEFAULT,
    transport: httpx.AsyncBaseTransport | None = None,
    bridge: Bridge | None = None,
    reloader: Reloader | None = None,
) -> FastAPI:
    """`transport` lets tests route the senders to an in-process fake bot server. Without a
    `bridge`, the outbox lives in memory (the service passes one over its --data-dir file).
    With a `reloader`, SIGHUP and changed files replace `app.state.bridge` (app/reload.py)."""
    bridge = bridge or Bridge(config, config_source=config_source)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = http_timeout(config.server)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            await bridge.prepare()
            bridge.start(client)
            if reloader is not None:
                reloader.start(app, client)
            try:
                yield
            finally:
                if reloader is not None:
                    await reloader.stop()
                current: Bridge = app.state.bridge  # a reload may have replaced the first one
                await current.stop()

    # The schema lists every inbound route, secret path prefix and all: it and the docs pages
    # live behind that prefix too.
    prefix = config.server.path_prefix
    app = AlertbridgeApp(
        title="alertbridge",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=f"{prefix}/redoc",
    )
    app.inbound = InboundPath(prefix)
    app.state.bridge = bridge
    app.state.reloader = reloader
    install_routes(app, config.server.path_prefix)
    install_console(app, config.server.path_prefix, preview_router(), silence_router())
    return app
