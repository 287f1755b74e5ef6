"""Signed silence links: the token round-trips, refuses tampering and expiry, and every chat card
shows the link when links are configured (and nothing when they are not)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from app.config.model import Server
from app.rendering.silence import BadToken, SilenceLinks, SilenceRequest, read_token, sign_token
from tests.support.cards import CHAT_PLATFORMS, alert, notification, receiver, renderer, text_of

KEY = "link-secret-0001"
REQUEST = SilenceRequest("ops", {"alertname": "DiskFull", "instance": "node-3"}, 2_000)


def test_a_signed_token_reads_back_as_the_same_request() -> None:
    token = sign_token(KEY, REQUEST)
    assert re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", token)
    assert read_token(KEY, token, now=1_000) == REQUEST


def swapped_payload(token: str) -> str:
    """Another request's payload under this token's signature."""
    other = sign_token(KEY, SilenceRequest("ops", {"alertname": "X"}, 2_000))
    return other.split(".")[0] + "." + token.split(".")[1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "not valid"),
        (lambda t: sign_token("another-key", REQUEST), "not valid"),
        (swapped_payload, "not valid"),
        (lambda t: "garbage", "not valid"),
        (lambda t: sign_token(KEY, SilenceRequest("ops", {"a": "b"}, 999)), "expired"),
    ],
    ids=["signature-changed", "other-key", "matchers-swapped", "garbage", "expired"],
)
def test_a_tampered_or_expired_token_is_refused(change: Callable[[str], str], reason: str) -> None:
    token = change(sign_token(KEY, REQUEST))
    with pytest.raises(BadToken, match=reason):
        read_token(KEY, token, now=1_000)


def test_links_need_both_the_public_url_and_the_link_secret() -> None:
    assert SilenceLinks.of(Server(public_url="https://ab.example")) is None
    assert SilenceLinks.of(Server(link_secret=KEY)) is None
    links = SilenceLinks.of(
        Server(public_url="https://ab.example", link_secret=KEY, path_prefix="/p")
    )
    assert links is not None
    assert links.lifetime == 7 * 86400
    assert links.link("ops", {"a": "b"}).startswith("https://ab.example/p/ui/silence/")


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_chat_cards_link_to_the_silence_page_of_their_firing_alerts(platform: str) -> None:
    links = SilenceLinks("https://ab.example", KEY, clock=lambda: 1_000.0)
    item = alert("DiskFull", labels={"instance": "node-3"})
    given = notification(item, common_labels=dict(item.labels))
    text = text_of(renderer(silence_links=links).render(receiver(platform), given)[0])
    found = re.search(r"https://ab\.example/ui/silence/([A-Za-z0-9_.\-]+)", text)
    assert found, text
    request = read_token(KEY, found.group(1), now=1_000)
    assert request == SilenceRequest("ops", dict(item.labels), 1_000 + 7 * 86400)
    assert "/ui/silence/" not in text_of(renderer().render(receiver(platform), given)[0])
    mixed = notification(item, alert("Other"), common_labels={"severity": "warning"})
    assert "/ui/silence/" not in text_of(
        renderer(silence_links=links).render(receiver(platform), mixed)[0]
    )
    resolved = alert("DiskFull", status="resolved")
    done = notification(resolved, common_labels=dict(resolved.labels))
    assert "/ui/silence/" not in text_of(
        renderer(silence_links=links).render(receiver(platform), done)[0]
    )


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_grafana_cards_link_only_to_grafana_not_to_an_alertmanager_that_has_not_got_them(
    platform: str,
) -> None:
    links = SilenceLinks("https://ab.example", KEY, clock=lambda: 1_000.0)
    grafana_page = "https://grafana.example/alerting/silence/new?matcher=alertname%3DDiskFull"
    item = replace(alert("DiskFull"), links={"silence": grafana_page})
    given = notification(item, common_labels=dict(item.labels), from_grafana=True)
    cards = renderer(silence_links=links, alertmanager_url="https://am.example")
    text = text_of(cards.render(receiver(platform), given)[0])
    assert grafana_page in text.replace("\\", "")
    assert "am.example" not in text
    assert "/ui/silence/" not in text
    # The same alert from Alertmanager gets both Alertmanager's links and the signed one.
    from_alertmanager = replace(given, from_grafana=False)
    text = text_of(cards.render(receiver(platform), from_alertmanager)[0])
    assert "am.example" in text
    assert "/ui/silence/" in text
