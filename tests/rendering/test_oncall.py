"""Issue #13, cards an on-call engineer can act on: the push line, links from a phone, big
groups rolled up into one message, severity everywhere, quiet resolved cards, key labels,
languages. Every alert stays counted."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models import Alert, Message
from app.rendering.links import silence_url
from app.rendering.rollup import RollupRow
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.rendering.style import CardSettings
from app.sources.kube_eventer import with_static_labels
from tests.support.cards import (
    CHAT_PLATFORMS,
    NOW,
    alert,
    mentions,
    notification,
    receiver,
    renderer,
    text_of,
    within_limit,
)

SEVERITIES = ("critical", "warning", "info")
PINGING = {"users": ["zhangsan"], "mobiles": ["13800000000"]}


def title_of(message: Message) -> str:
    """The push line: Feishu's header, DingTalk's markdown.title, WeCom's first line."""
    if "card" in message:
        return str(message["card"]["header"]["title"]["content"])
    body = message["markdown"]
    if "title" in body:
        return str(body["title"])
    first = body["content"].split("\n")[0]
    return re.sub(r"^### (<font[^>]*>)?|</font>$", "", first)


def pod_alert(i: int, name: str, severity: str) -> Alert:
    return alert(
        name,
        severity=severity,
        labels={"cluster": "prod-sh", "namespace": "payments", "pod": f"checkout-{i:05d}"},
        annotations={"description": f"pod checkout-{i:05d} " + "is unwell " * 10},
    )


def group(count: int) -> list[Alert]:
    names = [("KubePodCrashLooping", "warning"), ("KubePodNotReady", "critical"), ("CPU", "info")]
    return [pod_alert(i, *names[i % 3]) for i in range(count)]


# -- the first line ---------------------------------------------------------------------------


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_the_title_says_how_bad_what_and_where(platform: str) -> None:
    sample = sample_alert_notification(NOW)
    cases = {
        "🔴 CRITICAL · 2 firing · NodeFilesystemAlmostOutOfSpace, KubePodCrashLooping"
        " · monitoring": sample,
        "🔴 CRITICAL · NodeFilesystemAlmostOutOfSpace · monitoring/node-3": replace(
            sample, alerts=sample.alerts[:1]
        ),
        "✅ RESOLVED · KubePodCrashLooping · monitoring/alertmanager-main-1": replace(
            sample,
            status="resolved",
            alerts=[replace(sample.alerts[1], status="resolved", ends_at=NOW)],
        ),
        "🟠 Warning · BackOff Pod payments/checkout-7f9c6d5b8-x2k4q": sample_event_notification(
            NOW
        ),
    }
    for expected, payload in cases.items():
        (message,) = renderer().render(receiver(platform), payload)
        assert expected in title_of(message)


# -- links ------------------------------------------------------------------------------------


def test_the_silence_link_decodes_to_the_alerts_identifying_labels() -> None:
    labels = {"alertname": "X", "pod": 'a"b', "prometheus_replica": "p-0", "job": "kube"}
    url = silence_url("https://am.example", labels, skip={"job"})
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "am.example", "/")
    assert parts.fragment.startswith("/silences/new?filter=")
    matchers = parse_qs(parts.fragment.split("?", 1)[1])["filter"][0]
    assert matchers == '{alertname="X",pod="a\\"b"}'  # no volatile replica, no hidden job


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_links_point_where_a_phone_can_go(platform: str) -> None:
    item = alert(
        annotations={
            "dashboard_url": "https://grafana.example/d/x?var-pod=a_b",
            "logs_url": "javascript:alert(1)",
        },
        generator_url="http://prometheus-k8s-0:9090/graph?g0.expr=up",
    )
    given = notification(item, external_url="http://alertmanager-main-0:9093", receiver="team")
    custom = CardSettings(prometheus_url="https://prom.example/p")
    bridge = renderer(alertmanager_url="https://am.example", settings=custom)
    text = unquote(text_of(bridge.render(receiver(platform), given)[0]))
    assert "https://prom.example/p/graph?g0.expr=up" in text
    assert "prometheus-k8s-0" not in text
    assert "alertmanager-main-0" not in text
    assert "https://am.example/#/alerts?" in text
    assert "receiver=team" in text
    assert 'https://am.example/#/silences/new?filter={alertname="KubePodCrashLooping"' in text
    assert "https://grafana.example/d/x?var-pod=a_b" in text
    assert "javascript" not in text


# -- big groups -------------------------------------------------------------------------------


def rows_in(message: Message) -> list[tuple[str, int]]:
    """(alertname, count) of each roll-up row, in order."""
    return [(n, int(c)) for n, c in re.findall(r"(\w+)\*\* \u00d7(\d+)", text_of(message))]


