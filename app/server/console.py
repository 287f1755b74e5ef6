"""The web console under {path_prefix}/ui: the overview of every receiver, a receiver's recent
deliveries and queued or dead messages (retry, purge). Server-rendered Jinja, no JavaScript,
every asset served from here; each page passes through the redactor before it leaves.
Preview and send-test are app/server/preview.py, the silence links app/server/silence.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.bridge import Bridge
from app.outbox.contract import OutboxItem, State
from app.server.consoleauth import ConsoleKeys, Denied, Viewer, form, require_action, viewer
from app.server.status import config_report
from app.text import human_duration

log = logging.getLogger("alertbridge.console")
HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
STYLESHEET = (HERE / "static" / "console.css").read_text(encoding="utf-8")
# Messages read per receiver page, per state: enough to group a backlog by alertname.
LISTED_MESSAGES = 1000
STATES = ("pending", "dead")
LEASE_NOTE = "single instance (SQLite outbox): this process sends for every receiver"
SHARED_NOTE = "replicas on PostgreSQL: one holder per receiver sends (the Lease column)"
# Nothing but our own stylesheet loads, no page may be framed (the action buttons cannot be
# clicked through another site's overlay), and a silence link's token is never sent onward.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def moment(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(timestamp: float | None, now: float) -> str:
    return "—" if timestamp is None else human_duration(now - timestamp)


TEMPLATES.globals.update(moment=moment, age=age)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered and scrubbed of every known secret: a value that slipped into a
    page (an error text, a label) shows as ***."""
    bridge: Bridge = request.app.state.bridge
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(bridge.redactor.scrub(html), status_code=status, headers=PAGE_HEADERS)


def denied_page(request: Request, denied: Denied) -> Response:
    response = page(
        request,
        "message.html",
        denied.status,
        root=ui_root(request),
        title="Not allowed",
        text=denied.reason,
        who=None,
    )
    response.headers.update(denied.headers)
    return response


def ui_root(request: Request) -> str:
    """The relative way back to /ui/ from this page: pages never print the (secret) prefix."""
    prefix: str = request.app.state.console_prefix
    below = request.url.path.removeprefix(prefix + "/ui/")
    return "../" * below.count("/") or "./"


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Runs `handler` for an allowed viewer; a Denied becomes its 4xx page."""

    async def run(request: Request) -> Response:
        bridge: Bridge = request.app.state.bridge
        keys: ConsoleKeys = request.app.state.console_keys
        try:
            who = viewer(request, bridge.config, keys)
            return await handler(request, who)
        except Denied as denied:
            return denied_page(request, denied)

    return run


@dataclass(frozen=True, slots=True)
class Group:
    """Queued or dead messages about the same alertnames."""

    name: str
    ids: list[str]
    oldest: float
    last_error: str


def group_name(item: OutboxItem) -> str:
    notification = item.notification
    key = "reason" if notification.kind == "event" else "alertname"
    names = dict.fromkeys(a.labels.get(key, "") for a in notification.alerts)
    return ", ".join(n for n in names if n) or "(unnamed)"


def groups(items: list[OutboxItem]) -> list[Group]:
    found: dict[str, list[OutboxItem]] = {}
    for item in items:
        found.setdefault(group_name(item), []).append(item)
    return [
        Group(name, [i.id for i in members], members[0].created_at, members[-1].last_error)
        for name, members in found.items()
    ]


async def overview_rows(bridge: Bridge) -> list[dict[str, Any]]:
    rows = []
    for receiver in bridge.config.receivers:
        worker = bridge.workers.get(receiver.name)
        oldest = await bridge.outbox.items("pending", receiver.name, limit=1)
        rows.append(
            {
                "name": receiver.name,
                "platform": receiver.platform,
                "backlog": await bridge.outbox.backlog(receiver.name),
                "oldest": oldest[0].created_at if oldest else None,
                "last": worker.recent[-1] if worker and worker.recent else None,
                "dead": await bridge.outbox.dead_count(receiver.name),
                "lease": await lease_holder(bridge, receiver.name),
            }
        )
    return rows


async def lease_holder(bridge: Bridge, receiver: str) -> str:
    """Who sends to this receiver's bot now: "" on SQLite (this process, always)."""
    lease = bridge.leases.get(receiver)
    if lease is None:
        return ""
    holder = await lease.current_holder()
    here = " (this replica)" if lease.is_held() else ""
    return f"{holder}{here}" if holder else "none (being taken over)"


