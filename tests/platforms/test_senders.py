"""Contract: every platform's sender, against the fake platforms, classifies every answer.

Adding a platform means one sender module and one registry line; this table picks it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.platforms import PLATFORMS as REGISTRY
from app.platforms.dingtalk import dingtalk_sign
from app.platforms.feishu import feishu_sign
from app.platforms.sending import Sender, SendError
from tests.fakes.chatbots import FakeBots
from tests.fakes.faults import FailMode
from tests.fakes.server import serve_in_thread
from tests.support.bots import SECRETS, TOKENS, add_bot, simple_message, webhook_url
from tests.support.cards import CHAT_PLATFORMS

PLATFORMS = list(CHAT_PLATFORMS)


def make_sender(
    bots: FakeBots,
    platform: str,
    *,
    token: str | None = None,
    secret: str | None = None,
    timeout: float = 5.0,
) -> Sender:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=bots.app), timeout=timeout)
    token = token or TOKENS[platform]
    return REGISTRY[platform].sender(
        webhook_url(platform, token), secret or SECRETS.get(platform), client
    )


@pytest.fixture
def bots() -> FakeBots:
    fake = FakeBots()
    for platform in PLATFORMS:
        add_bot(fake, platform, TOKENS[platform])
    return fake


def test_reference_signature_vectors() -> None:
    # chat-platforms.md 1.2 and 2.2: the two platforms sign in opposite directions.
    assert feishu_sign(1599360473, "demo") == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
    assert dingtalk_sign(1599360473000, "SECdemo") == "tGWkA5eQOQNCNPDgphtxIoNLO+/gD8Lcb705KQoRzeY="


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_delivers_a_signed_message_the_platform_accepts(
    bots: FakeBots, platform: str
) -> None:
    await make_sender(bots, platform).send(simple_message(platform))
    assert [r.platform for r in bots.received] == [platform]


# (platform, what goes wrong, expected code, retryable)
PERMANENT_AND_TRANSIENT: list[tuple[str, str, str, bool]] = [
    ("feishu", "wrong-secret", "19021", False),
    ("feishu", "unknown-token", "19001", False),
    ("feishu", "too-large", "9499", False),
    ("dingtalk", "wrong-secret", "310000", False),
    ("dingtalk", "unknown-token", "300001", False),
    ("dingtalk", "too-large", "460101", False),
    ("wecom", "unknown-token", "93000", False),
    ("wecom", "too-large", "40058", False),
]


@pytest.mark.parametrize(
    ("platform", "case", "code", "retryable"),
    PERMANENT_AND_TRANSIENT,
    ids=[f"{p}-{c}" for p, c, _, _ in PERMANENT_AND_TRANSIENT],
)
async def test_platform_errors_inside_http_200_are_failures(
    bots: FakeBots, platform: str, case: str, code: str, retryable: bool
) -> None:
    options: dict[str, Any] = {}
    message = simple_message(platform)
    if case == "wrong-secret":
        options["secret"] = "SECnot-the-right-one"
    elif case == "unknown-token":
        options["token"] = "no-such-token"
    elif case == "too-large":
        message = simple_message(platform, "x" * 25_000)
    with pytest.raises(SendError) as info:
        await make_sender(bots, platform, **options).send(message)
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert bots.received == []


async def send_until_refused(sender: Sender, platform: str) -> SendError:
    for _ in range(200):
        try:
            await sender.send(simple_message(platform))
        except SendError as error:
            return error
    raise AssertionError("200 messages in a row and no rate limit")


@pytest.mark.parametrize(
    ("platform", "code", "extra"),
    [
        ("feishu", "11232", {}),
        ("feishu", "9499", {"rate_variant": "9499"}),
        ("dingtalk", "130101", {}),
        ("dingtalk", "410100", {"rate_code": 410100}),
        ("wecom", "45009", {}),
    ],
    ids=[
        "feishu-11232",
        "feishu-9499-too-many",
        "dingtalk-130101",
        "dingtalk-410100",
        "wecom-45009",
    ],
)
async def test_rate_limit_answers_are_retryable_with_a_wait(
    platform: str, code: str, extra: dict[str, Any]
) -> None:
    bots = FakeBots()
    add_bot(bots, platform, "limited", **extra)
    sender = make_sender(bots, platform, token="limited")
    error = await send_until_refused(sender, platform)
    assert (error.code, error.retryable) == (code, True)
    assert error.retry_after is not None
    assert error.retry_after > 0


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[FakeBots, str]]:
    """The fake on a real port: a hung answer is only cut short by a real socket timeout."""
    fake = FakeBots()
    for platform in PLATFORMS:
        add_bot(fake, platform, TOKENS[platform])
    with serve_in_thread(fake.app) as base:
        yield fake, base


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("5xx", "http_503"),
        ("garbage", "bad_answer"),
        ("empty", "bad_answer"),
        ("alien", "bad_answer"),
        ("hang", "timeout"),
    ],
    ids=["5xx", "garbage", "200-empty-object", "200-unrelated-json", "hang"],
)
async def test_server_trouble_is_retryable(
    loopback: tuple[FakeBots, str], platform: str, mode: FailMode, code: str
) -> None:
    bots, base = loopback
    bots.fail(TOKENS[platform], mode, times=1)
    async with httpx.AsyncClient(timeout=0.5) as client:
        url = webhook_url(platform, TOKENS[platform], base)
        sender = REGISTRY[platform].sender(url, SECRETS.get(platform), client)
        with pytest.raises(SendError) as info:
            await sender.send(simple_message(platform))
        assert (info.value.code, info.value.retryable) == (code, True)
        await sender.send(simple_message(platform))  # the fault is used up: delivered now
    assert bots.messages(TOKENS[platform])


def answering(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers=headers)
    )


STATUS_TABLE = [
    (200, b'{"code":0,"msg":"success","errcode":0,"errmsg":"ok","StatusCode":0}', None),
    (429, b"slow down", ("http_429", True)),
    (500, b"oops", ("http_500", True)),
    (502, b"<html>bad gateway</html>", ("http_502", True)),
    (404, b"<html>not found</html>", ("bad_answer", True)),
    (200, b"not json", ("bad_answer", True)),
    (200, b"[1,2]", ("bad_answer", True)),
    (200, b"{}", ("bad_answer", True)),
    (200, b'{"status":"ok"}', ("bad_answer", True)),
    (200, b'{"code":"0","errcode":"0","StatusCode":"0"}', ("bad_answer", True)),
    (400, b"{}", ("http_400", False)),
]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    STATUS_TABLE,
    ids=[
        "ok",
        "429",
        "500",
        "502",
        "404-html",
        "200-not-json",
        "200-json-list",
        "200-empty-object",
        "200-unrelated-json",
        "200-code-not-a-number",
        "400-empty-object",
    ],
)
async def test_every_status_code_through_every_sender(
    platform: str, status: int, body: bytes, expected: tuple[str, bool] | None
) -> None:
    client = httpx.AsyncClient(transport=answering(status, body, {"Retry-After": "7"}))
    sender = REGISTRY[platform].sender(webhook_url(platform, "t"), None, client)
    if expected is None:
        await sender.send(simple_message(platform))
        return
    with pytest.raises(SendError) as info:
        await sender.send(simple_message(platform))
    assert (info.value.code, info.value.retryable) == expected
    if status == 429:
        assert info.value.retry_after == 7.0


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_network_errors_never_carry_the_webhook_url(platform: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    sender = REGISTRY[platform].sender(
        webhook_url(platform, "secret-token-xyz"), "secret-xyz", client
    )
    with pytest.raises(SendError) as info:
        await sender.send(simple_message(platform))
    assert info.value.retryable
    assert "secret-token-xyz" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_feishu_status_code_zero_alone_is_not_success() -> None:
    client = httpx.AsyncClient(
        transport=answering(
            200, b'{"StatusCode":0,"StatusMessage":"","code":9499,"msg":"too many request"}'
        )
    )
    sender = REGISTRY["feishu"].sender(webhook_url("feishu", "t"), None, client)
    with pytest.raises(SendError) as info:
        asyncio.run(sender.send(simple_message("feishu")))
    assert (info.value.code, info.value.retryable) == ("9499", True)


async def test_console_sender_logs_the_card_text_readably(caplog: pytest.LogCaptureFixture) -> None:
    sender = REGISTRY["console"].sender("", None, httpx.AsyncClient())
    with caplog.at_level("INFO", logger="alertbridge.console"):
        await sender.send({"title": "t", "text": "line one\nline two"})
    assert "line one\nline two" in caplog.text
