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

import asyncio
import base64
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bridge import Bridge
from app.config.model import InboundAuth, Limits, Server
from app.models import Notification
from app.outbox.contract import OutboxFull
from app.server.schema import (
    AcceptedAnswer,
    ReadyAnswer,
    RefusalAnswer,
    alertmanager_body,
    answers,
    grafana_body,
    kube_eventer_body,
    ready_answers,
)
from app.server.status import readiness, status_report
from app.sources import InvalidPayload
from app.sources.grafana import parse_alertmanager_or_grafana, parse_grafana
from app.sources.kube_eventer import parse_kube_eventer, with_static_labels

log = logging.getLogger("alertbridge.api")
access_log = logging.getLogger("alertbridge.access")
PREFIX_PLACEHOLDER = "/<prefix>"
REALM = "alertbridge"


class Refused(Exception):
    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


def bridge_of(request: Request) -> Bridge:
    bridge: Bridge = request.app.state.bridge
    return bridge


async def read_body(request: Request, server: Server) -> bytes:
    """The body, refusing with 413 as soon as it is known to exceed server.max_body_bytes, and
    with 408 when it has not all arrived server.read_timeout_seconds after we began reading."""
    limit, seconds = server.max_body_bytes, server.read_timeout_seconds
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    # One deadline for the whole body, not per chunk: a client trickling a byte a second would
    # never trip an idle timeout. uvicorn (h11) has no body timeout of its own.
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise Refused(413, f"body exceeds the limit of {limit} bytes")
    except TimeoutError:
        # Connection: close, or uvicorn keeps the connection open for the rest of the body.
        raise Refused(
            408,
            f"body not received within {seconds:g} s (server.read_timeout_seconds)",
            {"Connection": "close"},
        ) from None
    return bytes(body)


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def check_auth(request: Request, auth: InboundAuth, *, query_token: bool = False) -> None:
    """Bearer token or basic auth, as Alertmanager's http_config sends them; constant-time.

    `query_token`: the bearer token may come as ?token= (kube-eventer only: it cannot send
    header values containing '='). Alertmanager can send headers, and a token in a URL ends up
    in its config, logs and proxies, so its routes take the header only."""
    if auth.bearer_token is None and auth.basic is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if auth.bearer_token is not None:
        token = value if scheme.lower() == "bearer" else ""
        if not token and query_token:
            token = request.query_params.get("token", "")
        if token and same(token, auth.bearer_token):
            return
    if auth.basic is not None and scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            user = password = ""
        if same(user, auth.basic.username) & same(password, auth.basic.password):
            return
    raise Refused(401, "missing or wrong credentials", {"WWW-Authenticate": challenges(auth)})


def challenges(auth: InboundAuth) -> str:
    """The WWW-Authenticate value of a 401 (RFC 9110 11.6.1): the schemes configured."""
    schemes = ["Bearer"] if auth.bearer_token is not None else []
    if auth.basic is not None:
        schemes.append(f'Basic realm="{REALM}"')
    return ", ".join(schemes)


async def receive(
    request: Request,
    source: str,
    parse: Callable[[bytes, Limits], Notification],
    receiver: str | None,
) -> Response:
    bridge = bridge_of(request)
    try:
        check_auth(request, bridge.config.server.auth, query_token=source == "kube-eventer")
        if receiver is not None and bridge.config.receiver(receiver) is None:
            raise Refused(404, f"no receiver named {receiver!r}")
        body = await read_body(request, bridge.config.server)
        notification = parse(body, bridge.config.limits)
        if source == "kube-eventer":
            notification = with_static_labels(notification, bridge.config.kube_eventer.labels)
        accepted = await bridge.accept(notification, source, receiver)
    except Refused as exc:
        refusal = refuse(bridge, source, exc.status_code, exc.message)
        refusal.headers.update(exc.headers)
        return refusal
    except InvalidPayload as exc:
        return refuse(bridge, source, exc.status_code, exc.message)
    except OutboxFull as exc:
        return refuse(bridge, source, 503, str(exc))
    answer = AcceptedAnswer.model_validate(accepted)
    return JSONResponse(answer.model_dump(), status_code=200)


def refuse(bridge: Bridge, source: str, status: int, message: str) -> JSONResponse:
    bridge.metrics.rejected.labels(source, str(status)).inc()
    if status == 401:
        bridge.metrics.auth_failures.inc()
    log.warning("refused %s request with %d: %s", source, status, message)
    return JSONResponse(RefusalAnswer(error=message).model_dump(), status_code=status)


# The handlers read the body as raw bytes (to enforce the size limit while reading, and to parse
# kube-eventer's invalid JSON leniently), so FastAPI cannot see it: openapi_extra documents it.
ALERTMANAGER_BODY = alertmanager_body()
GRAFANA_BODY = grafana_body()
KUBE_EVENTER_BODY = kube_eventer_body()


def inbound_router() -> APIRouter:
    router = APIRouter(responses=answers(400, 401, 408, 413, 422, 503))

    @router.post("/alertmanager", openapi_extra=ALERTMANAGER_BODY)
    async def alertmanager(request: Request) -> Response:
        return await receive(request, "alertmanager", parse_alertmanager_or_grafana, None)

    @router.post(
        "/alertmanager/{receiver}", responses=answers(404), openapi_extra=ALERTMANAGER_BODY
    )
    async def alertmanager_to(request: Request, receiver: str) -> Response:
        return await receive(request, "alertmanager", parse_alertmanager_or_grafana, receiver)

    @router.post("/grafana", openapi_extra=GRAFANA_BODY)
    async def grafana(request: Request) -> Response:
        return await receive(request, "grafana", parse_grafana, None)

    @router.post("/grafana/{receiver}", responses=answers(404), openapi_extra=GRAFANA_BODY)
    async def grafana_to(request: Request, receiver: str) -> Response:
        return await receive(request, "grafana", parse_grafana, receiver)

    # kube-eventer's webhook sink sends GET unless told method=POST, with its options in the query.
    # One route per method: one route with both would give both one operationId in the schema.
    @router.get("/kube-eventer", openapi_extra=KUBE_EVENTER_BODY)
    @router.post("/kube-eventer", openapi_extra=KUBE_EVENTER_BODY)
    async def kube_eventer(request: Request) -> Response:
        return await receive(request, "kube-eventer", parse_kube_eventer, None)

    @router.get("/kube-eventer/{receiver}", responses=answers(404), openapi_extra=KUBE_EVENTER_BODY)
    @router.post(
        "/kube-eventer/{receiver}", responses=answers(404), openapi_extra=KUBE_EVENTER_BODY
    )
    async def kube_eventer_to(request: Request, receiver: str) -> Response:
        return await receive(request, "kube-eventer", parse_kube_eventer, receiver)

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


def logged_path(path: str, path_prefix: str) -> str:
    """`path` with the secret prefix written as /<prefix>, wherever a client put it. The redacting
    log filter would mask it too, but a handler without that filter (a JSON log format, a
    library's logging config) must not be able to print it."""
    return path.replace(path_prefix, PREFIX_PLACEHOLDER) if path_prefix else path


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
            # The path only: kube-eventer's query string can carry credentials (header=...=...).
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                logged_path(scope["path"], self.path_prefix),
                status,
                (time.monotonic() - started) * 1000,
            )
