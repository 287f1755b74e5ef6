"""The signed silence links of the cards (app/rendering/silence.py): GET shows a confirm page and
changes nothing (chat clients prefetch links); POST, with the page's form nonce, creates the
silence through Alertmanager's API v2 and links to it. The token is the authorization: these
pages need no console login (the on-call engineer opens them from a phone), and a tampered or
expired token gets a 4xx page.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response

from app.bridge import Bridge
from app.config.model import Server
from app.rendering.silence import BadToken, SilenceRequest, read_token
from app.server.console import denied_page, page, ui_root
from app.server.consoleauth import ConsoleKeys, Denied, read_form
from app.text import clip, one_line

log = logging.getLogger("alertbridge.silence")
DURATIONS = {"1h": 1, "2h": 2, "8h": 8, "24h": 24}  # hours
NONCE_LIFETIME_SECONDS = 3600.0  # how long a confirm page may stay open before its POST
ALERTMANAGER_TIMEOUT_SECONDS = 10.0
NAME_CHARS = 100
COMMENT_CHARS = 500


def verified(bridge: Bridge, token: str) -> SilenceRequest:
    secret = bridge.config.server.link_secret
    if not secret or not bridge.config.server.public_url:
        raise Denied(404, "silence links are not enabled (server.public_url, server.link_secret)")
    try:
        return read_token(secret, token, bridge.clock())
    except BadToken as exc:
        status = 410 if "expired" in str(exc) else 403
        raise Denied(status, str(exc)) from None


def nonce(keys: ConsoleKeys, token: str, issued: int) -> str:
    return f"{issued}.{keys.mac('silence', token, str(issued))}"


def check_nonce(keys: ConsoleKeys, token: str, given: str, now: float) -> None:
    issued, _, _ = given.partition(".")
    fresh = issued.isdigit() and 0 <= now - int(issued) <= NONCE_LIFETIME_SECONDS
    if not fresh or not hmac.compare_digest(given, nonce(keys, token, int(issued))):
        raise Denied(403, "this confirm form is stale or was not ours: open the link again")


def silence_body(request: SilenceRequest, hours: int, by: str, comment: str) -> dict[str, Any]:
    start = datetime.now(UTC)
    return {
        "matchers": [
            {"name": k, "value": v, "isRegex": False, "isEqual": True}
            for k, v in sorted(request.matchers.items())
        ],
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=hours)).isoformat(),
        "createdBy": by,
        "comment": comment,
    }


async def create_silence(server: Server, body: dict[str, Any]) -> str:
    """POST /api/v2/silences; the new silence's id, or Denied 502 with Alertmanager's reason."""
    url = server.silence_api_url
    if not url:
        raise Denied(503, "no Alertmanager to create it at (server.alertmanager_api_url)")
    try:
        async with httpx.AsyncClient(timeout=ALERTMANAGER_TIMEOUT_SECONDS) as client:
            answer = await client.post(f"{url}/api/v2/silences", json=body)
    except httpx.HTTPError as exc:
        raise Denied(502, f"Alertmanager could not be reached: {type(exc).__name__}") from None
    if answer.status_code != 200:
        raise Denied(
            502,
            f"Alertmanager refused the silence: HTTP {answer.status_code} {clip(answer.text, 300)}",
        )
    return str(answer.json().get("silenceID", ""))


async def confirm(request: Request) -> Response:
    bridge: Bridge = request.app.state.bridge
    keys: ConsoleKeys = request.app.state.console_keys
    token = request.path_params["token"]
    try:
        wanted = verified(bridge, token)
        if request.method == "POST":
            return await submit(request, bridge, keys, token, wanted)
    except Denied as denied:
        return denied_page(request, denied)
    return page(
        request,
        "silence.html",
        root=ui_root(request),
        who=None,
        wanted=wanted,
        durations=DURATIONS,
        nonce=nonce(keys, token, int(time.time())),
        expires=wanted.expires,
    )


async def submit(
    request: Request, bridge: Bridge, keys: ConsoleKeys, token: str, wanted: SilenceRequest
) -> Response:
    # No console CSRF token: the signed token in the URL plus the page's nonce stand for it.
    fields = await read_form(request)
    check_nonce(keys, token, fields.get("nonce", ""), time.time())
    hours = DURATIONS.get(fields.get("duration", ""))
    by = clip(one_line(fields.get("name", "")).strip(), NAME_CHARS)
    if hours is None or not by:
        raise Denied(400, "choose a duration and give your name")
    comment = (
        clip(fields.get("comment", "").strip(), COMMENT_CHARS)
        or "silenced from an alertbridge card"
    )
    silence_id = await create_silence(
        bridge.config.server, silence_body(wanted, hours, by, comment)
    )
    bridge.metrics.silences_created.labels(wanted.receiver).inc()
    log.info(
        "silence %s created by %s for %dh from a card of %s: %s",
        silence_id,
        by,
        hours,
        wanted.receiver,
        ", ".join(f'{k}="{v}"' for k, v in sorted(wanted.matchers.items())),
    )
    server = bridge.config.server
    base = server.alertmanager_url.rstrip("/") or server.silence_api_url
    return page(
        request,
        "message.html",
        root=ui_root(request),
        who=None,
        title="Silence created",
        text=f"Silenced for {hours}h by {by} (silence {silence_id}).",
        link=f"{base}/#/silences/{silence_id}",
        link_text="Open the silence in Alertmanager",
    )


def silence_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/ui/silence/{token}", confirm, methods=["GET", "POST"])
    return router
