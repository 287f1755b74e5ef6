"""The console's preview (a built-in sample or a pasted Alertmanager payload through a receiver's
cards: the Feishu card drawn approximately in HTML, the raw JSON, any template error) and its
send-test (the sample card through the receiver's real sender, the answer as the CLI words it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from markupsafe import Markup, escape

from app.bridge import Bridge
from app.config.model import Receiver
from app.models import Message, Notification
from app.platforms.sending import SendError, describe_answer, describe_failure
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.server.console import guarded, page, ui_root
from app.server.consoleauth import Denied, Viewer, form, require_action
from app.sources import InvalidPayload
from app.sources.grafana import parse_alertmanager_or_grafana
from app.text import safe_url

SAMPLES = {"alert": "Two firing kube-prometheus alerts", "event": "A kube-eventer BackOff event"}
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_FONT = re.compile(
    r"&lt;font color=(?:&#39;|&#34;)?(red|green|grey)(?:&#39;|&#34;)?&gt;(.*?)&lt;/font&gt;"
)


def lark_md(text: str) -> Markup:
    """Feishu's lark_md, approximately: bold and the three documented font colours; the rest
    (already escaped) as text. Backslash escapes of the card dialect are undone for reading."""
    html = str(escape(re.sub(r"\\(.)", r"\1", text)))
    html = _FONT.sub(r'<span class="fc-\1">\2</span>', html)
    return Markup(_BOLD.sub(r"<strong>\1</strong>", html))


def _element(element: dict[str, Any]) -> dict[str, Any] | None:
    tag = element.get("tag")
    if tag == "hr":
        return {"kind": "hr"}
    if tag in ("div", "markdown"):
        text = (
            element.get("text", {}).get("content", "")
            if tag == "div"
            else element.get("content", "")
        )
        fields = [lark_md(f.get("text", {}).get("content", "")) for f in element.get("fields", [])]
        return {"kind": "div", "text": lark_md(text) if text else "", "fields": fields}
    if tag == "action":
        buttons = [
            (
                b.get("text", {}).get("content", ""),
                safe_url(b.get("url", "")),
                b.get("type") == "primary",
            )
            for b in element.get("actions", [])
        ]
        return {"kind": "buttons", "buttons": buttons}
    if tag == "note":
        return {
            "kind": "note",
            "text": " ".join(e.get("content", "") for e in element.get("elements", [])),
        }
    return None


def drawn_card(message: Message) -> dict[str, Any] | None:
    """A Feishu interactive card (msg_type interactive) as the template draws it; None for any
    other message, which the page shows as JSON only."""
    card = message.get("card") if message.get("msg_type") == "interactive" else None
    if not isinstance(card, dict):
        return None
    header = card.get("header", {})
    elements = [e for e in map(_element, card.get("elements", [])) if e is not None]
    return {
        "title": header.get("title", {}).get("content", ""),
        "colour": header.get("template", "grey"),
        "elements": elements,
    }


def chosen_notification(fields: dict[str, str], bridge: Bridge) -> Notification:
    source = fields.get("source", "alert")
    if source == "event":
        return sample_event_notification()
    if source == "payload":
        # Alertmanager's or Grafana's, told apart as the /alertmanager route does
        body = fields.get("payload", "").encode()
        return parse_alertmanager_or_grafana(body, bridge.config.limits)
    return sample_alert_notification()


def receiver_of(bridge: Bridge, fields: dict[str, str]) -> Receiver:
    receiver = bridge.config.receiver(fields.get("receiver", ""))
    if receiver is None:
        raise Denied(404, "pick one of the configured receivers")
    return receiver


async def preview_page(request: Request, who: Viewer) -> Response:
    bridge: Bridge = request.app.state.bridge
    fields: dict[str, str] = {"source": "alert"}
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    if request.method == "POST":
        fields = await form(request, who.csrf)
        receiver = receiver_of(bridge, fields)
        try:
            messages, errors = bridge.renderer.preview(
                receiver, chosen_notification(fields, bridge)
            )
        except InvalidPayload as exc:
            errors = [f"the payload is not a valid Alertmanager webhook body: {exc.message}"]
            messages = []
        results = [
            {"card": drawn_card(m), "json": json.dumps(m, ensure_ascii=False, indent=2)}
            for m in messages
        ]
    return page(
        request,
        "preview.html",
        root=ui_root(request),
        who=who,
        receivers=bridge.config.receivers,
        samples=SAMPLES,
        fields=fields,
        results=results,
        errors=errors,
        done=request.method == "POST",
    )


async def send_test_page(request: Request, who: Viewer) -> Response:
    bridge: Bridge = request.app.state.bridge
    outcome, fields = "", {}
    if request.method == "POST":
        require_action(who)
        fields = await form(request, who.csrf)
        receiver = receiver_of(bridge, fields)
        worker = bridge.workers.get(receiver.name)
        if worker is None:
            raise Denied(503, "the receiver's worker is not running")
        message = bridge.renderer.render(receiver, sample_alert_notification())[0]
        try:
            outcome = describe_answer(await worker.sender.send(message))
        except SendError as error:
            outcome = describe_failure(error)
    return page(
        request,
        "sendtest.html",
        root=ui_root(request),
        who=who,
        receivers=bridge.config.receivers,
        fields=fields,
        outcome=outcome,
    )


def preview_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/ui/preview", guarded(preview_page), methods=["GET", "POST"])
    router.add_api_route("/ui/send-test", guarded(send_test_page), methods=["GET", "POST"])
    return router
