"""The inbound webhook routes' work, written once: auth, body limits, parse, accept, and the
answer (status, JSON body, headers). Served by the thin ASGI path of app/server/app.py, which
takes these routes before FastAPI's routing, middleware and response objects (~0.3 ms a request,
an eighth of the CPU of a 20-alert notification); app/server/api.py declares the same routes to
FastAPI for the OpenAPI schema, and answers through the same `answer` if it is ever reached.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.bridge import Bridge
from app.config.model import InboundAuth, Limits, Server
from app.models import Notification
from app.outbox.contract import OutboxFull
from app.server.schema import AcceptedAnswer
from app.sources import InvalidPayload
from app.sources.grafana import parse_alertmanager_or_grafana, parse_grafana
from app.sources.kube_eventer import parse_kube_eventer, with_static_labels

log = logging.getLogger("alertbridge.api")
access_log = logging.getLogger("alertbridge.access")
PREFIX_PLACEHOLDER = "/<prefix>"
REALM = "alertbridge"
INTERNAL_ERROR = b"Internal Server Error"  # Starlette's ServerErrorMiddleware answer, kept

Parse = Callable[[bytes, Limits], Notification]


@dataclass(frozen=True, slots=True)
class Source:
    """One inbound route family: /<name> and /<name>/{receiver}."""

    name: str
    parse: Parse
    methods: frozenset[str]


# kube-eventer's webhook sink sends GET unless told method=POST, with its options in the query.
SOURCES = (
    Source("alertmanager", parse_alertmanager_or_grafana, frozenset({"POST"})),
    Source("grafana", parse_grafana, frozenset({"POST"})),
    Source("kube-eventer", parse_kube_eventer, frozenset({"GET", "POST"})),
)


class Refused(Exception):
    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes  # JSON, as Starlette's JSONResponse renders it
    headers: dict[str, str] = field(default_factory=dict)  # besides length and type


async def read_body(declared: str, chunks: AsyncIterator[bytes], server: Server) -> bytes:
    """The body, refusing with 413 as soon as it is known to exceed server.max_body_bytes, and
    with 408 when it has not all arrived server.read_timeout_seconds after we began reading."""
    limit, seconds = server.max_body_bytes, server.read_timeout_seconds
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    # One deadline for the whole body, not per chunk: a client trickling a byte a second would
    # never trip an idle timeout. uvicorn (h11) has no body timeout of its own.
    try:
        async with asyncio.timeout(seconds):
            async for chunk in chunks:
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


def check_auth(
    authorization: str, query_token: Callable[[], str] | None, auth: InboundAuth
) -> None:
    """Bearer token or basic auth, as Alertmanager's http_config sends them; constant-time.

    `query_token`: the bearer token may come as ?token= (kube-eventer only: it cannot send
    header values containing '='). Alertmanager can send headers, and a token in a URL ends up
    in its config, logs and proxies, so its routes take the header only."""
    if auth.bearer_token is None and auth.basic is None:
        return
    scheme, _, value = authorization.partition(" ")
    if auth.bearer_token is not None:
        token = value if scheme.lower() == "bearer" else ""
        if not token and query_token is not None:
            token = query_token()
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


def query_value(query_string: bytes, name: str) -> str:
    """The last `name=` of a query string, as Starlette's request.query_params.get reads it."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return dict(pairs).get(name, "")


