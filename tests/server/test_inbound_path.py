"""The thin ASGI path of the inbound routes (app/server/inbound.py) answers exactly as the same
routes through FastAPI did: status, JSON body and headers, for every kind of answer, and it
writes the same access log line. Each request goes to the app create_app builds and to a plain
FastAPI with only install_routes, both on one bridge."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from app.bridge import Bridge
from app.server.api import install_routes
from app.server.app import create_app
from tests.bench.payloads import alertmanager_payload, kube_eventer_payload
from tests.support.builders import bot_receiver, service_config

TOKEN = "s3cret-token"
PREFIX = "/hidden"
AM_BODY = alertmanager_payload(3).body(7)
KE_BODY = kube_eventer_payload().body(7)
BEARER = {"authorization": f"Bearer {TOKEN}"}

REQUESTS = [
    ("POST", "/alertmanager", BEARER, AM_BODY),  # accepted
    ("POST", "/alertmanager/ops", BEARER, alertmanager_payload(2).body(8)),
    ("POST", "/alertmanager", BEARER, AM_BODY),  # a duplicate
    ("POST", "/alertmanager", {}, AM_BODY),  # no credentials
    ("POST", "/alertmanager", {"authorization": "Basic !!"}, AM_BODY),
    ("POST", "/alertmanager/nobody", BEARER, AM_BODY),
    ("POST", "/alertmanager", BEARER, b'{"alerts": ['),  # malformed
    ("POST", "/alertmanager", BEARER, b'{"alerts": 1}'),  # shape
    ("POST", "/alertmanager", BEARER, b"x" * 70_000),  # too large
    ("POST", "/grafana", BEARER, b"{}"),
    ("POST", f"/kube-eventer?token={TOKEN}", {}, KE_BODY),
    ("GET", f"/kube-eventer/ops?token={TOKEN}", {}, kube_eventer_payload().body(8)),
    ("GET", "/kube-eventer?token=wrong", {}, KE_BODY),
    ("GET", "/alertmanager", BEARER, b""),  # FastAPI's 405, both ways
    ("POST", "/alertmanager/", BEARER, AM_BODY),  # FastAPI's redirect, both ways
]
Answer = tuple[int, bytes, list[tuple[str, str]], list[str]]


async def answers(thin: bool, caplog: pytest.LogCaptureFixture) -> list[Answer]:
    """Every request of REQUESTS in turn, on a fresh bridge, through the thin path or not."""
    config = service_config(
        bot_receiver("feishu"),
        server={"auth": {"bearer_token": TOKEN}, "max_body_bytes": 65536, "path_prefix": PREFIX},
    )
    bridge = Bridge(config, config_source="test")
    app = create_app(config, bridge=bridge)
    if not thin:
        app = FastAPI()
        app.state.bridge = bridge
        install_routes(app, PREFIX)
    result: list[Answer] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ab") as client:
        for method, path, headers, body in REQUESTS:
            caplog.clear()
            response = await client.request(method, PREFIX + path, headers=headers, content=body)
            # "POST /<prefix>/alertmanager 200", less the time taken
            access = [
                r.getMessage().rsplit(" ", 1)[0]
                for r in caplog.records
                if r.name == "alertbridge.access"
            ]
            result.append(
                (response.status_code, response.content, response.headers.items(), access)
            )
    await bridge.outbox.close()
    return result


async def test_answers_and_logs_as_the_fastapi_routes_do(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alertbridge.access"):
        through_fastapi = await answers(False, caplog)
        thin = await answers(True, caplog)
    statuses = [200, 200, 200, 401, 401, 404, 400, 422, 413, 422, 200, 200, 401, 405, 307]
    assert [a[0] for a in thin] == statuses
    assert json.loads(thin[2][1])["duplicate"] is True
    assert thin[0][3] == ["POST /<prefix>/alertmanager 200"]
    assert ("www-authenticate", "Bearer") in thin[3][2]
    assert thin == through_fastapi
