"""The renderer: escaping, splitting to size limits, template fallbacks, user overrides, sandbox."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.models import Alert, MentionSet, Message
from app.platforms import PLATFORMS as REGISTRY
from app.rendering import renderer as render_module
from app.rendering import sandbox as templating
from app.rendering.mentions import dynamic_mentions, static_mentions
from app.rendering.renderer import MAX_PARTS, builtin_cards_dir
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.text import Trusted, json_string_body, safe_url
from tests.support.cards import (
    CHAT_PLATFORMS,
    NOW,
    PLATFORMS,
    SECRET,
    WEBHOOK_URL,
    alert,
    mentions,
    notification,
    receiver,
    renderer,
    text_of,
    user_cards,
    within_limit,
)

# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "value", "escaped"),
    [
        ("feishu", "<at id=all></at>", "&lt;at id=all&gt;&lt;/at&gt;"),
        ("feishu", "a & b", "a &amp; b"),
        # HTML entities, as Feishu's card-markdown doc prescribes: the reader sees no backslash
        (
            "feishu",
            "**x** _y_ ~~z~~ [l](u) `c`",
            "&#42;&#42;x&#42;&#42; &#95;y&#95; &#126;&#126;z&#126;&#126; "
            "&#91;l&#93;(u) &#96;c&#96;",
        ),
        ("feishu", "back\\slash", "back&#92;slash"),
        ("feishu", "# h\n- item\n1. one", "&#35; h\n&#45; item\n1&#46; one"),
        ("feishu", "user_id pod_ns(uid)", "user&#95;id pod&#95;ns(uid)"),
        ("feishu", "@all", "@all"),  # Feishu mentions only through <at>, escaped above
        ("dingtalk", "<@u> <font>", "\uff1c\uff20u\uff1e \uff1cfont\uff1e"),
        ("dingtalk", "@all @13800000000", "\uff20all \uff2013800000000"),
        ("dingtalk", "one\ntwo", "one  \ntwo"),  # a DingTalk line break needs two spaces
        ("dingtalk", "*a* [b]", r"\*a\* [b\]"),
        # escaped only where markup could form: no backslashes in ordinary text
        ("dingtalk", "user_id rate(x[5m]) 2 * 3 C:\\dir", "user_id rate(x[5m]) 2 * 3 C:\\dir"),
        ("dingtalk", "_y_ [l](u) `c` a\\*", r"\_y\_ [l\](u) \`c\` a\\\*"),
        ("wecom", "[t]: http://x ![i][r]", r"[t\]: http://x ![i\][r\]"),
        ("wecom", "<@zhangsan>", "\uff1c\uff20zhangsan\uff1e"),
        ("wecom", "one\ntwo", "one\ntwo"),
        ("console", "<at id=all> **x**", "<at id=all> **x**"),
        ("console", "a\r\nb\x00c\u202ed", "a\nbcd"),
    ],
)
def test_escapes_values_for_each_markdown_dialect(platform: str, value: str, escaped: str) -> None:
    assert REGISTRY[platform].dialect.markdown(value) == escaped


@pytest.mark.parametrize(
    ("platform", "value", "escaped"),
    [
        ("feishu", "a\nb <at id=all>", "a b \uff1cat id=all\uff1e"),
        ("dingtalk", "@all **x**", "\uff20all **x**"),
        ("console", "a\nb", "a b"),
    ],
)
def test_plain_filter_keeps_markdown_but_breaks_tags_and_lines(
    platform: str, value: str, escaped: str
) -> None:
    assert REGISTRY[platform].dialect.plain(value) == escaped


@pytest.mark.parametrize(
    "value", ['"', "\\", "\n", "\x01", "\ud800", "</script>", "\u2028", "中文 🚨", '\\"']
)
def test_json_string_body_is_always_a_valid_json_string(value: str) -> None:
    json.loads(f'"{json_string_body(value)}"')


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://grafana.example/d/abc?x=1#p", "https://grafana.example/d/abc?x=1#p"),
        (" http://p.example/a)b(c ", "http://p.example/a%29b%28c"),
        ('http://p.example/a b"c<d>', "http://p.example/a%20b%22c%3Cd%3E"),
        ("http://p.example/%28already%29", "http://p.example/%28already%29"),
        ("javascript:alert(1)", ""),
        ("data:text/html,x", ""),
        ("//no-scheme.example", ""),
        ("http://[::1", ""),
        ("", ""),
    ],
)
def test_accepts_only_http_urls_and_makes_them_link_safe(url: str, safe: str) -> None:
    assert safe_url(url) == safe
    assert isinstance(safe_url(url), Trusted)


# -- mentions ---------------------------------------------------------------------------------


def test_reads_mention_ids_from_labels_and_annotations_and_validates_them() -> None:
    config = mentions(from_labels=["owners"], from_labels_mobiles=["phones"])
    alerts = [
        alert(labels={"owners": "ou_a,ou_b  ou_a"}, annotations={"phones": "13800000000;x"}),
        alert(annotations={"owners": '@ou_c all ALL @all <at> a"b'}),
    ]
    assert dynamic_mentions(config, alerts) == MentionSet(
        all=False, users=("ou_a", "ou_b", "ou_c"), mobiles=("13800000000",)
    )


def test_static_mentions_keep_all_and_their_ids() -> None:
    config = mentions(all=True, users=["ou_a", "@ou_b"], mobiles=["+852-12345678"])
    assert static_mentions(config) == MentionSet(True, ("ou_a", "ou_b"), ("+852-12345678",))


def test_caps_the_number_of_mentions() -> None:
    many = ",".join(f"user{i}" for i in range(500))
    config = mentions(from_labels=["mention_users"])
    found = dynamic_mentions(config, [alert(labels={"mention_users": many})])
    assert len(found.users) == 20


# -- splitting --------------------------------------------------------------------------------


def many_alerts(count: int, description_chars: int = 600) -> list[Alert]:
    return [
        alert(
            f"Alert{i:03d}",
            labels={"pod": f"pod-{i}"},
            annotations={"description": f"{i} " + "long description " * (description_chars // 17)},
        )
        for i in range(count)
    ]


def shown_and_counted(messages: list[Message]) -> tuple[list[int], int]:
    """Which alerts the parts show (by their unique pod label, in a roll-up row or in full)
    and how many they count."""
    shown: list[int] = []
    for message in messages:
        found = re.findall(r"\bpod-(\d+)\b", text_of(message))
        shown += [int(i) for i in dict.fromkeys(found)]
    text = "\n".join(text_of(m) for m in messages)
    counted = sum(int(n) for n in re.findall(r"(\d+) more alerts", text))
    return shown, counted


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_splits_a_big_group_into_parts_within_the_limit(platform: str) -> None:
    errors: list[Any] = []
    alerts = many_alerts(200)
    messages = renderer(on_template_error=lambda *a: errors.append(a)).render(
        receiver(platform), notification(*alerts, truncated_alerts=7)
    )
    assert 1 < len(messages) <= MAX_PARTS
    assert all(within_limit(platform, m) for m in messages)
    for i, message in enumerate(messages, 1):
        assert f"(part {i}/{len(messages)})" in text_of(message)
    shown, counted = shown_and_counted(messages)
    assert shown == list(range(len(shown))), "in order, none twice"
    assert len(shown) + counted == 200 + 7, "every alert is shown or counted"
    assert errors == []


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_shows_every_alert_when_the_parts_suffice(platform: str) -> None:
    alerts = many_alerts(12, description_chars=200)
    messages = renderer().render(receiver(platform), notification(*alerts))
    shown, counted = shown_and_counted(messages)
    assert (shown, counted) == (list(range(12)), 0)
    assert all(within_limit(platform, m) for m in messages)


def test_splitting_renders_logarithmically_not_once_per_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders = 0
    real = templating.render_message

    def counting(*args: Any) -> Message:
        nonlocal renders
        renders += 1
        return real(*args)

    monkeypatch.setattr(render_module, "render_message", counting)
    renderer().render(receiver("wecom"), notification(*many_alerts(200)))
    # one whole try; per part of k alerts a galloping search (about 2 log2 k probes) and the
    # final render: a few dozen, where one render per alert would be 200
    assert renders <= 1 + MAX_PARTS * (2 * 4 + 1)


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_shrinks_the_values_of_a_single_alert_too_big_for_a_message(platform: str) -> None:
    huge = alert(
        "Huge",
        labels={"blob": "x" * 50_000},
        annotations={"description": "é" * 30_000},
        generator_url="http://p.example/" + "a" * 30_000,
    )
    messages = renderer().render(receiver(platform), notification(huge))
    assert len(messages) == 1
    message = messages[0]
    assert within_limit(platform, message)
    assert message.keys() == renderer().render(receiver(platform), notification(alert()))[0].keys()
    text = text_of(message)
    assert "Huge" in text
    assert "éé…" in text
    assert "xx…" in text


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_sends_plain_text_when_even_a_shrunk_alert_does_not_fit(platform: str) -> None:
    crowded = alert("Crowded", labels={f"label{i}": "v" for i in range(3000)})
    messages = renderer().render(receiver(platform, keyword="kw"), notification(crowded))
    assert len(messages) == 1
    assert within_limit(platform, messages[0])
    assert "text" in (messages[0].get("msg_type"), messages[0].get("msgtype"))
    assert "Crowded" in text_of(messages[0])
    assert "kw" in text_of(messages[0])


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_every_part_carries_the_keyword(platform: str) -> None:
    messages = renderer().render(
        receiver(platform, keyword="ALERT-KW"), notification(*many_alerts(300))
    )
    assert len(messages) > 1
    assert all("ALERT-KW" in text_of(m) for m in messages)


def test_pings_static_mentions_on_the_first_part_only() -> None:
    messages = renderer().render(
        receiver("dingtalk", mentions=mentions(all=True, mobiles=["13800000000"])),
        notification(*many_alerts(100)),
    )
    assert [m["at"]["isAtAll"] for m in messages] == [True] + [False] * (len(messages) - 1)


# -- template failures and overrides ----------------------------------------------------------

BROKEN = {
    "syntax-error": "{% if %}",
    "raises": "{{ no_such_function() }}",
    "invalid-json": '{"msg_type": "interactive", "card": {{ title }} }',
    "not-an-object": "[1, 2]",
    "nan": '{"msg_type": "text", "content": {"text": "kw"}, "n": NaN}',
    "no-type-key": '{"card": {}}',
    "sandbox-mro": '{"msg_type": "text", "content": {"text": "{{ \'\'.__class__.__mro__ }}"}}',
    "sandbox-globals": '{"msg_type": "text", "content": {"text": '
    '"{{ cycler.__init__.__globals__ }}"}}',
    "no-keyword": '{"msg_type": "text", "content": {"text": "forgot the keyword"}}',
}


@pytest.mark.parametrize("source", BROKEN.values(), ids=BROKEN.keys())
def test_falls_back_to_the_built_in_card_when_a_user_template_fails(
    tmp_path: Path, source: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[tuple[str, str]] = []
    cards = user_cards(tmp_path, {"feishu/alert.json.j2": source})
    broken = renderer(cards_dir=cards, on_template_error=lambda *a: errors.append(a))
    sample = sample_alert_notification(NOW)
    config = receiver("feishu", keyword="kw")
    with caplog.at_level(logging.ERROR, logger="alertbridge.render"):
        messages = broken.render(config, sample)
    assert messages == renderer().render(config, sample)
    assert errors == [("feishu", "feishu/alert.json.j2")]
    assert "feishu/alert.json.j2" in caplog.text
    assert WEBHOOK_URL not in caplog.text
    assert SECRET not in caplog.text
    assert "<class" not in text_of(messages[0])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sends_a_minimal_text_message_when_the_built_in_card_fails_too(
    platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-cards"
    empty.mkdir()
    monkeypatch.setattr(render_module, "builtin_cards_dir", lambda: empty)
    errors: list[tuple[str, str]] = []
    broken = renderer(on_template_error=lambda *a: errors.append(a))
    item = alert(
        "DiskFull", labels={"mention_users": "ou_a"}, annotations={"summary": "<at id=all>"}
    )
    messages = broken.render(receiver(platform, keyword="kw"), notification(item))
    assert errors == [(platform, f"{platform}/alert.json.j2")]
    assert len(messages) == 1
    text = text_of(messages[0])
    assert "DiskFull" in text
    assert "kw" in text
    if platform != "console":  # a log line pings nobody
        assert "<at id=all>" not in text
        assert "@all" not in text
    assert within_limit(platform, messages[0])


def test_fallback_text_counts_the_alerts_it_cannot_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module, "builtin_cards_dir", lambda: tmp_path)
    messages = renderer().render(receiver("wecom"), notification(*many_alerts(300)))
    text = messages[0]["text"]["content"]
    listed = len(re.findall(r"^- FIRING Alert\d{3}", text, re.MULTILINE))
    assert listed + int(re.findall(r"(\d+) more alerts", text)[0]) == 300
    assert len(text.encode()) <= 2048


def test_a_user_can_override_one_card_and_keep_the_others(tmp_path: Path) -> None:
    custom = (
        '{% import "feishu/_macros.j2" as m with context %}'
        '{"msg_type": "interactive", "card": {"header": {"template": "{{ m.colour(tone) }}"},'
        ' "elements": [{"tag": "markdown", "content": "custom **{{ title }}**"}]}}'
    )
    cards = user_cards(tmp_path, {"feishu/alert.json.j2": custom})
    custom_renderer = renderer(cards_dir=cards)
    card = custom_renderer.render(receiver("feishu"), notification(alert("A*B")))[0]
    assert card["card"] == {
        "header": {"template": "orange"},
        "elements": [{"tag": "markdown", "content": "custom **🟠 WARNING · A&#42;B**"}],
    }
    sample = sample_event_notification(NOW)
    assert custom_renderer.render(receiver("feishu"), sample) == renderer().render(
        receiver("feishu"), sample
    )


MARKDOWN = REGISTRY["feishu"].dialect.markdown


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ value }}", MARKDOWN),
        ("{{ value|safe }}", MARKDOWN),  # there is no way to print a value unescaped
        ("{{ value|e }}", MARKDOWN),
        ("{{ value ~ '*' }}", lambda v: MARKDOWN(v + "*")),
        ("{{ value|plain }}", REGISTRY["feishu"].dialect.plain),
    ],
    ids=["bare", "safe", "e", "concatenated", "plain"],
)
def test_user_templates_cannot_print_a_value_unescaped(
    tmp_path: Path, expression: str, expected: Callable[[str], str]
) -> None:
    source = (
        '{"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": "'
        + expression.replace("value", "alerts[0].summary")
        + '"}]}}'
    )
    cards = user_cards(tmp_path, {"feishu/alert.json.j2": source})
    value = 'a"b \\ c\nd <at id=all>'
    item = alert(annotations={"summary": value})
    card = renderer(cards_dir=cards).render(receiver("feishu"), notification(item))[0]
    assert card["card"]["elements"][0]["content"] == expected(value)


def test_tojson_inserts_json_values(tmp_path: Path) -> None:
    source = (
        '{"msgtype": "markdown", "markdown": {"title": "t", "text": "x"},'
        ' "at": {"atUserIds": {{ mentions.users|tojson }}, "isAtAll": {{ mentions.all|tojson }}}}'
    )
    cards = user_cards(tmp_path, {"dingtalk/alert.json.j2": source})
    config = receiver("dingtalk", mentions=mentions(all=True, users=["u1"]))
    message = renderer(cards_dir=cards).render(config, notification(alert()))[0]
    assert message["at"] == {"atUserIds": ["u1"], "isAtAll": True}


def test_compiles_each_template_once(tmp_path: Path) -> None:
    shared = renderer()
    for _ in range(3):
        shared.render(receiver("feishu"), sample_alert_notification(NOW))
    env = shared.environments("feishu")[-1]
    assert env.cache is not None
    assert len(env.cache) == 2


def test_finds_the_built_in_cards() -> None:
    for platform in PLATFORMS:
        for kind in ("alert", "event"):
            assert (builtin_cards_dir() / platform / f"{kind}.json.j2").is_file()


# -- samples ----------------------------------------------------------------------------------


def test_samples_are_a_critical_and_warning_group_and_a_backoff_event() -> None:
    group = sample_alert_notification()
    assert [a.labels["severity"] for a in group.alerts] == ["critical", "warning"]
    assert all(
        {"summary", "description", "runbook_url"} <= a.annotations.keys() for a in group.alerts
    )
    assert group.status == "firing"
    (backoff,) = sample_event_notification().alerts
    assert (backoff.labels["reason"], backoff.labels["type"], backoff.count) == (
        "BackOff",
        "Warning",
        5,
    )
