"""The console in one process: who may see and act (basic auth, loopback-only read-only mode,
CSRF on every POST), retry and purge, preview and send-test, the silence link's GET changing
nothing and bad tokens refused, and no secret on any page."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bridge import Bridge
from app.rendering.silence import SilenceRequest, sign_token
from tests.support.app import BASE_URL, service_app
from tests.support.bots import SECRETS, TOKENS, fake_bots
from tests.support.builders import bot_receivers, service_config
from tests.support.paths import FIXTURES
from tests.support.queues import entry

PREFIX = "/s3cr3t-prefix"
PASSWORD = "console-password-0001"
LINK_SECRET = "link-secret-0001"
SILENCE_SERVER = {"public_url": "https://ab.example", "link_secret": LINK_SECRET}
SECRETS_ON_NO_PAGE = [*TOKENS.values(), *SECRETS.values(), PASSWORD, LINK_SECRET, PREFIX[1:]]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic("ops", PASSWORD)


@asynccontextmanager
async def console(
    *, credentials: bool = True, client_host: str = "127.0.0.1", **server: Any
) -> AsyncIterator[httpx.AsyncClient]:
    sections = {"console": {"username": "ops", "password": PASSWORD}} if credentials else {}
    config = service_config(
        *bot_receivers(), server={"path_prefix": PREFIX, **SILENCE_SERVER, **server}, **sections
    )
    app = service_app(config, fake_bots())
    transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL + PREFIX) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


def bridge_of(client: httpx.AsyncClient) -> Bridge:
    bridge: Bridge = client.app.state.bridge  # type: ignore[attr-defined]
    return bridge


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def assert_no_secret(html: str) -> None:
    leaked = [s for s in SECRETS_ON_NO_PAGE if s in html]
    assert leaked == [], f"page shows {leaked}"


async def test_with_credentials_every_page_asks_for_them() -> None:
    async with console() as client:
        pages = ("/ui", "/ui/", "/ui/receivers/feishu-ops", "/ui/preview", "/ui/send-test")
        for path in pages:
            for headers in ({}, basic("ops", "wrong-password")):
                answer = await client.get(path, headers=headers)
                assert answer.status_code == 401, path
                assert answer.headers["www-authenticate"].startswith("Basic realm=")
        assert (await client.get("/ui", headers=AUTH)).headers["location"] == "ui/"
        page = await client.get("/ui/", headers=AUTH)
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await client.get("/ui/console.css")).status_code == 200  # nothing secret in it
        for name in ("feishu-ops", "dingtalk-ops", "wecom-ops"):
            assert name in page.text
        assert_no_secret(page.text)


async def test_without_credentials_it_is_read_only_and_for_loopback_only() -> None:
    async with console(credentials=False) as client:
        page = await client.get("/ui/receivers/feishu-ops")
        assert page.status_code == 200
        assert "Retry" not in page.text
        token = csrf_of((await client.get("/ui/preview")).text)
        refused = await client.post("/ui/receivers/feishu-ops/retry", data={"csrf": token})
        assert refused.status_code == 403
    async with console(credentials=False, client_host="10.1.2.3") as client:
        assert (await client.get("/ui/")).status_code == 403


async def test_retry_and_purge_need_the_csrf_token_and_act_on_one_alertname() -> None:
    async with console() as client:
        outbox = bridge_of(client).outbox
        for worker in bridge_of(client).workers.values():
            worker.stopping = True  # keep what is queued where the test put it
        ids = await outbox.enqueue({"wecom-ops": [entry({"text": "a"}), entry({"text": "b"})]})
        assert ids is not None
        await outbox.bury(ids, "permanent failure: 93000: invalid webhook url")
        page = await client.get("/ui/receivers/wecom-ops", headers=AUTH)
        assert "93000" in page.text
        assert_no_secret(page.text)
        forged = await client.post("/ui/receivers/wecom-ops/retry", headers=AUTH, data={})
        assert forged.status_code == 403
        assert await outbox.dead_count("wecom-ops") == 2
        token = csrf_of(page.text)
        done = await client.post(
            "/ui/receivers/wecom-ops/purge", headers=AUTH, data={"csrf": token, "group": "x"}
        )
        assert done.status_code == 303
        assert await outbox.dead_count("wecom-ops") == 2  # no message about "x"
        retried = await client.post(
            "/ui/receivers/wecom-ops/retry", headers=AUTH, data={"csrf": token, "group": ""}
        )
        assert retried.status_code == 303
        shown = await client.get(retried.headers["location"].removeprefix(PREFIX), headers=AUTH)
        assert "re-queued 2 dead message(s)" in shown.text
        crafted = await client.get("/ui/receivers/wecom-ops?done=call.0800.now", headers=AUTH)
        assert "0800" not in crafted.text
        assert (await outbox.dead_count("wecom-ops"), await outbox.backlog("wecom-ops")) == (0, 2)


@pytest.mark.parametrize("receiver", ["feishu-ops", "dingtalk-ops", "wecom-ops"])
async def test_preview_shows_the_card_and_its_json_without_secrets(receiver: str) -> None:
    async with console() as client:
        token = csrf_of((await client.get("/ui/preview", headers=AUTH)).text)
        form = {"csrf": token, "receiver": receiver, "source": "alert", "payload": ""}
        page = await client.post("/ui/preview", headers=AUTH, data=form)
        assert page.status_code == 200
        assert "NodeFilesystemAlmostOutOfSpace" in page.text
        assert ('class="card"' in page.text) == (receiver == "feishu-ops")
        assert_no_secret(page.text)


async def test_preview_reports_an_invalid_payload() -> None:
    async with console() as client:
        token = csrf_of((await client.get("/ui/preview", headers=AUTH)).text)
        form = {"csrf": token, "receiver": "feishu-ops", "source": "payload", "payload": "{"}
        page = await client.post("/ui/preview", headers=AUTH, data=form)
        assert "not a valid Alertmanager webhook body" in page.text


async def test_preview_takes_a_pasted_grafana_body() -> None:
    raw = (FIXTURES / "grafana" / "firing.json").read_text()
    async with console() as client:
        token = csrf_of((await client.get("/ui/preview", headers=AUTH)).text)
        form = {"csrf": token, "receiver": "feishu-ops", "source": "payload", "payload": raw}
        page = await client.post("/ui/preview", headers=AUTH, data=form)
        assert page.status_code == 200
        assert "not a valid" not in page.text
        # The evaluated value as the card prints it: not in the pasted JSON the form echoes.
        assert "B=44.2394, C=1" in page.text


async def test_send_test_shows_the_platforms_answer() -> None:
    async with console() as client:
        token = csrf_of((await client.get("/ui/send-test", headers=AUTH)).text)
        page = await client.post(
            "/ui/send-test", headers=AUTH, data={"csrf": token, "receiver": "dingtalk-ops"}
        )
        assert "ok (code 0: ok)" in page.text
        assert_no_secret(page.text)


def silence_token(expires: int, secret: str = LINK_SECRET) -> str:
    return sign_token(secret, SilenceRequest("feishu-ops", {"alertname": "DiskFull"}, expires))


async def test_a_silence_link_get_only_asks_and_bad_tokens_are_refused() -> None:
    async with console() as client:
        now = int(bridge_of(client).clock())
        page = await client.get(f"/ui/silence/{silence_token(now + 600)}")  # no login needed
        assert page.status_code == 200
        assert "DiskFull" in page.text
        assert 'name="nonce"' in page.text
        assert_no_secret(page.text)
        tampered = await client.get(f"/ui/silence/{silence_token(now + 600, 'other-key')}")
        assert tampered.status_code == 403
        expired = await client.get(f"/ui/silence/{silence_token(now - 1)}")
        assert expired.status_code == 410
        no_nonce = await client.post(
            f"/ui/silence/{silence_token(now + 600)}", data={"duration": "2h", "name": "me"}
        )
        assert no_nonce.status_code == 403
        metric = bridge_of(client).metrics.silences_created.labels("feishu-ops")
        assert metric._value.get() == 0


async def test_a_secret_inside_a_pasted_payload_is_masked_on_the_page() -> None:
    leaky = {
        "version": "4",
        "status": "firing",
        "receiver": "x",
        "groupKey": "{}:{}",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Leaky"},
                "annotations": {"summary": f"token {TOKENS['feishu']} and {LINK_SECRET}"},
                "startsAt": "2026-12-04T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }
    async with console() as client:
        token = csrf_of((await client.get("/ui/preview", headers=AUTH)).text)
        form = {"csrf": token, "receiver": "feishu-ops", "source": "payload"}
        page = await client.post(
            "/ui/preview", headers=AUTH, data={**form, "payload": json.dumps(leaky)}
        )
        assert "Leaky" in page.text
        assert "token *** and ***" in page.text
        assert_no_secret(page.text)


async def test_preview_shows_a_template_error_and_the_fallback(tmp_path: Path) -> None:
    broken = tmp_path / "feishu" / "alert.json.j2"
    broken.parent.mkdir()
    broken.write_text("{{ no_such_function() }}", encoding="utf-8")
    async with console(cards_dir=str(tmp_path)) as client:
        token = csrf_of((await client.get("/ui/preview", headers=AUTH)).text)
        form = {"csrf": token, "receiver": "feishu-ops", "source": "alert", "payload": ""}
        page = await client.post("/ui/preview", headers=AUTH, data=form)
        assert "Template error: feishu/alert.json.j2: UndefinedError" in page.text
        assert 'class="card"' in page.text  # the built-in card stood in
        errors = bridge_of(client).metrics.template_errors.labels("feishu", "feishu/alert.json.j2")
        assert errors._value.get() == 0  # a preview does not fire the template-error alert