async def overview(request: Request, who: Viewer) -> Response:
    bridge: Bridge = request.app.state.bridge
    return page(
        request,
        "overview.html",
        root=ui_root(request),
        who=who,
        now=bridge.clock(),
        receivers=await overview_rows(bridge),
        config=config_report(bridge, request.app.state.reloader),
        lease=SHARED_NOTE if bridge.leases else LEASE_NOTE,
    )


async def receiver_page(request: Request, who: Viewer) -> Response:
    bridge: Bridge = request.app.state.bridge
    name = request.path_params["name"]
    receiver = bridge.config.receiver(name)
    if receiver is None:
        raise Denied(404, f"no receiver named {name!r}")
    worker = bridge.workers.get(name)
    pending = await bridge.outbox.items("pending", name, limit=LISTED_MESSAGES)
    dead = await bridge.outbox.items("dead", name, limit=LISTED_MESSAGES)
    return page(
        request,
        "receiver.html",
        root=ui_root(request),
        who=who,
        now=bridge.clock(),
        receiver=receiver,
        deliveries=list(reversed(worker.recent)) if worker else [],
        pending=groups(pending),
        dead=groups(dead),
        backlog=await bridge.outbox.backlog(name),
        dead_count=await bridge.outbox.dead_count(name),
        notice=notice_of(request.query_params.get("done", "")),
    )


def notice_of(done: str) -> str:
    """What the last action did, from its redirect's ?done=re-queued.3.dead: a fixed sentence
    with a number in it, so that a crafted link cannot put words on the page."""
    verb, _, rest = done.partition(".")
    count, _, state = rest.partition(".")
    if verb not in ("re-queued", "deleted") or not count.isdigit() or state not in STATES:
        return ""
    return f"{verb} {int(count)} {state} message(s)"


async def act(request: Request, who: Viewer) -> Response:
    """POST …/receivers/{name}/{retry|purge}: on the dead letters (or, for purge, the pending
    messages with state=pending) of one group, or all of them when group is empty."""
    require_action(who)
    fields = await form(request, who.csrf)
    bridge: Bridge = request.app.state.bridge
    name, action = request.path_params["name"], request.path_params["action"]
    if bridge.config.receiver(name) is None or action not in ("retry", "purge"):
        raise Denied(404, "no such receiver or action")
    state: State = "pending" if fields.get("state") == "pending" and action == "purge" else "dead"
    chosen = fields.get("group", "")
    items = await bridge.outbox.items(state, name)
    ids = [i.id for i in items if not chosen or group_name(i) == chosen]
    count = 0
    if ids:
        outbox = bridge.outbox
        count = await (
            outbox.retry_dead(name, ids) if action == "retry" else outbox.purge(state, name, ids)
        )
    log.info(
        "console: %s %s %d %s message(s) of %s (%s)",
        who.user,
        action,
        count,
        state,
        name,
        chosen or "all",
    )
    done = f"{'re-queued' if action == 'retry' else 'deleted'}.{count}.{state}"
    prefix: str = request.app.state.console_prefix
    return RedirectResponse(f"{prefix}/ui/receivers/{name}?done={done}", status_code=303)


async def stylesheet() -> Response:
    """Open to all: it holds nothing secret, and a silence page opened without the console's
    login (from a phone) must not meet a login prompt for its stylesheet."""
    return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})


def console_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/ui/", guarded(overview), methods=["GET"])
    router.add_api_route("/ui/console.css", stylesheet, methods=["GET"])
    router.add_api_route("/ui/receivers/{name}", guarded(receiver_page), methods=["GET"])
    router.add_api_route("/ui/receivers/{name}/{action}", guarded(act), methods=["POST"])

    async def to_overview(request: Request, who: Viewer) -> Response:
        return RedirectResponse("ui/", status_code=307)

    # Guarded too: even the redirect asks a stranger for credentials first.
    router.add_api_route("/ui", guarded(to_overview), methods=["GET"])

    return router


def install_console(app: FastAPI, path_prefix: str, *routers: APIRouter) -> None:
    app.state.console_prefix = path_prefix
    app.state.console_keys = ConsoleKeys()
    app.include_router(console_router(), prefix=path_prefix)
    for router in routers:
        app.include_router(router, prefix=path_prefix)
