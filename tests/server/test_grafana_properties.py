"""Any Grafana-shaped body, posted to /grafana/<receiver> or /alertmanager/<receiver> of the
in-process service (Hypothesis): 200, or a 4xx whose reason starts with the field at fault, and
never a 5xx. The bodies follow Grafana's webhook body (version 1 and legacy) with any field
sometimes replaced by any JSON value. `HYPOTHESIS_PROFILE=long` runs 5,000 examples.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.config.load import parse_config
from app.sources.alertmanager import AlertmanagerAlert, AlertmanagerPayload
from app.sources.grafana import EvalMatch, GrafanaAlert, GrafanaPayload, LegacyPayload
from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.bots import TOKENS, add_bot, webhook_url
from tests.support.profiles import examples
from tests.support.strategies import JSON_VALUES, TIMESTAMP

MODELS = (
    AlertmanagerPayload,
    AlertmanagerAlert,
    GrafanaPayload,
    GrafanaAlert,
    LegacyPayload,
    EvalMatch,
)
# Every field name a 422 reason may start with: the payloads' own, or "body" for the whole.
FIELD_NAMES = {"body"} | {
    info.alias or name for model in MODELS for name, info in model.model_fields.items()
}
LABELS = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4)
URL = st.sampled_from(["", "https://grafana.example/d/abc?orgId=1", "javascript:alert(1)"])
NUMBERS = st.floats() | st.integers(min_value=-(2**70), max_value=2**70)


def sometimes_anything(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy`, or about one time in twenty any JSON value: most bodies stay valid."""
    return st.integers(0, 19).flatmap(lambda n: JSON_VALUES if n == 0 else strategy)


ALERT = st.fixed_dictionaries(
    {
        "status": sometimes_anything(st.sampled_from(["firing", "resolved"])),
        "labels": sometimes_anything(LABELS),
    },
    optional={
        "annotations": sometimes_anything(LABELS | st.none()),
        "startsAt": sometimes_anything(TIMESTAMP),
        "endsAt": sometimes_anything(TIMESTAMP),
        "generatorURL": sometimes_anything(URL),
        "fingerprint": sometimes_anything(st.text(max_size=16)),
        "silenceURL": sometimes_anything(URL),
        "dashboardURL": sometimes_anything(URL),
        "panelURL": sometimes_anything(URL),
        "imageURL": sometimes_anything(URL),
        "values": sometimes_anything(st.none() | st.dictionaries(st.text(max_size=3), NUMBERS)),
        "valueString": sometimes_anything(
            st.sampled_from(["", "[ var='B' labels={a=b} value=1.5 ]", "[ metric='' labels={"])
        ),
    },
)
UNIFIED = st.fixed_dictionaries(
    {
        "version": sometimes_anything(st.just("1")),
        "orgId": sometimes_anything(st.integers(min_value=0, max_value=2**40)),
        "alerts": sometimes_anything(st.lists(ALERT, max_size=3)),
    },
    optional={
        "receiver": sometimes_anything(st.text(max_size=20)),
        "status": sometimes_anything(st.sampled_from(["firing", "resolved"])),
        "groupLabels": sometimes_anything(LABELS),
        "commonLabels": sometimes_anything(LABELS),
        "commonAnnotations": sometimes_anything(LABELS),
        "externalURL": sometimes_anything(URL),
        "groupKey": sometimes_anything(st.text(max_size=20)),
        "truncatedAlerts": sometimes_anything(st.integers(min_value=0, max_value=5)),
        "title": sometimes_anything(st.text(max_size=20)),
        "state": sometimes_anything(st.sampled_from(["alerting", "ok"])),
        "message": sometimes_anything(st.text(max_size=40)),
    },
)
LEGACY = st.fixed_dictionaries(
    {
        "ruleName": sometimes_anything(st.text(max_size=20)),
        "state": sometimes_anything(st.sampled_from(["ok", "alerting", "no_data", "paused"])),
    },
    optional={
        "evalMatches": sometimes_anything(
            st.none()
            | st.lists(
                st.fixed_dictionaries(
                    {"value": sometimes_anything(NUMBERS | st.none())},
                    optional={"metric": st.text(max_size=10), "tags": st.none() | LABELS},
                ),
                max_size=3,
            )
        ),
        "ruleId": sometimes_anything(st.integers(min_value=0, max_value=2**40)),
        "ruleUrl": sometimes_anything(URL),
        "imageUrl": sometimes_anything(URL),
        "message": sometimes_anything(st.text(max_size=40)),
        "title": sometimes_anything(st.text(max_size=20)),
        "orgId": sometimes_anything(st.integers(min_value=0, max_value=2**40)),
        "tags": sometimes_anything(LABELS | st.none()),
    },
)


@asynccontextmanager
async def service() -> AsyncIterator[httpx.AsyncClient]:
    """The service with its lifespan (workers) in front of one fake Feishu bot."""
    bots = FakeBots()
    bots.set_rate_limits(False)
    add_bot(bots, "feishu", TOKENS["feishu"])
    receiver = {
        "name": "feishu-ops",
        "platform": "feishu",
        "webhook_url": webhook_url("feishu", TOKENS["feishu"]),
    }
    config = parse_config(
        {
            "server": {"timezone": "UTC"},
            "delivery": {"shutdown_grace": "50ms"},
            "receivers": [receiver],
            "routes": [{"receivers": ["feishu-ops"]}],
        },
        environ={},
    )
    async with running_app(config, bots) as client:
        yield client


def test_any_grafana_shaped_body_gets_200_or_a_4xx_naming_the_field() -> None:
    # One event loop for the whole run: Hypothesis calls `check` synchronously, and the
    # service's workers keep running on this loop between examples.
    loop = asyncio.new_event_loop()
    running = service()
    client = loop.run_until_complete(running.__aenter__())
    try:

        @settings(
            max_examples=examples(60),
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(body=UNIFIED | LEGACY, route=st.sampled_from(["grafana", "alertmanager"]))
        def check(body: dict[str, Any], route: str) -> None:
            # json.dumps, not httpx's json=: Grafana never sends NaN, but a peer might, and
            # Python's json reads it.
            post = client.post(f"/{route}/feishu-ops", content=json.dumps(body))
            response = loop.run_until_complete(post)
            event(f"answered {response.status_code}")
            assert response.status_code in (200, 422), response.text
            if response.status_code == 422:
                field = response.json()["error"].split(":", 1)[0].split(".", 1)[0]
                assert field in FIELD_NAMES, response.text

        check()
    finally:
        loop.run_until_complete(running.__aexit__(None, None, None))
        loop.close()