@pytest.mark.parametrize("count", [30, 50])
@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_up_to_50_alerts_make_one_message_most_severe_first(platform: str, count: int) -> None:
    messages = renderer().render(receiver(platform), notification(*group(count)))
    assert len(messages) == 1
    assert within_limit(platform, messages[0])
    rows = rows_in(messages[0])
    assert sum(n for _, n in rows) == count, "every alert counted in a row"
    assert rows[0][0] == "KubePodNotReady", "critical first"
    text = text_of(messages[0])
    assert "checkout-00001" in text  # the objects, compactly
    assert text.count("KubePodNotReady summary") >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.sampled_from(SEVERITIES)),
        min_size=4,
        max_size=120,
    ),
    platform=st.sampled_from(CHAT_PLATFORMS),
)
def test_a_roll_up_loses_no_alert_and_fits(specs: list[tuple[str, str]], platform: str) -> None:
    alerts = [pod_alert(i, name, severity) for i, (name, severity) in enumerate(specs)]
    parts = renderer().render_parts(receiver(platform), notification(*alerts))
    assert sum(len(p.notification.alerts) for p in parts) == len(alerts)
    shown = 0
    for part in parts:
        assert within_limit(platform, part.message)
        shown += sum(n for _, n in rows_in(part.message))
    omitted = sum(int(n) for n in re.findall(r"(\d+) more alerts", text_of(parts[-1].message)))
    assert shown + omitted == len(alerts), "every alert in a row or counted as not shown"
    if len(alerts) <= 50:
        assert len(parts) == 1


def test_rows_are_most_severe_first() -> None:
    from zoneinfo import ZoneInfo

    from app.rendering.context import CardOptions
    from app.rendering.rollup import rollup

    opts = CardOptions(zone=ZoneInfo("UTC"), now=NOW)
    rows: list[RollupRow] = rollup(group(9), opts, 5, True)
    assert [r.level for r in rows] == ["critical", "warning", "info"]
    assert [r.count for r in rows] == [3, 3, 3]


# -- severity, mentions -----------------------------------------------------------------------


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_severity_map_and_badges(platform: str) -> None:
    custom = renderer(settings=CardSettings(severity_map=(("P1", "critical"),)))
    (message,) = custom.render(receiver(platform), notification(alert(severity="P1")))
    assert title_of(message).startswith("🔴 CRITICAL")
    (info,) = renderer().render(receiver(platform), notification(alert(severity="info")))
    assert "🔵" in text_of(info)
    assert "F5222D" not in text_of(info)  # info is never red
    assert "'red'" not in text_of(info)


def pings(platform: str, message: Message) -> bool:
    text = text_of(message)
    return bool(re.search(r"<at id=|<@|@13800000000|@zhangsan", text)) or bool(
        message.get("at", {}).get("atMobiles")
    )


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_resolved_cards_are_compact_and_ping_nobody_by_default(platform: str) -> None:
    done = alert(status="resolved", ends_at=NOW, starts_at=NOW - timedelta(hours=1, minutes=33))
    quiet = receiver(platform, mentions=mentions(**PINGING))
    (message,) = renderer().render(quiet, notification(done))
    assert not pings(platform, message)
    assert "lasted 1h 33m" in text_of(message)
    loud = receiver(platform, mentions=mentions(**PINGING, on_resolved=True))
    assert pings(platform, renderer().render(loud, notification(done))[0])


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_min_severity_keeps_info_quiet(platform: str) -> None:
    config = receiver(platform, mentions=mentions(**PINGING, min_severity="warning"))
    assert not pings(platform, renderer().render(config, notification(alert(severity="info")))[0])
    assert pings(platform, renderer().render(config, notification(alert(severity="warning")))[0])


# -- labels, events, language -----------------------------------------------------------------


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_key_labels_first_and_plumbing_hidden(platform: str) -> None:
    item = alert(
        labels={
            "namespace": "payments",
            "pod": "checkout-1",
            "cluster": "prod-sh",
            "prometheus": "monitoring/k8s",
            "endpoint": "https-main",
        }
    )
    text = text_of(renderer().render(receiver(platform), notification(item))[0])
    assert "prod-sh/payments/checkout-1" in text
    assert "prometheus=" not in text
    assert "endpoint=" not in text


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_events_can_say_which_cluster(platform: str) -> None:
    sample = with_static_labels(sample_event_notification(NOW), {"cluster": "prod-sh"})
    (message,) = renderer().render(receiver(platform), sample)
    assert "prod-sh" in text_of(message)


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
def test_chinese_cards(platform: str) -> None:
    (message,) = renderer().render(
        receiver(platform, language="zh"), sample_alert_notification(NOW)
    )
    text = text_of(message)
    assert title_of(message).startswith("🔴 严重 · 2 条告警")
    assert "处理手册" in text
    assert "静默" in text
    assert "Runbook" not in text
