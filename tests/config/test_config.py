"""Config loading: ${ENV} expansion, strict keys with their paths, embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config.load import default_config, load_config, parse_config
from app.config.model import ConfigError

MINIMAL = {"receivers": [{"name": "ops", "platform": "feishu", "webhook_url": "${URL}"}]}


def test_expands_environment_variables_anywhere() -> None:
    config = parse_config(
        MINIMAL, environ={"URL": "https://open.feishu.cn/open-apis/bot/v2/hook/t"}
    )
    assert config.receivers[0].webhook_url == "https://open.feishu.cn/open-apis/bot/v2/hook/t"


def test_expansion_uses_default_after_colon_dash() -> None:
    data = {"receivers": [{"name": "c", "platform": "console", "keyword": "${KW:-alert}"}]}
    assert parse_config(data, environ={}).receivers[0].keyword == "alert"


def test_unset_variable_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="URL is not set"):
        parse_config(MINIMAL, environ={})


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"receivers": [{"name": "c", "platform": "console", "colour": 1}]}, "receivers.0.colour"),
        ({"receivers": [{"name": "c", "platform": "slack"}]}, "receivers.0.platform"),
        (
            {"receivers": [{"name": "c", "platform": "console"}], "server": {"port": 1}},
            "server.port",
        ),
        (
            {"receivers": [{"name": "c", "platform": "console"}], "routes": [{"receivers": ["x"]}]},
            "routes.0.receivers",
        ),
        (
            {"receivers": [{"name": "c", "platform": "console"}], "server": {"timezone": "Mars/X"}},
            "server.timezone",
        ),
        (
            {
                "receivers": [{"name": "c", "platform": "console"}],
                "filters": [{"matchers": ["alertname ~ x"]}],
            },
            "filters.0.matchers",
        ),
        (
            {"receivers": [{"name": "d", "platform": "dingtalk", "webhook_url": "ftp://x"}]},
            "receivers.0",
        ),
    ],
    ids=[
        "unknown-key",
        "bad-platform",
        "unknown-server-key",
        "unknown-route-receiver",
        "bad-timezone",
        "bad-matcher",
        "non-http-url",
    ],
)
def test_bad_config_names_the_offending_key(data: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ={})
    assert path in str(info.value)


def test_config_errors_never_echo_secret_values() -> None:
    secret_url = "https://oapi.dingtalk.com/robot/send?access_token=topsecret123"
    data = {
        "receivers": [
            {"name": "d", "platform": "dingtalk", "webhook_url": secret_url, "secret": 42}
        ]
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ={})
    assert "topsecret123" not in str(info.value)
    assert "receivers.0.secret" in str(info.value)


def test_watchdog_and_deadmanssnitch_are_filtered_by_default() -> None:
    config = parse_config({"receivers": [{"name": "c", "platform": "console"}]}, environ={})
    assert config.filters[0].matchers == ["alertname =~ Watchdog|DeadMansSnitch"]


def test_default_is_one_console_receiver_without_env() -> None:
    config = default_config(environ={})
    assert [(r.name, r.platform) for r in config.receivers] == [("console", "console")]
    assert config.routes[0].receivers == ["console"]


def test_env_vars_give_a_one_bot_setup_without_a_file() -> None:
    env = {
        "ALERTBRIDGE_DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=a",
        "ALERTBRIDGE_DINGTALK_SECRET": "SECxyz",
        "ALERTBRIDGE_WECOM_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    }
    config = default_config(environ=env)
    assert [(r.name, r.platform, r.secret) for r in config.receivers] == [
        ("dingtalk", "dingtalk", "SECxyz"),
        ("wecom", "wecom", None),
    ]
    assert config.routes[0].receivers == ["dingtalk", "wecom"]


def test_load_config_reads_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("receivers:\n  - {name: c, platform: console}\nserver: {path_prefix: /abc/}\n")
    assert load_config(path, environ={}).server.path_prefix == "/abc"


def test_load_config_reports_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("receivers: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("mentions", "path"),
    [
        ({"users": ["ou_1", "all"]}, "mentions.users"),
        ({"users": ['x"><at']}, "mentions.users"),
        ({"mobiles": ["not-a-phone"]}, "mentions.mobiles"),
    ],
    ids=["all-as-an-id", "tag-injection", "bad-mobile"],
)
def test_static_mention_ids_are_checked_at_load(mentions: dict[str, list[str]], path: str) -> None:
    data = {"receivers": [{"name": "c", "platform": "console", "mentions": mentions}]}
    with pytest.raises(ConfigError, match=path):
        parse_config(data, environ={})


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("500ms", 0.5), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("1d", 86400.0), (45, 45.0)],
    ids=["ms", "s", "m", "h-and-m", "d", "bare-number"],
)
def test_durations_read_like_prometheus_ones(written: object, seconds: float) -> None:
    data = {"receivers": [{"name": "c", "platform": "console"}], "dedup": {"window": written}}
    assert parse_config(data, environ={}).dedup.window == seconds


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"storm": {"max_delay": "soon"}}, "storm.max_delay"),
        ({"delivery": {"max_age": "0s"}}, "delivery.max_age"),
        ({"dedup": {"windw": "5m"}}, "dedup.windw"),
        ({"heartbeat": {"receiver": "nobody"}}, "heartbeat.receiver"),
        ({"heartbeat": {"timeout": "10m"}}, "heartbeat.receiver"),
        ({"limits": {"labels_per_alert": 0}}, "limits.labels_per_alert"),
        ({"limits": {"max_alerts": 5}}, "limits.max_alerts"),
        ({"server": {"read_timeout_seconds": 0}}, "server.read_timeout_seconds"),
    ],
    ids=[
        "not-a-duration",
        "zero",
        "unknown-key",
        "unknown-receiver",
        "no-receiver",
        "zero-limit",
        "unknown-limit",
        "zero-read-timeout",
    ],
)
def test_bad_delivery_settings_name_the_key(data: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        parse_config({"receivers": [{"name": "c", "platform": "console"}], **data}, environ={})


def test_delivery_defaults_match_the_issue() -> None:
    config = parse_config({"receivers": [{"name": "c", "platform": "console"}]}, environ={})
    assert (config.delivery.max_age, config.storm.max_delay) == (86400.0, 60.0)
    assert (config.dedup.window, config.dedup.events_window) == (300.0, 300.0)
    assert config.storm.enabled
    assert config.heartbeat is None


def test_console_password_and_link_secret_are_secrets() -> None:
    data = {
        "receivers": [{"name": "c", "platform": "console"}],
        "server": {
            "public_url": "https://alerts.example.com/",
            "link_secret": "link-secret-0001",
            "alertmanager_url": "http://am:9093/",
        },
        "console": {"username": "ops", "password": "console-pass-0001"},
    }
    config = parse_config(data, environ={})
    assert {"link-secret-0001", "console-pass-0001"} <= set(config.secrets())
    assert config.server.public_url == "https://alerts.example.com"
    assert config.server.silence_api_url == "http://am:9093"
    assert config.server.silence_link_lifetime == 7 * 86400.0


def test_public_url_must_be_http() -> None:
    data = {"receivers": [{"name": "c", "platform": "console"}], "server": {"public_url": "x"}}
    with pytest.raises(ConfigError, match=r"server\.public_url"):
        parse_config(data, environ={})
