"""The built-in cards: golden output, colours, times, durations, hostile values and mentions."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.models import Alert, Message
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.rendering.times import local_time
from app.text import human_duration
from tests.support.cards import (
    CHAT_PLATFORMS,
    NOW,
    PLATFORMS,
    alert,
    event,
    mentions,
    notification,
    receiver,
    renderer,
    text_of,
)
from tests.support.paths import GOLDEN

STATIC_MENTIONS = {"users": ["zhangsan"], "mobiles": ["13800000000"]}


def render_one(platform: str, *alerts: Alert, kind: str = "alert", **fields: object) -> Message:
    messages = renderer().render(receiver(platform, **fields), notification(*alerts, kind=kind))
    assert len(messages) == 1
    return messages[0]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("kind", ["alert", "event"])
def test_renders_the_samples_as_in_the_golden_files(platform: str, kind: str) -> None:
    sample = sample_alert_notification(NOW) if kind == "alert" else sample_event_notification(NOW)
    rendered = renderer().render(receiver(platform, mentions=mentions(**STATIC_MENTIONS)), sample)
    golden = GOLDEN / f"{platform}-{kind}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(rendered, ensure_ascii=False, indent=2) + "\n")
    assert rendered == json.loads(golden.read_text()), f"regenerate with UPDATE_GOLDEN=1: {golden}"


FIRING_CRITICAL = [alert(severity="critical"), alert("B", severity="warning")]
RESOLVED = alert(status="resolved", ends_at=NOW)


@pytest.mark.parametrize(
    ("alerts", "kind", "feishu", "dingtalk", "wecom"),
    [
        (FIRING_CRITICAL, "alert", "red", "#F5222D", "warning"),
        ([alert(severity="warning")], "alert", "orange", "#FA8C16", "warning"),
        # WeCom has three colours: its orange-red "warning" is kept for warning and worse
        ([alert(severity="info")], "alert", "blue", "#1677FF", "comment"),
        ([alert(severity="")], "alert", "blue", "#1677FF", "comment"),
        ([RESOLVED], "alert", "green", "#52C41A", "info"),
        ([alert(severity="critical"), RESOLVED], "alert", "orange", "#FA8C16", "warning"),
        ([event(type_="Warning")], "event", "orange", "#FA8C16", "warning"),
        ([event(type_="Normal")], "event", "wathet", "#1677FF", "comment"),
    ],
    ids=[
        "firing-critical",
        "firing-warning",
        "firing-info",
        "firing-no-severity",
        "resolved",
        "mixed",
        "warning-event",
        "normal-event",
    ],
)
def test_colours_the_header_by_status_and_severity(
    alerts: list[Alert], kind: str, feishu: str, dingtalk: str, wecom: str
) -> None:
    card = render_one("feishu", *alerts, kind=kind)
    assert card["card"]["header"]["template"] == feishu
    ding = render_one("dingtalk", *alerts, kind=kind)
    assert ding["markdown"]["text"].startswith(f"### <font color={dingtalk}>")
    we = render_one("wecom", *alerts, kind=kind)
    assert we["markdown"]["content"].startswith(f'### <font color="{wecom}">')


@pytest.mark.parametrize(
    ("alerts", "title"),
    [
        ([alert("A"), alert("A")], "🟠 WARNING · 2 firing · A"),
        ([alert("A"), alert("B", severity="critical")], "🔴 CRITICAL · 2 firing · B, A"),
        ([alert("A"), alert("B"), alert("C"), alert("D")], "🟠 WARNING · 4 firing · A, B, …"),
        ([alert("A", status="resolved", ends_at=NOW)], "✅ RESOLVED · A"),
        (
            [alert("A"), alert("A", status="resolved", ends_at=NOW)],
            "🟠 WARNING · 1 firing, 1 resolved · A",
        ),
    ],
    ids=["one-name", "two-names", "many-names", "resolved", "mixed"],
)
def test_titles_count_firing_and_resolved_alerts(alerts: list[Alert], title: str) -> None:
    assert render_one("feishu", *alerts)["card"]["header"]["title"]["content"] == title
    assert render_one("dingtalk", *alerts)["markdown"]["title"] == title
    assert render_one("console", *alerts)["title"] == title


@pytest.mark.parametrize(
    ("zone", "shown"),
    [("Asia/Shanghai", "2024-05-01 10:00:00 UTC+8"), ("UTC", "2024-05-01 02:00:00 UTC")],
    ids=["shanghai", "utc"],
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_shows_start_times_in_the_configured_zone(platform: str, zone: str, shown: str) -> None:
    started = alert(starts_at=datetime(2024, 5, 1, 2, 0, tzinfo=UTC))
    messages = renderer(timezone=zone).render(receiver(platform), notification(started))
    assert shown in text_of(messages[0])


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2024, 5, 1, 2, 0, tzinfo=UTC), "2024-05-01 10:00:00 UTC+8"),
        (datetime(2024, 5, 1, 2, 0), "2024-05-01 10:00:00 UTC+8"),  # naive means UTC
        (datetime(2024, 5, 1, 4, 0, tzinfo=timezone(timedelta(hours=2))), "10:00:00 UTC+8"),
        (datetime(2024, 5, 1, 16, 30, tzinfo=UTC), "2024-05-02 00:30:00 UTC+8"),
        (None, ""),
    ],
    ids=["aware-utc", "naive", "other-offset", "next-day", "missing"],
)
def test_formats_times_from_the_instant_never_the_wall_clock(
    moment: datetime | None, shown: str
) -> None:
    from zoneinfo import ZoneInfo

    assert local_time(moment, ZoneInfo("Asia/Shanghai")).endswith(shown)


def test_shows_fractional_zone_offsets() -> None:
    from zoneinfo import ZoneInfo

    moment = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    assert local_time(moment, ZoneInfo("Asia/Kolkata")) == "2024-05-01 07:30:00 UTC+5:30"
    assert local_time(moment, ZoneInfo("America/Sao_Paulo")).endswith("23:00:00 UTC-3")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (45, "45s"),
        (720, "12m"),
        (3600, "1h"),
        (3780, "1h 3m"),
        (86_400, "1d"),
        (86_400 + 5 * 3600 + 59, "1d 5h"),
    ],
)
def test_formats_durations_in_two_units_at_most(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("item", "phrase"),
    [
        (alert(starts_at=NOW - timedelta(minutes=12)), "firing for 12m"),
        (
            alert(
                status="resolved",
                starts_at=NOW - timedelta(hours=2),
                ends_at=NOW - timedelta(minutes=57),
            ),
            "lasted 1h 3m",
        ),
    ],
    ids=["firing", "resolved"],
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_says_how_long_an_alert_fired(platform: str, item: Alert, phrase: str) -> None:
    assert phrase in text_of(render_one(platform, item))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_alert_cards_show_annotations_labels_and_links(platform: str) -> None:
    item = alert(
        "DiskFull",
        severity="critical",
        labels={"instance": "db-1", "mention_users": "zhangsan"},
        annotations={
            "description": "97% used",
            "runbook_url": "https://runbooks.example/disk",
            "dashboard": "disk overview",
        },
    )
    text = text_of(render_one(platform, item, mentions=mentions(from_labels=["mention_users"])))
    for expected in ("DiskFull", "CRITICAL", "DiskFull summary", "97% used", "disk overview"):
        assert expected in text
    assert "🔴 CRITICAL · DiskFull · db-1" in text  # what, how bad and where, in the title
    assert "https://runbooks.example/disk" in text
    assert "http://prometheus.example:9090/graph?g0.expr=up" in text
    assert "alertname=" not in text  # already in the heading
    assert "mention_users" not in text  # routing data, not content
    assert text.index("DiskFull summary") < text.index("97% used") < text.index("disk overview")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_links_to_the_configured_alertmanager_else_the_payloads(platform: str) -> None:
    item = alert()
    given = notification(item, external_url="http://am.example:9093")
    configured = renderer(alertmanager_url="https://am.configured.example")
    text = text_of(configured.render(receiver(platform), given)[0])
    assert "https://am.configured.example/#/alerts" in text  # it overrides externalURL
    assert "http://am.example:9093" not in text
    assert "http://am.example:9093/#/alerts" in text_of(
        renderer().render(receiver(platform), given)[0]
    )
    unusable = notification(item, external_url="javascript:alert(1)")
    text = text_of(renderer().render(receiver(platform), unusable)[0])
    assert "javascript" not in text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_event_cards_show_reason_object_message_count_and_times(platform: str) -> None:
    text = text_of(render_one(platform, event(message="Back-off restarting"), kind="event"))
    for expected in ("BackOff", "Warning", "Pod", "ns/p", "Back-off restarting", "\u00d75"):
        assert expected in text
    assert "2024-05-01 02:03:00 UTC" in text  # first seen
    assert "2024-05-01 02:11:30 UTC" in text  # last seen


HOSTILE = [
    'quote " and backslash \\ and \\"',
    "new\nline\r\nand\ttab and \x00 nul and \u2028 separator",
    "</font><font color='red'>x</font>",
    "<at id=all></at>",
    '<at user_id="all">everyone</at>',
    "@all please",
    "<@all> <@zhangsan>",
    "@13800000000",
    "{{ 7*7 }} {% if true %}x{% endif %}",
    "**bold** _it_ ~~s~~ [link](https://evil.example) `code` # h | t > q",
    "- list\n1. item\n# heading",
    "lone surrogate \ud800 and emoji 🚨 and 中文",
    "\u202eRTL override",
]


def mentions_anybody(platform: str, message: Message) -> bool:
    text = text_of(message)
    if platform == "feishu":
        return "<at" in text
    if platform == "dingtalk":
        at = message["at"]
        pinged = at["isAtAll"] or at["atMobiles"] or at["atUserIds"]
        return bool(pinged) or re.search(r"@(all|\d)", text) is not None
    return "<@" in text or "@all" in text


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_hostile_values_give_valid_json_that_mentions_nobody(platform: str, value: str) -> None:
    errors: list[tuple[str, str]] = []
    hostile = alert(
        value,
        severity=value,
        labels={"pod": value, value: "as a label name"},
        annotations={"summary": value, "description": value, "extra": value},
        generator_url=value,
    )
    benign = alert("x", severity="x", labels={"pod": "x", "y": "y"}, annotations={"extra": "x"})
    render = renderer(on_template_error=lambda *names: errors.append(names)).render
    messages = render(receiver(platform), notification(hostile))
    baseline = render(receiver(platform), notification(benign))[0]
    assert errors == []
    assert len(messages) == 1
    message = messages[0]
    assert json.loads(json.dumps(message)) == message
    assert message.keys() == baseline.keys()  # the card, not the plain-text fallback
    if platform != "console":
        assert not mentions_anybody(platform, message)
        assert text_of(message).count("</font>") == text_of(baseline).count("</font>")
    assert "49" not in text_of(message)


# Zero-width space/non-joiner/joiner, byte-order mark, left-to-right and right-to-left marks:
# invisible in a card, they make two equal-looking texts differ (and hide a word from a search).
INVISIBLE = "\u200b\u200c\u200d\ufeff\u200e\u200f"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zero_width_characters_and_direction_marks_never_reach_a_card(platform: str) -> None:
    hidden = "".join(f"{char}Disk" for char in INVISIBLE)
    sneaky = alert(
        f"Node{hidden}Full",
        labels={"pod": f"web{hidden}-1"},
        annotations={"summary": f"sum{hidden}mary", "description": f"de{hidden}sc"},
    )
    text = text_of(render_one(platform, sneaky))
    assert [char for char in INVISIBLE if char in text] == []
    assert "NodeDiskDiskDiskDiskDiskDiskFull" in text


@pytest.mark.parametrize("kind", ["alert", "event"])
@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_hostile_event_fields_mention_nobody(platform: str, kind: str) -> None:
    hostile = event(reason="<at id=all></at> @all <@all>", message="@all <at id=all>")
    message = render_one(platform, hostile, kind=kind)
    assert not mentions_anybody(platform, message)


DYNAMIC = alert(
    labels={"mention_users": "ou_a, ou_b bad!id all @all <at>"},
    annotations={"mention_mobiles": "13800000000,+852-12345678 12ab @all"},
)


FROM_LABELS = mentions(from_labels=["mention_users"], from_labels_mobiles=["mention_mobiles"])


def test_maps_mentions_from_labels_into_a_feishu_card() -> None:
    text = text_of(render_one("feishu", DYNAMIC, mentions=FROM_LABELS))
    assert re.findall(r"<at id=[^>]*></at>", text) == ["<at id=ou_a></at>", "<at id=ou_b></at>"]


def test_maps_mentions_from_labels_into_dingtalk_at_and_text() -> None:
    message = render_one("dingtalk", DYNAMIC, mentions=FROM_LABELS)
    assert message["at"] == {
        "atMobiles": ["13800000000", "+852-12345678"],
        "atUserIds": ["ou_a", "ou_b"],
        "isAtAll": False,
    }
    assert "@13800000000 @+852-12345678 @ou_a @ou_b" in message["markdown"]["text"]


def test_maps_mentions_from_labels_into_wecom_user_tags_only() -> None:
    content = render_one("wecom", DYNAMIC, mentions=FROM_LABELS)["markdown"]["content"]
    assert re.findall(r"<@[^>]*>", content) == ["<@ou_a>", "<@ou_b>"]
    assert "13800000000" not in content  # WeCom markdown cannot mention phone numbers


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("feishu", "<at id=all></at> <at id=zhangsan></at>"),
        ("dingtalk", "@13800000000 @zhangsan"),
        ("wecom", "<@zhangsan>"),  # @all is not documented for WeCom markdown
        ("console", "@all @zhangsan @13800000000"),
    ],
)
def test_maps_static_mentions_per_platform(platform: str, expected: str) -> None:
    static = mentions(all=True, users=["zhangsan"], mobiles=["13800000000"])
    message = render_one(platform, alert(), mentions=static)
    assert expected in text_of(message)
    if platform == "dingtalk":
        assert message["at"]["isAtAll"] is True


@pytest.mark.parametrize("kind", ["alert", "event"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_puts_the_keyword_into_every_card(platform: str, kind: str) -> None:
    item = alert() if kind == "alert" else event()
    message = render_one(platform, item, kind=kind, keyword="[alert]*")
    assert "[alert]*" in text_of(message)  # verbatim: the bot matches it in the raw text


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_drops_links_that_are_not_http(platform: str) -> None:
    text = text_of(render_one(platform, alert(generator_url="javascript:alert(1)")))
    assert "javascript" not in text


def test_escapes_parentheses_in_markdown_link_targets() -> None:
    text = text_of(render_one("dingtalk", alert(generator_url="http://p.example/a)b(c")))
    assert "(http://p.example/a%29b%28c)" in text


def grafana_alert(**links: str) -> Alert:
    return replace(
        alert("High memory usage", annotations={"description": "zone us-1"}),
        value="B=44.2394, C=1",
        links={
            "silence": "https://grafana.example/alerting/silence/new?matcher=team%3Dblue",
            "dashboard": "https://grafana.example/d/abc?orgId=1",
            "panel": "https://grafana.example/d/abc?orgId=1&viewPanel=4",
            **links,
        },
    )


@pytest.mark.parametrize("platform", PLATFORMS)
def test_grafana_alerts_show_their_value_after_the_summary_and_link_their_pages(
    platform: str,
) -> None:
    text = text_of(render_one(platform, grafana_alert()))

    assert "B=44.2394, C=1" in text
    assert (
        text.index("High memory usage summary") < text.index("B=44.2394") < text.index("zone us-1")
    )
    for url in (
        "https://grafana.example/alerting/silence/new?matcher=team%3Dblue",
        "https://grafana.example/d/abc?orgId=1",
        "https://grafana.example/d/abc?orgId=1&viewPanel=4",
    ):
        assert url in text
    if platform != "console":
        assert all(label in text for label in ("Silence", "Dashboard", "Panel"))


def test_grafana_links_are_feishu_buttons() -> None:
    card = render_one("feishu", grafana_alert())["card"]
    buttons = [b for e in card["elements"] if e["tag"] == "action" for b in e["actions"]]
    labels = [b["text"]["content"] for b in buttons]
    assert labels[:4] == ["Prometheus", "Dashboard", "Panel", "Silence"]


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_drops_grafana_links_that_are_not_http(platform: str) -> None:
    item = grafana_alert(silence="javascript:alert(1)", image="data:text/html,x")
    text = text_of(render_one(platform, item))
    assert "javascript" not in text
    assert "data:text" not in text
    assert "Silence" not in text
    assert "https://grafana.example/d/abc?orgId=1" in text