async def answer(
    bridge: Bridge,
    source: Source,
    receiver: str | None,
    headers: Mapping[str, str],
    query_string: bytes,
    chunks: AsyncIterator[bytes],
) -> Answer:
    """The whole of one inbound request after routing: `headers` by lower-case name."""
    try:
        kube_eventer = source.name == "kube-eventer"
        token = partial(query_value, query_string, "token") if kube_eventer else None
        check_auth(headers.get("authorization", ""), token, bridge.config.server.auth)
        if receiver is not None and bridge.config.receiver(receiver) is None:
            raise Refused(404, f"no receiver named {receiver!r}")
        body = await read_body(headers.get("content-length", ""), chunks, bridge.config.server)
        notification = source.parse(body, bridge.config.limits)
        if source.name == "kube-eventer":
            notification = with_static_labels(notification, bridge.config.kube_eventer.labels)
        accepted = await bridge.accept(notification, source.name, receiver)
    except Refused as exc:
        return refuse(bridge, source.name, exc.status_code, exc.message, exc.headers)
    except InvalidPayload as exc:
        return refuse(bridge, source.name, exc.status_code, exc.message)
    except OutboxFull as exc:
        return refuse(bridge, source.name, 503, str(exc))
    return Answer(200, AcceptedAnswer.model_validate(accepted).model_dump_json().encode())


def refuse(
    bridge: Bridge, source: str, status: int, message: str, headers: dict[str, str] | None = None
) -> Answer:
    bridge.metrics.rejected.labels(source, str(status)).inc()
    if status == 401:
        bridge.metrics.auth_failures.inc()
    log.warning("refused %s request with %d: %s", source, status, message)
    return Answer(status, json_bytes({"error": message}), headers or {})


def json_bytes(content: object) -> bytes:
    """What Starlette's JSONResponse sends for `content`."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode()


def logged_path(path: str, path_prefix: str) -> str:
    """`path` with the secret prefix written as /<prefix>, wherever a client put it. The redacting
    log filter would mask it too, but a handler without that filter (a JSON log format, a
    library's logging config) must not be able to print it."""
    return path.replace(path_prefix, PREFIX_PLACEHOLDER) if path_prefix else path


def log_access(scope: Scope, path_prefix: str, status: int, started: float) -> None:
    """One line per request: method, path (prefix hidden), status and time taken. The path
    only: kube-eventer's query string can carry credentials (header=...=...)."""
    access_log.info(
        "%s %s %d %.1fms",
        scope["method"],
        logged_path(scope["path"], path_prefix),
        status,
        (time.monotonic() - started) * 1000,
    )


class InboundPath:
    """The inbound routes as plain ASGI: `match` picks a request out, `serve` answers it."""

    def __init__(self, path_prefix: str) -> None:
        self.path_prefix = path_prefix
        names = "|".join(re.escape(s.name) for s in SOURCES)
        # Starlette's `{receiver}`: one non-empty path segment.
        self.pattern = re.compile(f"{re.escape(path_prefix)}/({names})(?:/([^/]+))?")
        self.sources = {s.name: s for s in SOURCES}

    def match(self, scope: Scope) -> tuple[Source, str | None] | None:
        found = self.pattern.fullmatch(scope["path"])
        if found is None or scope.get("root_path"):
            return None
        source = self.sources[found[1]]
        return (source, found[2]) if scope["method"] in source.methods else None

    async def serve(
        self,
        bridge: Bridge,
        route: tuple[Source, str | None],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        started, status, answered = time.monotonic(), 500, False
        try:
            headers: dict[str, str] = {}
            for name, value in scope["headers"]:  # the first of a repeated header, as Starlette
                headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
            result = await answer(bridge, *route, headers, scope["query_string"], chunks(receive))
            status, answered = result.status, True
            await respond(send, result)
        except Exception:
            if not answered:  # what Starlette's ServerErrorMiddleware does; uvicorn logs it
                await respond(send, Answer(500, INTERNAL_ERROR), "text/plain; charset=utf-8")
            raise
        finally:
            log_access(scope, self.path_prefix, status, started)


async def chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives (Starlette's Request.stream)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def respond(send: Send, result: Answer, content_type: str = "application/json") -> None:
    # The headers in the order Starlette sends them: length, type, then the answer's own.
    headers = [
        (b"content-length", str(len(result.body)).encode()),
        (b"content-type", content_type.encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers.items()),
    ]
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    await send({"type": "http.response.body", "body": result.body})
