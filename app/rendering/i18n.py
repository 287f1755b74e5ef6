"""The cards' fixed strings in English and Chinese (config `language`, per receiver, default
`server.language`). Templates see the chosen catalogue as the dict `t` (`{{ t.started }}`);
Python builds titles and durations with `text(language, key, **values)`.
"""

from __future__ import annotations

from typing import Final

# ruff: noqa: RUF001 (Chinese text uses fullwidth punctuation)

LANGUAGES: Final = ("en", "zh")

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "en": {
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "critical": "CRITICAL",
        "warning": "WARNING",
        "info": "INFO",
        "none": "ALERT",
        "mixed": "MIXED",
        "event_warning": "Warning",
        "event_normal": "Normal",
        "firing_count": "{n} firing",
        "resolved_count": "{n} resolved",
        "alerts_on": "{alerts} alerts",
        "names": "{n} names",
        "started": "Started",
        "ended": "Ended",
        "duration": "Duration",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "firing_for": "firing for {d}",
        "lasted": "lasted {d}",
        "labels": "Labels",
        "details": "Details",
        "more_alerts": "… {n} more alerts not shown",
        "more_events": "… {n} more events not shown",
        "more_objects": "+{n} more",
        "part": "part {part}/{parts}",
        "times_in": "times in {zone}",
        "prometheus": "Prometheus",
        "runbook": "Runbook",
        "dashboard": "Dashboard",
        "logs": "Logs",
        "panel": "Panel",
        "image": "Image",
        "value": "Value",
        "link": "Link",
        "silence": "Silence",
        "alertmanager": "Alertmanager",
        "grafana": "Grafana",
        "alerts": "Alerts",
        "digest": "Alert storm",
        "digest_title": "{alerts} alerts: {firing} firing, {resolved} resolved",
        "digest_intro": "{messages} queued messages summarised: the bot's rate limit could not "
        "deliver them within {delay}. Queued {first} to {last}.",
        "by_severity": "By severity",
        "by_name": "By name",
        "name_total": "{total}: {firing} firing, {resolved} resolved",
        "more_names": "… {n} more names, {alerts} alerts",
        "more_in_group": "… {n} more alerts in this group",
        "more_messages": "… {n} more messages counted above, not shown",
        "left_out": "Left out by Alertmanager",
    },
    "zh": {
        "firing": "告警",
        "resolved": "恢复",
        "critical": "严重",
        "warning": "警告",
        "info": "提示",
        "none": "告警",
        "mixed": "告警/恢复",
        "event_warning": "Warning",
        "event_normal": "Normal",
        "firing_count": "{n} 条告警",
        "resolved_count": "{n} 条恢复",
        "alerts_on": "{alerts} 条",
        "names": "{n} 种",
        "started": "开始时间",
        "ended": "恢复时间",
        "duration": "持续",
        "first_seen": "首次发生",
        "last_seen": "最近发生",
        "firing_for": "已持续 {d}",
        "lasted": "共持续 {d}",
        "labels": "标签",
        "details": "详情",
        "more_alerts": "… 另有 {n} 条告警未显示",
        "more_events": "… 另有 {n} 条事件未显示",
        "more_objects": "等 {n} 个",
        "part": "第 {part}/{parts} 部分",
        "times_in": "时区 {zone}",
        "prometheus": "Prometheus",
        "runbook": "处理手册",
        "dashboard": "仪表盘",
        "logs": "日志",
        "panel": "面板",
        "image": "截图",
        "value": "当前值",
        "link": "链接",
        "silence": "静默",
        "alertmanager": "Alertmanager",
        "grafana": "Grafana",
        "alerts": "告警列表",
        "digest": "告警风暴",
        "digest_title": "{alerts} 条告警：{firing} 条告警中，{resolved} 条已恢复",
        "digest_intro": "已合并 {messages} 条排队消息：机器人限流，无法在 {delay} 内逐条发送。"
        "排队时间 {first} 至 {last}。",
        "by_severity": "按级别",
        "by_name": "按名称",
        "name_total": "{total}：{firing} 条告警，{resolved} 条恢复",
        "more_names": "… 另有 {n} 种，{alerts} 条告警",
        "more_in_group": "… 本组另有 {n} 条告警",
        "more_messages": "… 另有 {n} 条消息已计入上方统计，未显示",
        "left_out": "Alertmanager 未发送",
    },
}


def catalogue(language: str) -> dict[str, str]:
    """The strings of `language`; English for anything else."""
    return CATALOGUE.get(language, CATALOGUE["en"])


def text(language: str, key: str, **values: object) -> str:
    return catalogue(language)[key].format(**values)
