"""HTTP endpoints: /alertmanager[/{receiver}], /grafana[/{receiver}], /kube-eventer[/{receiver}],
/status, /ready, /metrics. /alertmanager also reads a Grafana body, so Grafana may point at either.

Answers: 200 once everything is queued; 4xx only for input a retry cannot fix (400 malformed,
401 credentials, 404 receiver, 408 body not all sent within server.read_timeout_seconds, 413 too
large: body over server.max_body_bytes or more alerts than limits.alerts_per_notification, 422
shape: also a label set over limits.labels_per_alert or limits.label_name_chars); 503 when the
outbox cannot take it, so Alertmanager retries. kube-eventer counts anything but exactly 200 as a
failure. A value over limits.label_value_chars is clipped, not refused (app/limits.py).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bridge import Bridge
from app.server.inbound import SOURCES, Source, answer, log_access
from app.server.schema import (
    ReadyAnswer,
    alertmanager_body,
    answers,
    grafana_body,
    kube_eventer_body,
    ready_answers,
)
from app.server.status import readiness, status_report


def bridge_of(request: Request) -> Bridge:
    bridge: Bridge = request.app.state.bridge
    return bridge


async def receive(request: Request, source: Source, receiver: str | None) -> Response:
    """app/server/inbound.py's answer through FastAPI: the thin path of app/server/app.py takes
    these routes first, so this serves only an app mounted without it."""
    result = await answer(
        bridge_of(request),
        source,
        receiver,
        request.headers,
        request.scope["query_string"],
        request.stream(),
    )
    response = Response(result.body, result.status, media_type="application/json")
    response.headers.update(result.headers)
    return response


ALERTMANAGER, GRAFANA, KUBE_EVENTER = SOURCES


# The handlers read the body as raw bytes (to enforce the size limit while reading, and to parse
# kube-eventer's invalid JSON leniently), so FastAPI cannot see it: openapi_extra documents it.
ALERTMANAGER_BODY = alertmanager_body()
GRAFANA_BODY = grafana_body()
KUBE_EVENTER_BODY = kube_eventer_body()


def inbound_router() -> APIRouter:
    router = APIRouter(responses=answers(400, 401, 408, 413, 422, 503))

    @router.post("/alertmanager", openapi_extra=ALERTMANAGER_BODY)
    async def alertmanager(request: Request) -> Response:
        return await receive(request, ALERTMANAGER, None)

    @router.post(
        "/alertmanager/{receiver}", responses=answers(404), openapi_extra=ALERTMANAGER_BODY
    )
    async def alertmanager_to(request: Request, receiver: str) -> Response:
        return await receive(request, ALERTMANAGER, receiver)

    @router.post("/grafana", openapi_extra=GRAFANA_BODY)
    async def grafana(request: Request) -> Response:
        return await receive(request, GRAFANA, None)

    @router.post("/grafana/{receiver}", responses=answers(404), openapi_extra=GRAFANA_BODY)
    async def grafana_to(request: Request, receiver: str) -> Response:
        return await receive(request, GRAFANA, receiver)

    # kube-eventer's webhook sink sends GET unless told method=POST, with its options in the query.
    # One route per method: one route with both would give both one operationId in the schema.
    @router.get("/kube-eventer", openapi_extra=KUBE_EVENTER_BODY)
    @router.post("/kube-eventer", openapi_extra=KUBE_EVENTER_BODY)
    async def kube_eventer(request: Request) -> Response:
        return await receive(request, KUBE_EVENTER, None)

    @router.get("/kube-eventer/{receiver}", responses=answers(404), openapi_extra=KUBE_EVENTER_BODY)
    @router.post(
        "/kube-eventer/{receiver}", responses=answers(404), openapi_extra=KUBE_EVENTER_BODY
    )
    async def kube_eventer_to(request: Request, receiver: str) -> Response:
        return await receive(request, KUBE_EVENTER, receiver)

    return router


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/status")
    async def status(request: Request) -> dict[str, Any]:
        return await status_report(bridge_of(request), request.app.state.reloader)

    @router.get("/ready", responses=ready_answers())
    async def ready(request: Request) -> Response:
        reasons = await readiness(bridge_of(request))
        answer = ReadyAnswer(ready=not reasons, reasons=reasons)
        content = answer.model_dump(exclude_defaults=True)  # ready: just {"ready": true}
        return JSONResponse(content, status_code=503 if reasons else 200)

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        bridge = bridge_of(request)
        await bridge.refresh_gauges()
        return Response(generate_latest(bridge.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def install_routes(app: FastAPI, path_prefix: str) -> None:
    app.include_router(inbound_router(), prefix=path_prefix)
    app.include_router(health_router())
    app.add_middleware(AccessLog, path_prefix=path_prefix)


class AccessLog:
    """One line per request: method, path (prefix hidden), status and time taken.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every
    request through an extra task and memory stream, which cost ~0.5 ms a request here, about
    as much as the outbox commit.
    """

    def __init__(self, app: ASGIApp, path_prefix: str) -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the client gets if the app fails before it answers

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            log_access(scope, self.path_prefix, status, started)
