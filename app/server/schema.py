"""What the inbound routes answer and read, for api.py and its OpenAPI schema: the answer models
(api.py builds its JSON answers from them, so schema and answers cannot drift apart), what each
refusal code means, and the request bodies the handlers read as raw bytes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.sources.alertmanager import AlertmanagerPayload
from app.sources.grafana import GrafanaPayload, LegacyPayload

# Where pydantic's JSON schemas point their references to nested models.
DEFS_REF = "#/$defs/"


class AcceptedAnswer(BaseModel):
    """The 200 answer: everything the notification asked for is queued."""

    # Read straight off bridge.Accepted, so a new field there has to be named here to be sent.
    model_config = ConfigDict(from_attributes=True)

    status: Literal["accepted"] = "accepted"
    messages: int = Field(description="Messages queued, over all receivers.")
    receivers: list[str] = Field(description="The receivers the notification was routed to.")
    filtered: int = Field(description="Alerts or events dropped by the filters.")
    unrouted: int = Field(description="Alerts or events no route matched.")
    duplicate: bool = Field(
        description="Already queued within the de-duplication window: nothing new was queued."
    )


class RefusalAnswer(BaseModel):
    """Every answer other than 200 from an inbound route."""

    error: str = Field(description="Why, without echoing the body or any credential.")


class ReadyAnswer(BaseModel):
    """GET /ready: 200 when the outbox can commit a write, 503 with the reasons when not."""

    ready: bool
    reasons: list[str] = Field(default=[], description="Why not ready; empty when ready.")


def ready_answers() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": ReadyAnswer, "description": "Ready: the outbox takes writes."},
        503: {"model": ReadyAnswer, "description": "Not ready; `reasons` says why."},
    }


# 4xx: no retry can fix it; 503: a retry later can, which is what Alertmanager does.
REFUSALS: dict[int, str] = {
    400: "The body is not readable: malformed JSON, not UTF-8, or empty.",
    401: "Missing or wrong credentials (only when server.auth is configured).",
    404: "No receiver of that name is configured.",
    408: "The body did not all arrive within server.read_timeout_seconds.",
    413: "The body is larger than server.max_body_bytes, or holds more alerts or events than"
    " limits.alerts_per_notification.",
    422: "The body parses but has the wrong shape; the message names the fields.",
    503: "The outbox cannot take it now (backlog full or disk trouble); retry later.",
}


def answers(*refused: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of routes that answer AcceptedAnswer or refuse with the `refused` codes."""
    documented: dict[int | str, dict[str, Any]]
    documented = {code: {"model": RefusalAnswer, "description": REFUSALS[code]} for code in refused}
    return {200: {"model": AcceptedAnswer, "description": "Queued."}, **documented}


def alertmanager_body() -> dict[str, Any]:
    """`openapi_extra` for the Alertmanager routes: the webhook payload model as request body.
    A Grafana body sent there is read as on /grafana; it is recognised by its fields."""
    return json_body(
        model_schema(AlertmanagerPayload),
        "Alertmanager's webhook body (version 4, or 3 without groupKey); a Grafana Alerting"
        " webhook body (version 1 with orgId/state/title, or the legacy one) is accepted too.",
    )


def grafana_body() -> dict[str, Any]:
    """`openapi_extra` for the Grafana routes: Grafana Alerting's webhook body or the legacy one."""
    variants = [model_schema(GrafanaPayload), model_schema(LegacyPayload)]
    return json_body(
        {"anyOf": variants},
        "Grafana Alerting's webhook contact point body (version 1), or the legacy alerting"
        " webhook body of Grafana 8 and before (ruleName, ruleUrl, evalMatches, state).",
    )


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    inlined: dict[str, Any] = inline_defs(schema, schema.pop("$defs", {}))
    return inlined


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def kube_eventer_body() -> dict[str, Any]:
    """`openapi_extra` for the kube-eventer routes: any JSON, or text, which kube-eventer's
    default body often is (it pastes raw event text into JSON); GET requests carry one too."""
    content = {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}
    return {"requestBody": {"required": True, "content": content}}


def inline_defs(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with each `{"$ref": "#/$defs/X"}` replaced by the definition X. Inside the OpenAPI
    document such a $ref would point at the document's root, where there are no $defs. The
    payload models are not recursive, so this ends."""
    if isinstance(node, list):
        return [inline_defs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFS_REF):
        rest = {key: inline_defs(value, defs) for key, value in node.items() if key != "$ref"}
        return {**inline_defs(defs[ref.removeprefix(DEFS_REF)], defs), **rest}
    return {key: inline_defs(value, defs) for key, value in node.items()}
