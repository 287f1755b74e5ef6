"""The fake chat bots behave like reference/chat-platforms.md says the real ones do (1.8, 2.8, 3.8).

Signatures here are computed from the reference formulas, independently of tests.fakes.signing
and of app/, so a mistake on either side shows up as a failing test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from tests.fakes.chatbots import FakeBots
from tests.fakes.records import Attempt
from tests.fakes.server import serve_in_thread
from tests.support.queues import Clock

NOW = 1_599_360_473  # The reference test vectors' timestamp, in seconds.
FEISHU_VECTOR = "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="  # 1.2, secret "demo"
FEISHU_VECTOR_DINGTALK_VARIANT = "DkEDUyVoOOJ539qBvUgMyzkzIdRWlf4e/V3Rq+ONJnQ="  # 1.2 pitfall
DINGTALK_VECTOR = "tGWkA5eQOQNCNPDgphtxIoNLO+/gD8Lcb705KQoRzeY="  # 2.2, secret "SECdemo"
DINGTALK_VECTOR_QUERY = "tGWkA5eQOQNCNPDgphtxIoNLO%2B%2FgD8Lcb705KQoRzeY%3D"
FEISHU_SECRET, DINGTALK_SECRET = "demo", "SECdemo"

Body = dict[str, Any]


# -- helpers: clocks, signatures, requests --------------------------------------------------


def hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(timestamp: int, secret: str) -> str:
    return hmac_b64(f"{timestamp}\n{secret}", "")  # key = "ts\nsecret", empty message


def dingtalk_sign(timestamp: int, secret: str) -> str:
    return hmac_b64(secret, f"{timestamp}\n{secret}")  # key = secret, message = "ts\nsecret"


def encode(body: Body) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sized(body: Body, text_path: tuple[str, str], total_bytes: int) -> bytes:
    """`body` with the string at text_path padded so the encoded body is exactly total_bytes."""
    outer, inner = text_path
    empty = {**body, outer: {**body[outer], inner: ""}}
    pad = total_bytes - len(encode(empty))
    raw = encode({**body, outer: {**body[outer], inner: "x" * pad}})
    assert len(raw) == total_bytes
    return raw


def code_of(response: httpx.Response) -> int:
    data = response.json()
    return int(data["code"] if "code" in data else data["errcode"])


def message_of(response: httpx.Response) -> str:
    data = response.json()
    return str(data["msg"] if "msg" in data else data["errmsg"])


async def post_feishu(client: httpx.AsyncClient, token: str, body: Body | bytes) -> httpx.Response:
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"content-type": "application/json"}
    return await client.post(f"/open-apis/bot/v2/hook/{token}", content=raw, headers=headers)


async def post_dingtalk(
    client: httpx.AsyncClient, query: str, body: Body | bytes
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"content-type": "application/json; charset=utf-8"}
    return await client.post(f"/robot/send?{query}", content=raw, headers=headers)


async def post_wecom(client: httpx.AsyncClient, query: str, body: Body | bytes) -> httpx.Response:
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"content-type": "application/json"}
    return await client.post(f"/cgi-bin/webhook/send?{query}", content=raw, headers=headers)


FEISHU_TEXT: Body = {"msg_type": "text", "content": {"text": "alert: CPU high on node-3"}}
DINGTALK_TEXT: Body = {"msgtype": "text", "text": {"content": "alert: DiskFull on db-1"}}
WECOM_TEXT: Body = {"msgtype": "text", "text": {"content": "alert: PodOOMKilled api-7f9"}}


def last_attempt(bots: FakeBots) -> Attempt:
    return bots.attempts[-1]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(float(NOW))


@pytest.fixture
def bots(clock: Clock) -> FakeBots:
    fake = FakeBots(clock=clock)
    fake.add_feishu("fs-open")
    fake.add_feishu("fs-signed", secret=FEISHU_SECRET)
    fake.add_feishu("fs-keyword", keywords=["alert", "告警"])
    fake.add_feishu("fs-400", bad_request_status=400)
    fake.add_feishu("fs-9499", rate_variant="9499")
    fake.add_dingtalk("dt-open")
    fake.add_dingtalk("dt-signed", secret=DINGTALK_SECRET)
    fake.add_dingtalk("dt-keyword", keywords=["alert"])
    fake.add_dingtalk("dt-410100", rate_code=410100, penalty_seconds=120.0)
    fake.add_wecom("wc-key")
    fake.add_wecom("wc-5120", text_limit=5120)
    return fake


@pytest.fixture
async def client(bots: FakeBots) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bots.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        yield http


# -- Feishu ---------------------------------------------------------------------------------

CARD_V1: Body = {
    "config": {"wide_screen_mode": True},
    "header": {"title": {"tag": "plain_text", "content": "[FIRING:2] KubeNodeNotReady"}},
    "elements": [
        {"tag": "div", "text": {"tag": "lark_md", "content": "**cluster**: prod"}},
        {"tag": "action", "actions": [{"tag": "button", "url": "https://g.example/d/abc"}]},
        {"tag": "note", "elements": [{"tag": "plain_text", "content": "alertmanager"}]},
    ],
}
CARD_V2: Body = {
    "schema": "2.0",
    "header": {"title": {"tag": "plain_text", "content": "[RESOLVED] KubeNodeNotReady"}},
    "body": {"elements": [{"tag": "markdown", "content": "## node-3 Ready again"}]},
}
POST: Body = {
    "post": {
        "zh_cn": {
            "title": "KubePodCrashLooping",
            "content": [[{"tag": "a", "text": "alert runbook", "href": "https://r.example/crash"}]],
        }
    }
}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(FEISHU_TEXT, id="text"),
        pytest.param({"msg_type": "post", "content": POST}, id="post"),
        pytest.param({"msg_type": "image", "content": {"image_key": "img_1"}}, id="image"),
        pytest.param(
            {"msg_type": "share_chat", "content": {"share_chat_id": "oc_1"}}, id="share-chat"
        ),
        pytest.param({"msg_type": "interactive", "card": CARD_V1}, id="card-1.0-with-note"),
        pytest.param({"msg_type": "interactive", "card": CARD_V2}, id="card-2.0"),
        pytest.param(
            {"msg_type": "interactive", "card": {"type": "template", "data": {"template_id": "A"}}},
            id="template-card",
        ),
    ],
)
async def test_feishu_accepts_documented_message_with_both_success_field_pairs(
    bots: FakeBots, client: httpx.AsyncClient, body: Body
) -> None:
    response = await post_feishu(client, "fs-open", body)

    assert response.status_code == 200
    assert response.json() == {
        "StatusCode": 0,
        "StatusMessage": "success",
        "code": 0,
        "data": {},
        "msg": "success",
    }
    assert bots.messages("fs-open") == [body]
    assert bots.received[-1].platform == "feishu"
    assert bots.received[-1].at == NOW


@pytest.mark.parametrize(
    ("timestamp", "sign"),
    [
        pytest.param(str(NOW), FEISHU_VECTOR, id="reference-vector-string-timestamp"),
        pytest.param(NOW, FEISHU_VECTOR, id="reference-vector-number-timestamp"),
        pytest.param(NOW - 3600, feishu_sign(NOW - 3600, "demo"), id="exactly-one-hour-old"),
        pytest.param(NOW + 3600, feishu_sign(NOW + 3600, "demo"), id="exactly-one-hour-ahead"),
    ],
)
async def test_feishu_accepts_feishu_variant_signature_within_an_hour(
    bots: FakeBots, client: httpx.AsyncClient, timestamp: object, sign: str
) -> None:
    body = {**FEISHU_TEXT, "timestamp": timestamp, "sign": sign}

    response = await post_feishu(client, "fs-signed", body)

    assert code_of(response) == 0
    assert bots.messages("fs-signed") == [body]


def test_feishu_reference_vectors_match_the_documented_formulas() -> None:
    assert feishu_sign(NOW, "demo") == FEISHU_VECTOR
    assert dingtalk_sign(NOW, "demo") == FEISHU_VECTOR_DINGTALK_VARIANT


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(
            {"timestamp": str(NOW), "sign": FEISHU_VECTOR_DINGTALK_VARIANT}, id="dingtalk-variant"
        ),
        pytest.param({"timestamp": str(NOW), "sign": quote_plus(FEISHU_VECTOR)}, id="url-encoded"),
        pytest.param({"timestamp": str(NOW), "sign": feishu_sign(NOW, "other")}, id="wrong-secret"),
        pytest.param(
            {"timestamp": str(NOW - 3601), "sign": feishu_sign(NOW - 3601, "demo")},
            id="stale-by-3601s",
        ),
        pytest.param(
            {"timestamp": str(NOW + 3601), "sign": feishu_sign(NOW + 3601, "demo")},
            id="ahead-by-3601s",
        ),
        pytest.param(
            {"timestamp": str(NOW * 1000), "sign": feishu_sign(NOW * 1000, "demo")},
            id="milliseconds",
        ),
        pytest.param({"timestamp": str(NOW)}, id="missing-sign"),
        pytest.param({"sign": FEISHU_VECTOR}, id="missing-timestamp"),
    ],
)
async def test_feishu_refuses_bad_or_stale_signature_with_19021(
    bots: FakeBots, client: httpx.AsyncClient, signature: Body
) -> None:
    response = await post_feishu(client, "fs-signed", {**FEISHU_TEXT, **signature})

    assert response.status_code == 200
    assert code_of(response) == 19021
    assert "sign match fail" in message_of(response)
    assert bots.received == []
    assert last_attempt(bots).code == 19021


def _card_v2_with(element: Body) -> Body:
    return {**CARD_V2, "body": {"elements": [element]}}


MARKDOWN_ALERT = {"tag": "markdown", "content": "alert"}
HREF_ALERT = {"tag": "a", "text": "runbook", "href": "https://x.example/alert"}
POST_ALERT_ONLY_IN_HREF = {
    "msg_type": "post",
    "content": {"post": {"en_us": {"title": "t", "content": [[HREF_ALERT]]}}},
}
FEISHU_BIG = {"msg_type": "text", "content": {"text": ""}}


@pytest.mark.parametrize(
    ("token", "body", "http_status", "code", "fragment"),
    [
        pytest.param("nope", FEISHU_TEXT, 200, 19001, "access token invalid", id="unknown-token"),
        pytest.param("fs-open", b"{not json", 200, 9499, "Bad Request", id="not-json"),
        pytest.param("fs-open", b"[1, 2]", 200, 9499, "Bad Request", id="json-array"),
        pytest.param(
            "fs-open",
            sized(FEISHU_BIG, ("content", "text"), 20_001),
            200,
            9499,
            "Bad Request",
            id="body-20001-bytes",
        ),
        pytest.param("fs-400", b"{not json", 400, 9499, "Bad Request", id="not-json-400-variant"),
        pytest.param("fs-open", {"content": {}}, 200, 19002, "msg_type need", id="no-msg-type"),
        pytest.param(
            "fs-open",
            {"msg_type": "text", "content": json.dumps({"text": "x"})},
            200,
            9499,
            "fail to parse content",
            id="content-as-json-string",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "text", "content": {}},
            200,
            9499,
            "fail to parse content",
            id="text-without-text",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "markdown", "content": {"text": "x"}},
            200,
            9499,
            "fail to parse content",
            id="unknown-msg-type",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "interactive", "content": CARD_V1},
            200,
            11246,
            "200621",
            id="card-missing",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "interactive", "card": json.dumps(CARD_V1)},
            200,
            11246,
            "200621",
            id="card-as-json-string",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "interactive", "card": _card_v2_with({"tag": "note", "elements": []})},
            200,
            11246,
            "ErrCode: 200861",
            id="card-2.0-note",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "interactive", "card": _card_v2_with({"tag": "action", "actions": []})},
            200,
            11246,
            "unsupported tag action",
            id="card-2.0-action",
        ),
        pytest.param(
            "fs-open",
            {"msg_type": "interactive", "card": {**CARD_V1, "schema": "2.0"}},
            200,
            11246,
            "200621",
            id="card-2.0-with-top-level-elements",
        ),
        pytest.param(
            "fs-keyword",
            {"msg_type": "text", "content": {"text": "CPU high"}},
            200,
            19024,
            "Key Words Not Found",
            id="keyword-missing",
        ),
        pytest.param(
            "fs-keyword",
            POST_ALERT_ONLY_IN_HREF,
            200,
            19024,
            "Key Words Not Found",
            id="keyword-only-in-href",
        ),
    ],
)
async def test_feishu_refuses_with_platform_code(
    bots: FakeBots,
    client: httpx.AsyncClient,
    token: str,
    body: Body | bytes,
    http_status: int,
    code: int,
    fragment: str,
) -> None:
    response = await post_feishu(client, token, body)

    assert (response.status_code, code_of(response)) == (http_status, code)
    assert fragment in message_of(response)
    assert bots.received == []
    assert (last_attempt(bots).http_status, last_attempt(bots).code) == (http_status, code)


async def test_feishu_accepts_body_of_exactly_20000_bytes(
    bots: FakeBots, client: httpx.AsyncClient
) -> None:
    response = await post_feishu(client, "fs-open", sized(FEISHU_BIG, ("content", "text"), 20_000))

    assert code_of(response) == 0
    assert len(bots.received) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"msg_type": "text", "content": {"text": "disk alert"}}, id="text"),
        pytest.param({"msg_type": "text", "content": {"text": "磁盘告警"}}, id="text-chinese"),
        pytest.param({"msg_type": "post", "content": POST}, id="post-link-text-not-href"),
        pytest.param(
            {"msg_type": "post", "content": {"post": {"zh_cn": {"title": "alert", "content": []}}}},
            id="post-title",
        ),
        pytest.param(
            {"msg_type": "interactive", "card": {"header": {"title": {"content": "alert"}}}},
            id="card-header",
        ),
        pytest.param(
            {"msg_type": "interactive", "card": _card_v2_with(MARKDOWN_ALERT)},
            id="card-markdown",
        ),
        pytest.param(
            {
                "msg_type": "interactive",
                "card": {
                    "type": "template",
                    "data": {"template_id": "A", "template_variable": {"node": "alert node-3"}},
                },
            },
            id="template-variable",
        ),
    ],
)
async def test_feishu_finds_keyword_in_text_like_values(
    bots: FakeBots, client: httpx.AsyncClient, body: Body
) -> None:
    response = await post_feishu(client, "fs-keyword", body)

    assert code_of(response) == 0
    assert bots.messages("fs-keyword") == [body]


async def test_feishu_limits_five_per_second_with_11232(
    bots: FakeBots, client: httpx.AsyncClient, clock: Clock
) -> None:
    codes = [code_of(await post_feishu(client, "fs-open", FEISHU_TEXT)) for _ in range(6)]
    refused = await post_feishu(client, "fs-open", FEISHU_TEXT)
    clock.advance(1.0)
    after_a_second = await post_feishu(client, "fs-open", FEISHU_TEXT)

    assert codes == [0, 0, 0, 0, 0, 11232]
    assert refused.status_code == 200
    assert refused.json() == {
        "code": 11232,
        "data": {},
        "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]",
    }
    assert code_of(after_a_second) == 0
    assert len(bots.messages("fs-open")) == 6


async def test_feishu_limits_a_hundred_per_sliding_minute(
    bots: FakeBots, client: httpx.AsyncClient, clock: Clock
) -> None:
    codes = []
    for _ in range(100):  # 4 per second: under the per-second limit, 25 s in all
        codes.append(code_of(await post_feishu(client, "fs-open", FEISHU_TEXT)))
        clock.advance(0.25)
    over = code_of(await post_feishu(client, "fs-open", FEISHU_TEXT))
    clock.now = NOW + 60  # the first message (sent at NOW) has left the window, only it
    first_slot_free = code_of(await post_feishu(client, "fs-open", FEISHU_TEXT))
    still_full = code_of(await post_feishu(client, "fs-open", FEISHU_TEXT))

    assert codes == [0] * 100
    assert (over, first_slot_free, still_full) == (11232, 0, 11232)


async def test_feishu_9499_rate_variant_answers_http_400_with_status_code_zero(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        await post_feishu(client, "fs-9499", FEISHU_TEXT)

    response = await post_feishu(client, "fs-9499", FEISHU_TEXT)

    assert response.status_code == 400
    assert response.json() == {
        "StatusCode": 0,
        "StatusMessage": "",
        "code": 9499,
        "msg": "too many request",
    }


# -- DingTalk -------------------------------------------------------------------------------

HOUR_AGO_MS = (NOW - 3600) * 1000
HOUR_AGO_SIGN = quote_plus(dingtalk_sign(HOUR_AGO_MS, DINGTALK_SECRET))
DINGTALK_MESSAGES = {
    "text": DINGTALK_TEXT,
    "markdown": {"msgtype": "markdown", "markdown": {"title": "DiskFull", "text": "#### alert"}},
    "link": {
        "msgtype": "link",
        "link": {"title": "DiskFull", "text": "97%", "messageUrl": "https://g.example/d/abc"},
    },
    "action-card-single": {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "t",
            "text": "### x",
            "singleTitle": "Go",
            "singleURL": "https://g",
        },
    },
    "action-card-buttons": {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "t",
            "text": "x",
            "btns": [{"title": "G", "actionURL": "https://g"}],
        },
    },
    "feed-card": {
        "msgtype": "feedCard",
        "feedCard": {"links": [{"title": "t", "messageURL": "https://g", "picURL": "https://p"}]},
    },
}


@pytest.mark.parametrize("body", DINGTALK_MESSAGES.values(), ids=DINGTALK_MESSAGES.keys())
async def test_dingtalk_accepts_webhook_message_types(
    bots: FakeBots, client: httpx.AsyncClient, body: Body
) -> None:
    response = await post_dingtalk(client, "access_token=dt-open", body)

    assert response.status_code == 200
    assert response.json() == {"errcode": 0, "errmsg": "ok"}
    assert bots.messages("dt-open") == [body]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"timestamp={NOW}000&sign={DINGTALK_VECTOR_QUERY}", id="reference-vector"),
        pytest.param(f"timestamp={HOUR_AGO_MS}&sign={HOUR_AGO_SIGN}", id="exactly-one-hour-old"),
    ],
)
async def test_dingtalk_accepts_dingtalk_variant_signature_in_query(
    bots: FakeBots, client: httpx.AsyncClient, query: str
) -> None:
    response = await post_dingtalk(client, f"access_token=dt-signed&{query}", DINGTALK_TEXT)

    assert code_of(response) == 0
    assert bots.messages("dt-signed") == [DINGTALK_TEXT]


def test_dingtalk_reference_vector_matches_the_documented_formula() -> None:
    assert dingtalk_sign(NOW * 1000, DINGTALK_SECRET) == DINGTALK_VECTOR
    assert quote_plus(DINGTALK_VECTOR) == DINGTALK_VECTOR_QUERY


def _signed(timestamp: int | str, sign: str) -> str:
    return f"access_token=dt-signed&timestamp={timestamp}&sign={sign}"


MS = NOW * 1000
NO_TOKEN, NO_MATCH, BAD_TIME = "token is not exist", "sign not match", "invalid timestamp"
UNSUPPORTED = "不支持的消息类型"
DT = DINGTALK_TEXT
DINGTALK_MARKDOWN = DINGTALK_MESSAGES["markdown"]
DINGTALK_BIG = {"msgtype": "text", "text": {"content": ""}}


@pytest.mark.parametrize(
    ("query", "body", "code", "errmsg"),
    [
        pytest.param("", DT, 300001, NO_TOKEN, id="missing-token"),
        pytest.param("access_token=nope", DT, 300001, NO_TOKEN, id="unknown-token"),
        pytest.param(
            _signed(MS, quote_plus(FEISHU_VECTOR)), DT, 310000, NO_MATCH, id="feishu-sign"
        ),
        pytest.param(_signed(MS, DINGTALK_VECTOR), DT, 310000, NO_MATCH, id="sign-not-url-encoded"),
        pytest.param(
            _signed(MS, quote_plus(DINGTALK_VECTOR_QUERY)),
            DT,
            310000,
            NO_MATCH,
            id="sign-double-encoded",
        ),
        pytest.param(f"access_token=dt-signed&timestamp={MS}", DT, 310000, NO_MATCH, id="no-sign"),
        pytest.param(
            f"access_token=dt-signed&sign={DINGTALK_VECTOR_QUERY}",
            DT,
            310000,
            BAD_TIME,
            id="no-timestamp",
        ),
        pytest.param(
            _signed(NOW, quote_plus(dingtalk_sign(NOW, DINGTALK_SECRET))),
            DT,
            310000,
            BAD_TIME,
            id="seconds-not-milliseconds",
        ),
        pytest.param(
            _signed(MS - 3_600_001, quote_plus(dingtalk_sign(MS - 3_600_001, DINGTALK_SECRET))),
            DT,
            310000,
            BAD_TIME,
            id="stale-by-3600001ms",
        ),
        pytest.param(
            "access_token=dt-keyword",
            {"msgtype": "markdown", "markdown": {"title": "alert", "text": "disk full"}},
            310000,
            "keywords not in content",
            id="keyword-only-in-title",
        ),
        pytest.param(
            "access_token=dt-open",
            sized(DINGTALK_BIG, ("text", "content"), 20_001),
            460101,
            "exceed 20000 bytes",
            id="body-20001-bytes",
        ),
        pytest.param("access_token=dt-open", b"{not json", 400105, UNSUPPORTED, id="not-json"),
        pytest.param(
            "access_token=dt-open",
            {"msgtype": "image", "image": {"picURL": "https://p"}},
            400105,
            UNSUPPORTED,
            id="image-is-api-only",
        ),
        pytest.param("access_token=dt-open", {"text": {}}, 400105, UNSUPPORTED, id="no-msgtype"),
        pytest.param(
            "access_token=dt-open",
            {"msgtype": "markdown", "markdown": {"text": "x"}},
            400105,
            "markdown.title",
            id="markdown-without-title",
        ),
        pytest.param(
            "access_token=dt-open",
            {"msgtype": "markdown", "markdown": {"title": "x"}},
            400105,
            "markdown.text",
            id="markdown-without-text",
        ),
    ],
)
async def test_dingtalk_refuses_with_errcode_in_http_200(
    bots: FakeBots,
    client: httpx.AsyncClient,
    query: str,
    body: Body | bytes,
    code: int,
    errmsg: str,
) -> None:
    response = await post_dingtalk(client, query, body)

    assert response.status_code == 200
    assert code_of(response) == code
    assert errmsg in message_of(response)
    assert bots.received == []
    assert last_attempt(bots).code == code


async def test_dingtalk_keyword_in_body_text_is_accepted(
    bots: FakeBots, client: httpx.AsyncClient
) -> None:
    response = await post_dingtalk(client, "access_token=dt-keyword", DINGTALK_MARKDOWN)

    assert code_of(response) == 0
    assert bots.messages("dt-keyword") == [DINGTALK_MARKDOWN]


async def test_dingtalk_accepts_body_of_exactly_20000_bytes(client: httpx.AsyncClient) -> None:
    raw = sized(DINGTALK_BIG, ("text", "content"), 20_000)

    assert code_of(await post_dingtalk(client, "access_token=dt-open", raw)) == 0


async def test_dingtalk_unknown_token_uses_the_configured_generation_code(
    bots: FakeBots, client: httpx.AsyncClient
) -> None:
    bots.add_dingtalk("dt-new", bad_token_code=400101)

    response = await post_dingtalk(client, "access_token=nope", DINGTALK_TEXT)

    assert response.json() == {"errcode": 400101, "errmsg": "access_token不存在"}


async def test_dingtalk_blocks_for_ten_minutes_after_the_21st_message_in_a_minute(
    bots: FakeBots, client: httpx.AsyncClient, clock: Clock
) -> None:
    async def send() -> httpx.Response:
        return await post_dingtalk(client, "access_token=dt-open", DINGTALK_TEXT)

    codes = []
    for _ in range(20):
        codes.append(code_of(await send()))
        clock.advance(2.0)  # 20 messages over 40 s
    refused = await send()
    clock.advance(61.0)  # the minute has cleared, the penalty has not
    during_penalty = await send()
    clock.now = NOW + 40 + 600  # ten minutes after the 21st message
    recovered = await send()

    assert codes == [0] * 20
    assert refused.json() | {"uuid": "-"} == {
        "errcode": 130101,
        "errmsg": "send too fast, exceed 20 times per minute",
        "status": 1111,
        "wait": 5,
        "source": "x5",
        "punish": "deny",
        "uuid": "-",
    }
    assert code_of(during_penalty) == 130101
    assert code_of(recovered) == 0
    assert len(bots.messages("dt-open")) == 21


async def test_dingtalk_current_generation_rate_code_and_custom_penalty(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    async def send() -> httpx.Response:
        return await post_dingtalk(client, "access_token=dt-410100", DINGTALK_TEXT)

    for _ in range(20):
        await send()
    refused = await send()
    clock.advance(119.0)
    still_refused = code_of(await send())
    clock.advance(1.0)
    recovered = code_of(await send())

    assert refused.json() == {"errcode": 410100, "errmsg": "发送速度太快而限流"}
    assert (still_refused, recovered) == (410100, 0)


# -- WeCom ----------------------------------------------------------------------------------

WECOM_MESSAGES = {
    "text": WECOM_TEXT,
    "markdown": {"msgtype": "markdown", "markdown": {"content": '### <font color="warning">x'}},
    "markdown-v2": {"msgtype": "markdown_v2", "markdown_v2": {"content": "| a |\n| :-- |"}},
    "news": {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://g"}]}},
    "image": {"msgtype": "image", "image": {"base64": "aGk=", "md5": "49f68a5c8493ec2c"}},
    "file": {"msgtype": "file", "file": {"media_id": "m1"}},
    "template-card": {
        "msgtype": "template_card",
        "template_card": {"card_type": "text_notice", "main_title": {"title": "t"}},
    },
}


@pytest.mark.parametrize("body", WECOM_MESSAGES.values(), ids=WECOM_MESSAGES.keys())
async def test_wecom_accepts_message_types(
    bots: FakeBots, client: httpx.AsyncClient, body: Body
) -> None:
    response = await post_wecom(client, "key=wc-key", body)

    assert response.json() == {"errcode": 0, "errmsg": "ok"}
    assert bots.messages("wc-key") == [body]


BAD_TYPE = "invalid message type"


def _wecom(kind: str, content: str) -> Body:
    return {"msgtype": kind, kind: {"content": content}}


@pytest.mark.parametrize(
    ("query", "body", "code", "reason"),
    [
        pytest.param("", WECOM_TEXT, 40058, "invalid param 'key'", id="missing-key"),
        pytest.param("key=", WECOM_TEXT, 40058, "invalid param 'key'", id="empty-key"),
        pytest.param("key=nope", WECOM_TEXT, 93000, "invalid webhook url", id="unknown-key"),
        pytest.param("key=wc-key", b"{not json", 40058, "Invalid input", id="not-json"),
        pytest.param("key=wc-key", {"msgtype": "video"}, 40008, BAD_TYPE, id="unknown-msgtype"),
        pytest.param("key=wc-key", {"text": {"content": "x"}}, 40008, BAD_TYPE, id="no-msgtype"),
        pytest.param("key=wc-key", _wecom("text", ""), 44004, "empty content", id="empty-text"),
        pytest.param(
            "key=wc-key", {"msgtype": "markdown"}, 44004, "empty content", id="no-content"
        ),
        pytest.param(
            "key=wc-key",
            _wecom("text", "警" * 683),
            40058,
            "text.content exceed max length 2048",
            id="text-2049-bytes-multibyte",
        ),
        pytest.param(
            "key=wc-key",
            _wecom("markdown", "x" * 4097),
            40058,
            "markdown.content exceed max length 4096",
            id="markdown-4097-bytes",
        ),
        pytest.param(
            "key=wc-key",
            _wecom("markdown_v2", "é" * 2049),
            40058,
            "markdown_v2.content exceed max length 4096",
            id="markdown-v2-4098-bytes",
        ),
        pytest.param(
            "key=wc-5120",
            _wecom("text", "x" * 5121),
            40058,
            "text.content exceed max length 5120",
            id="text-over-configured-5120",
        ),
        pytest.param(
            "key=wc-key",
            {"msgtype": "news", "news": {"articles": [{"title": "t"}] * 9}},
            40058,
            "news.articles",
            id="news-nine-articles",
        ),
    ],
)
async def test_wecom_refuses_with_errcode_and_diagnostic_suffix(
    bots: FakeBots,
    client: httpx.AsyncClient,
    query: str,
    body: Body | bytes,
    code: int,
    reason: str,
) -> None:
    response = await post_wecom(client, query, body)

    assert response.status_code == 200
    assert code_of(response) == code
    suffix = (
        r", hint: \[[^\]]+\], from ip: 127\.0\.0\.1, more info at "
        rf"https://open\.work\.weixin\.qq\.com/devtool/query\?e={code}$"
    )
    assert re.fullmatch(re.escape(reason) + ".*" + suffix, message_of(response))
    assert bots.received == []


@pytest.mark.parametrize(
    ("query", "body"),
    [
        pytest.param("key=wc-key", _wecom("text", "x" * 2048), id="text-2048-bytes"),
        pytest.param("key=wc-key", _wecom("markdown", "警" * 1365), id="markdown-4095-bytes"),
        pytest.param("key=wc-5120", _wecom("text", "x" * 5120), id="text-5120-configured"),
    ],
)
async def test_wecom_accepts_content_up_to_its_byte_limit(
    client: httpx.AsyncClient, query: str, body: Body
) -> None:
    assert code_of(await post_wecom(client, query, body)) == 0


async def test_wecom_truncates_news_title_and_description_by_bytes(
    bots: FakeBots, client: httpx.AsyncClient
) -> None:
    article = {"title": "警" * 50, "description": "d" * 600, "url": "https://g"}
    body = {"msgtype": "news", "news": {"articles": [article]}}

    response = await post_wecom(client, "key=wc-key", body)

    assert code_of(response) == 0
    [shown] = bots.messages("wc-key")[0]["news"]["articles"]
    assert shown == {"title": "警" * 42, "description": "d" * 512, "url": "https://g"}


async def test_wecom_limits_twenty_per_minute_with_45009(
    bots: FakeBots, client: httpx.AsyncClient, clock: Clock
) -> None:
    codes = [code_of(await post_wecom(client, "key=wc-key", WECOM_TEXT)) for _ in range(21)]
    clock.advance(60.0)
    after_the_window = code_of(await post_wecom(client, "key=wc-key", WECOM_TEXT))

    assert codes == [0] * 20 + [45009]
    assert after_the_window == 0
    assert len(bots.messages("wc-key")) == 21


# -- all platforms: rate switch, fail modes, records ----------------------------------------

Post = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
PLATFORM_POSTS: dict[str, tuple[str, Post]] = {
    "feishu": ("fs-open", lambda c: post_feishu(c, "fs-open", FEISHU_TEXT)),
    "dingtalk": ("dt-open", lambda c: post_dingtalk(c, "access_token=dt-open", DINGTALK_TEXT)),
    "wecom": ("wc-key", lambda c: post_wecom(c, "key=wc-key", WECOM_TEXT)),
}
PLATFORMS = pytest.mark.parametrize(
    ("token", "post"), PLATFORM_POSTS.values(), ids=PLATFORM_POSTS.keys()
)


@PLATFORMS
async def test_rate_limits_can_be_lifted_for_benchmarks(
    bots: FakeBots, client: httpx.AsyncClient, token: str, post: Post
) -> None:
    bots.set_rate_limits(False)
    lifted = [code_of(await post(client)) for _ in range(120)]
    bots.set_rate_limits(True)
    restored = code_of(await post(client))

    assert lifted == [0] * 120
    assert restored != 0
    assert len(bots.messages(token)) == 120


@PLATFORMS
async def test_5xx_fault_answers_503_for_the_given_number_of_requests(
    bots: FakeBots, client: httpx.AsyncClient, token: str, post: Post
) -> None:
    bots.fail(token, "5xx", times=2)

    statuses = [(await post(client)).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert [(a.http_status, a.code) for a in bots.attempts] == [(503, None), (503, None), (200, 0)]
    assert len(bots.messages(token)) == 1


@PLATFORMS
async def test_garbage_fault_answers_200_with_a_non_json_body_until_healed(
    bots: FakeBots, client: httpx.AsyncClient, token: str, post: Post
) -> None:
    bots.fail(token, "garbage")
    garbage = [await post(client) for _ in range(3)]
    bots.heal(token)
    healed = await post(client)

    for response in garbage:
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert code_of(healed) == 0
    assert bots.messages(token) == [bots.attempts[-1].body]


@PLATFORMS
async def test_hang_fault_never_answers_and_is_cancelled_by_the_client_timeout(
    bots: FakeBots, client: httpx.AsyncClient, token: str, post: Post
) -> None:
    # ASGITransport runs the app in the caller's task, so the client's timeout is asyncio's.
    bots.fail(token, "hang", times=1)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await post(client)
    waited = time.monotonic() - started
    async with asyncio.timeout(5.0):  # a fault that outlived `times` would hang the suite here
        next_one = await post(client)

    assert 0.2 <= waited < 2.0
    assert (bots.attempts[0].http_status, bots.attempts[0].code) == (None, None)
    assert code_of(next_one) == 0


@pytest.mark.parametrize(
    ("mode", "times"),
    [pytest.param("sometimes", None, id="unknown-mode"), pytest.param("5xx", 0, id="zero-times")],
)
def test_fail_rejects_nonsense_scripts(bots: FakeBots, mode: Any, times: int | None) -> None:
    with pytest.raises(ValueError, match=r"mode|times"):
        bots.fail("fs-open", mode, times)


def test_keywords_must_not_be_a_bare_string(bots: FakeBots) -> None:
    with pytest.raises(TypeError):
        bots.add_feishu("fs-x", keywords="alert")


async def test_records_every_attempt_but_only_accepted_messages_in_arrival_order(
    bots: FakeBots, client: httpx.AsyncClient, clock: Clock
) -> None:
    await post_feishu(client, "fs-open", FEISHU_TEXT)
    clock.advance(1.5)
    await post_dingtalk(client, "access_token=dt-open", {"msgtype": "nope"})
    clock.advance(1.5)
    await post_wecom(client, "key=wc-key", WECOM_TEXT)

    assert [(a.platform, a.token, a.at, a.code) for a in bots.attempts] == [
        ("feishu", "fs-open", NOW, 0),
        ("dingtalk", "dt-open", NOW + 1.5, 400105),
        ("wecom", "wc-key", NOW + 3.0, 0),
    ]
    assert [(r.platform, r.token, r.body, r.at) for r in bots.received] == [
        ("feishu", "fs-open", FEISHU_TEXT, NOW),
        ("wecom", "wc-key", WECOM_TEXT, NOW + 3.0),
    ]
    assert bots.messages("dt-open") == []


async def test_wait_for_returns_once_true_and_raises_timeout_error_otherwise(
    bots: FakeBots,
) -> None:
    flag = threading.Event()
    threading.Timer(0.05, flag.set).start()

    await bots.wait_for(flag.is_set, timeout=5.0)
    with pytest.raises(TimeoutError):
        await bots.wait_for(lambda: False, timeout=0.05)


# -- real loopback --------------------------------------------------------------------------


async def test_serves_all_three_platforms_over_real_loopback_and_stops_on_exit() -> None:
    bots = FakeBots()  # real clock: a real server, a real signature
    bots.add_feishu("fs", secret=FEISHU_SECRET)
    bots.add_dingtalk("dt", secret=DINGTALK_SECRET)
    bots.add_wecom("wc")
    now = int(time.time())
    feishu_body = {**FEISHU_TEXT, "timestamp": str(now), "sign": feishu_sign(now, FEISHU_SECRET)}
    ms = now * 1000
    dingtalk_query = (
        f"access_token=dt&timestamp={ms}&sign={quote_plus(dingtalk_sign(ms, DINGTALK_SECRET))}"
    )

    with serve_in_thread(bots.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
            codes = [
                code_of(await post_feishu(http, "fs", feishu_body)),
                code_of(await post_dingtalk(http, dingtalk_query, DINGTALK_TEXT)),
                code_of(await post_wecom(http, "key=wc", WECOM_TEXT)),
            ]
            await bots.wait_for(lambda: len(bots.received) == 3, timeout=5.0)

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    assert codes == [0, 0, 0]
    assert [r.platform for r in bots.received] == ["feishu", "dingtalk", "wecom"]
    async with httpx.AsyncClient(base_url=base_url, timeout=1.0) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post("/cgi-bin/webhook/send?key=wc", json=WECOM_TEXT)


async def test_hang_over_loopback_ends_in_a_client_read_timeout_and_a_clean_stop() -> None:
    bots = FakeBots()
    bots.add_wecom("wc")
    bots.fail("wc", "hang")

    started = time.monotonic()
    with serve_in_thread(bots.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=0.3) as http:
            with pytest.raises(httpx.ReadTimeout):
                await post_wecom(http, "key=wc", WECOM_TEXT)
            bots.heal("wc")
            healed = await post_wecom(http, "key=wc", WECOM_TEXT)

    assert code_of(healed) == 0
    assert [a.http_status for a in bots.attempts] == [None, 200]
    assert time.monotonic() - started < 5.0
