"""The `alertbridge` command line: its commands and options, every option with its help."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from app import __version__
from app.ops.logformat import LOG_FORMATS
from app.ops.logsetup import LOG_FORMAT_ENV

DEFAULT_PORT = 8080


def env_path(name: str, fallback: Path | None) -> Path | None:
    """A path option's default: the environment variable when set (the image sets both, so
    `kubectl exec ... alertbridge outbox list` finds what `serve` uses), else `fallback`."""
    value = os.environ.get(name, "")
    return Path(value) if value else fallback


CONFIG_HELP = "config YAML (default: $ALERTBRIDGE_CONFIG, else the embedded default)"
RECEIVER_HELP = "a receiver's name, as in the config's receivers"
DATA_DIR_HELP = "where the outbox file lives (default: $ALERTBRIDGE_DATA_DIR, else ./data)"


def build_parser() -> argparse.ArgumentParser:
    config = env_path("ALERTBRIDGE_CONFIG", None)
    data_dir = env_path("ALERTBRIDGE_DATA_DIR", Path("data"))
    parser = argparse.ArgumentParser(
        prog="alertbridge",
        description="Forward Alertmanager, Grafana and kube-eventer alerts to Feishu, DingTalk"
        " and WeCom group bots.",
    )
    parser.add_argument("--version", action="version", version=f"alertbridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--config", type=Path, default=config, help=CONFIG_HELP)
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})"
    )
    serve.add_argument("--data-dir", type=Path, default=data_dir, help=DATA_DIR_HELP)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error", "critical"),
        help="least severe log line written (default: info)",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help=f"text (default) or json, one object per line (env: {LOG_FORMAT_ENV})",
    )

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("path", type=Path, help="the config YAML to check, with its cards_dir")

    render = commands.add_parser("render", help="print the message(s) a receiver would get")
    render.add_argument("--config", type=Path, default=config, help=CONFIG_HELP)
    render.add_argument("--receiver", required=True, help=RECEIVER_HELP)
    render.add_argument(
        "--payload",
        type=Path,
        help="an Alertmanager, Grafana or kube-eventer JSON body (default: the built-in samples)",
    )

    route = commands.add_parser("route-test", help="print the receivers that get these labels")
    route.add_argument("--config", type=Path, default=config, help=CONFIG_HELP)
    route.add_argument(
        "labels", nargs="+", metavar="LABEL=VALUE", help="the labels of one alert or event"
    )

    send = commands.add_parser(
        "send-test", help="send a sample card to a receiver's bot once and print its answer"
    )
    send.add_argument("--config", type=Path, default=config, help=CONFIG_HELP)
    send.add_argument("--receiver", required=True, help=RECEIVER_HELP)

    outbox = commands.add_parser(
        "outbox", help="list, retry or purge queued and dead messages (also while serving)"
    )
    actions = outbox.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "print pending messages (dead letters with --dead), oldest first"),
        ("retry", "queue dead letters again, at the end of their receiver's queue"),
        ("purge", "delete pending messages (dead letters with --dead)"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--data-dir", type=Path, default=data_dir, help=DATA_DIR_HELP)
        sub.add_argument(
            "--config",
            type=Path,
            default=config,
            help="the service's config: its outbox.url (or env ALERTBRIDGE_OUTBOX_URL) names a"
            " PostgreSQL outbox to work on instead of --data-dir's file; its secrets are masked"
            " in what is printed",
        )
        sub.add_argument("--receiver", help="only this receiver's messages")
        sub.add_argument("--id", dest="ids", action="append", default=[], help="only this one")
        implied = " (implied: retry re-queues dead letters)" if action == "retry" else ""
        sub.add_argument("--dead", action="store_true", help="dead letters, not pending" + implied)
    moving = actions.add_parser(
        "migrate",
        help="copy an outbox (queued and dead messages, dedup memory) between a SQLite file and"
        " a PostgreSQL database, either way; same ids, idempotent",
    )
    moving.add_argument("--from", dest="source", required=True, help="outbox.db path or URL")
    moving.add_argument("--to", dest="target", required=True, help="postgresql:// URL or path")
    commands.add_parser(
        "config-schema",
        help="print the config's JSON Schema (for editors: yaml-language-server and the like)",
    )
    return parser
