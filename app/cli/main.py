"""The `alertbridge` command: serve | check-config | render | route-test | send-test | outbox |
config-schema; the options are app/cli/parser.py."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app import __version__
from app.cli.parser import build_parser
from app.config.load import EMBEDDED_DEFAULT, default_config, load_config
from app.config.matchers import LABEL_NAME
from app.config.model import Config, ConfigError, Receiver, dsn_secrets
from app.intake.router import Router
from app.ops.logsetup import chosen_log_format, setup_logging
from app.ops.redaction import Redactor, redact_url
from app.ops.sighup import hold_sighup
from app.sources import InvalidPayload

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from app.bridge import Bridge
    from app.rendering.renderer import Renderer

log = logging.getLogger("alertbridge")
# How long an idle connection stays open after an answer. Longer than the senders' own idle
# timeout (Alertmanager's HTTP client, prometheus/common config/http_config.go: 5 minutes; Go's
# DefaultTransport, which kube-eventer uses: 90 s), so the sender always closes first: a sender
# never writes a notification onto a connection we are closing, which it would see as an error
# (kube-eventer never retries). uvicorn's default of 5 s would make that race possible.
KEEP_ALIVE_SECONDS = 310


def obtain_config(path: Path | None) -> tuple[Config, str]:
    """The config alone, cards unchecked: `render` is how a broken card is looked at."""
    if path is None:
        return default_config(), EMBEDDED_DEFAULT
    return load_config(path), str(path)


def run_server(
    app: ASGIApp, host: str, port: int, shutdown_grace: int, head_timeout: float = 10.0
) -> None:
    """uvicorn as `serve` runs it (tests/bench/floor.py serves its floor the same way)."""
    import uvicorn

    from app.server.connections import deadline_protocol

    # SIGTERM: uvicorn stops taking requests, lets those in progress (each commits before it
    # answers) finish, then the lifespan gives sends in flight delivery.shutdown_grace.
    # gc.freeze: what imports and start-up built lives as long as the process; left in the
    # collector it made each full collection a 70 ms pause of the event loop (ack latency).
    # Slow clients: a body must arrive within server.read_timeout_seconds (inbound.read_body: 408),
    # and so must a request head, from its first byte (app/server/connections.py: 408, closed).
    # No limit_concurrency: beyond it uvicorn answers 503 to every request, /status included, so
    # a pile of idle connections would take the health check down with it.
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        workers=1,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=shutdown_grace,
        http=deadline_protocol(head_timeout),
    )


def serve(args: argparse.Namespace) -> int:
    from app.bridge import Bridge, open_outbox, outbox_url
    from app.outbox.schema import OutboxVersionError, outbox_path
    from app.rendering.checks import load_checked
    from app.server.app import create_app
    from app.server.reload import Reloader

    redactor = Redactor()
    try:
        log_format = chosen_log_format(args.log_format)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    setup_logging(args.log_level, redactor, log_format)
    loaded = load_checked(args.config)
    config, source = loaded.config, loaded.source
    url = outbox_url(config)
    redactor.update(dsn_secrets(url))
    if url:
        where, pending_count = redact_url(url), asyncio.run(prepared_database(url, redactor))
    else:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        where, pending_count = str(outbox_path(args.data_dir)), -1
    try:
        outbox = open_outbox(config, outbox_path(args.data_dir))
    except OutboxVersionError as exc:  # an older alertbridge on a migrated file: say so, exit 2
        raise ConfigError(str(exc)) from None
    bridge = Bridge(
        config, config_source=source, redactor=redactor, outbox=outbox, cards=loaded.cards
    )
    reloader = Reloader(args.config, loaded, bridge.metrics)
    app = create_app(config, config_source=source, bridge=bridge, reloader=reloader)
    names = ", ".join(f"{r.name} ({r.platform})" for r in config.receivers)
    log.info(
        "alertbridge %s: config from %s (digest %s); receivers: %s",
        __version__,
        source,
        loaded.digest,
        names,
    )
    if pending_count < 0:
        pending_count = asyncio.run(pending(bridge))
    log.info("outbox %s: %d message(s) pending", where, pending_count)
    # access_log=False: uvicorn's access log prints query strings, which may carry credentials;
    # app/server/inbound.py logs method, path and status instead. log_config=None keeps our
    # redacting handler.
    try:
        grace = math.ceil(config.delivery.shutdown_grace)
        run_server(app, args.host, args.port, grace, config.server.read_timeout_seconds)
    finally:
        asyncio.run(outbox.close())
    return 0


async def prepared_database(url: str, redactor: Redactor) -> int:
    """The PostgreSQL outbox reachable and its schema current, or a ConfigError (exit 2) that
    says why without the password; the messages pending there."""
    try:
        from app.outbox.pg_schema import PgSchemaError, prepare_database
    except ImportError:
        raise ConfigError(
            "a postgresql:// outbox needs the postgres extra: pip install 'alertbridge[postgres]'"
        ) from None
    import psycopg

    try:
        return await prepare_database(url)
    except (psycopg.Error, OSError, PgSchemaError) as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"outbox database {redact_url(url)}: {redactor.scrub(text)}") from None


async def pending(bridge: Bridge) -> int:
    return sum([await bridge.outbox.backlog(r.name) for r in bridge.config.receivers])


def check_config(args: argparse.Namespace) -> int:
    """The checks of start-up and of every reload: the YAML, then the cards on the samples."""
    from app.rendering.checks import load_checked

    loaded = load_checked(args.path)
    config = loaded.config
    print(
        f"{args.path}: OK, {len(config.receivers)} receiver(s), {len(config.routes)} route(s), "
        f"digest {loaded.digest}"
    )
    return 0


def render(args: argparse.Namespace) -> int:
    from app.rendering.samples import sample_alert_notification, sample_event_notification
    from app.sources.grafana import parse_alertmanager_or_grafana
    from app.sources.kube_eventer import parse_kube_eventer, with_static_labels

    config, _ = obtain_config(args.config)
    receiver = chosen_receiver(config, args.receiver)
    if args.payload is None:
        notifications = [sample_alert_notification(), sample_event_notification()]
    else:
        body = args.payload.read_bytes()
        # An alert group (Alertmanager's or Grafana's, told apart as /alertmanager does), else
        # a kube-eventer event.
        is_alertmanager = b'"alerts"' in body
        parse = parse_alertmanager_or_grafana if is_alertmanager else parse_kube_eventer
        notifications = [parse(body)]
        if not is_alertmanager:
            notifications = [with_static_labels(notifications[0], config.kube_eventer.labels)]
    renderer = make_renderer(config)
    for notification in notifications:
        for message in renderer.render(receiver, notification):
            print(json.dumps(message, ensure_ascii=False, indent=2))
    return 0


def chosen_receiver(config: Config, name: str) -> Receiver:
    receiver = config.receiver(name)
    if receiver is None:
        raise ConfigError(f"no receiver named {name!r}")
    return receiver


def make_renderer(config: Config) -> Renderer:
    from app.rendering.renderer import Renderer
    from app.rendering.style import card_settings

    server = config.server
    return Renderer(
        settings=card_settings(config),
        timezone=server.timezone,
        cards_dir=server.cards_dir,
        alertmanager_url=server.alertmanager_url,
    )


def send_test(args: argparse.Namespace) -> int:
    from app.cli.sendtest import describe_answer, describe_failure, sample_message, send_sample
    from app.platforms.sending import SendError

    config, _ = obtain_config(args.config)
    receiver = chosen_receiver(config, args.receiver)
    redactor = Redactor(config.secrets())
    setup_logging("info", redactor)  # where the console sender writes its card
    message = sample_message(receiver, make_renderer(config))
    try:
        answer = asyncio.run(send_sample(receiver, message, config.server))
    except SendError as error:
        outcome, status = describe_failure(error), 1
    else:
        outcome, status = describe_answer(answer), 0
    # Senders keep secrets out of their errors; the scrub is the safety net the logs have too.
    print(redactor.scrub(f"{receiver.platform} receiver {receiver.name}: {outcome}"))
    return status


def route_test(args: argparse.Namespace) -> int:
    config, _ = obtain_config(args.config)
    labels: dict[str, str] = {}
    for pair in args.labels:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"{pair!r} is not LABEL=VALUE")
        if not LABEL_NAME.match(name):
            raise ConfigError(f"{name!r} is not a valid label name")
        labels[name] = value
    router = Router(config)
    if router.is_filtered(labels):
        print("(dropped by a filter)")
        return 0
    receivers = router.match_receivers(labels)
    print(",".join(receivers) if receivers else "(no receiver)")
    return 0


def config_schema(args: argparse.Namespace) -> int:
    from app.cli.reference import config_schema as schema

    print(json.dumps(schema(), indent=2, ensure_ascii=False))
    return 0


def outbox(args: argparse.Namespace) -> int:
    from app.cli.outbox import outbox_command

    return outbox_command(args)


COMMANDS = {
    "serve": serve,
    "check-config": check_config,
    "render": render,
    "route-test": route_test,
    "send-test": send_test,
    "outbox": outbox,
    "config-schema": config_schema,
}


def main(argv: list[str] | None = None) -> int:
    hold_sighup()  # app/cli/entry.py did already, unless main() is called some other way
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"alertbridge: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`alertbridge render | head -1`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except InvalidPayload as exc:
        print(f"alertbridge: invalid payload: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"alertbridge: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # the outbox file: unreadable, not a database, locked
        print(f"alertbridge: outbox in {getattr(args, 'data_dir', '?')}: {exc}", file=sys.stderr)
        return 2
