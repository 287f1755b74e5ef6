"""The platform contract, checked for every entry of PLATFORMS: a platform added to the registry
is tested here without naming it anywhere in this file."""

from __future__ import annotations

import httpx
import pytest

from app.config.model import Mentions
from app.models import MentionSet
from app.platforms import PLATFORMS
from app.platforms.base import Platform
from app.platforms.sending import SendError
from app.rendering.fallback import fallback_message
from app.rendering.mentions import dynamic_mentions, static_mentions
from tests.fakes.chatbots import FakeBots
from tests.support.cards import alert
from tests.support.paths import ROOT

WEBHOOK = [p for p in PLATFORMS.values() if p.needs_webhook_url]
TOKEN = "tok-contract-5ecret"
SECRET = "SEC-contract-signing-key"
HOSTILE = "<at id=all></at> @all <font color=red>x</font> [click](javascript:alert(1)) **b** `c`"


def ids(platforms: list[Platform]) -> list[str]:
    return [p.name for p in platforms]


def sender_of(platform: Platform, answer: httpx.Response | Exception) -> SendError | None:
    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.AsyncClient(transport=httpx.MockTransport(reply))
    return platform.sender(f"https://bots.example/hook?access_token={TOKEN}", SECRET, client)


@pytest.mark.parametrize("platform", list(PLATFORMS.values()), ids=list(PLATFORMS))
def test_every_platform_has_its_three_cards(platform: Platform) -> None:
    for kind in ("alert", "event", "digest"):
        assert (ROOT / "cards" / platform.name / f"{kind}.json.j2").is_file()


@pytest.mark.parametrize("platform", WEBHOOK, ids=ids(WEBHOOK))
def test_every_webhook_platform_has_a_fake_bot(platform: Platform) -> None:
    assert callable(getattr(FakeBots, f"add_{platform.name}", None))


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (httpx.Response(503), True),
        (httpx.Response(429, headers={"Retry-After": "7"}), True),
        (httpx.Response(200, text="<html>proxy</html>"), True),
        (httpx.ConnectError(f"cannot reach https://bots.example/hook?access_token={TOKEN}"), True),
        (httpx.ReadTimeout("timed out"), True),
    ],
    ids=["5xx", "429", "not-json", "network", "timeout"],
)
@pytest.mark.parametrize("platform", WEBHOOK, ids=ids(WEBHOOK))
async def test_every_platform_classifies_transport_failures_without_leaking_secrets(
    platform: Platform, answer: httpx.Response | Exception, retryable: bool
) -> None:
    sender = sender_of(platform, answer)
    assert sender is not None
    with pytest.raises(SendError) as failure:
        await sender.send(platform.text_message("hello", MentionSet()))
    assert failure.value.retryable is retryable
    assert failure.value.code
    shown = f"{failure.value} {failure.value.message} {failure.value.code}"
    assert TOKEN not in shown
    assert SECRET not in shown


@pytest.mark.parametrize("platform", WEBHOOK, ids=ids(WEBHOOK))
def test_every_dialect_keeps_hostile_text_inert(platform: Platform) -> None:
    markdown, plain = platform.dialect.markdown(HOSTILE), platform.dialect.plain(HOSTILE)
    assert "<" not in markdown  # no tag: no <at>, no <font>, no <@userid>
    assert "<" not in plain
    assert "](" not in markdown.replace("\\]", "")  # no link forms
    assert "\n" not in platform.dialect.plain("one\ntwo")  # titles stay one line


@pytest.mark.parametrize("platform", list(PLATFORMS.values()), ids=list(PLATFORMS))
def test_mention_markup_is_built_from_validated_ids_only(platform: Platform) -> None:
    hostile = alert(labels={"mention_users": 'ou_ok1, <at id=all></at>, @all, ALL, x"><script>'})
    mentions = Mentions(users=["ou_static"]) if platform.needs_webhook_url else Mentions()
    chosen = static_mentions(mentions) | dynamic_mentions(mentions, [hostile])
    assert chosen.all is False
    assert set(chosen.users) <= {"ou_static", "ou_ok1"}
    markup = platform.mention_markup(chosen)
    assert "all" not in markup.lower()
    assert "script" not in markup


@pytest.mark.parametrize("platform", list(PLATFORMS.values()), ids=list(PLATFORMS))
def test_the_plain_fallback_fits_the_platform_however_many_alerts(platform: Platform) -> None:
    alerts = [alert(f"Alert{i}", annotations={"summary": "s" * 300}) for i in range(500)]
    everyone = MentionSet(all=True, users=tuple(f"ou_{i}" for i in range(20)))
    message = fallback_message(platform.name, "[FIRING:500] " + "t" * 500, alerts, 0, everyone, "")
    assert platform.type_key in message
    assert platform.text_overage(message) <= 0
