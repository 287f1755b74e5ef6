"""schemathesis against the service's own OpenAPI schema, in process: on every endpoint, no 5xx
and every answer as the schema documents it (status code, content type, headers and body).

The service runs with its lifespan (HTTP client, one delivery worker per receiver) in front of
the three fake bots, as in test_api.py; schemathesis's ASGI transport starts that lifespan once
and serves every request on the same event loop. A few examples per endpoint keep this to a few
seconds; `HYPOTHESIS_PROFILE=long` runs 5,000 per endpoint (tests/support/profiles.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.app import service_app
from tests.support.bots import fake_bots
from tests.support.builders import bot_receivers, service_config
from tests.support.profiles import examples

RECEIVERS = [receiver["name"] for receiver in bot_receivers()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Every operation of the schema.
ENDPOINTS = [
    ("POST", "/alertmanager"),
    ("POST", "/alertmanager/{receiver}"),
    ("GET", "/kube-eventer"),
    ("POST", "/kube-eventer"),
    ("GET", "/kube-eventer/{receiver}"),
    ("POST", "/kube-eventer/{receiver}"),
    ("GET", "/status"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def schema() -> Iterator[schemathesis.BaseSchema]:
    app = service_app(service_config(*bot_receivers()), fake_bots(rate_limits=False))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield loaded
    # Stops the service's workers; schemathesis would otherwise leave them to interpreter exit.
    asgi.shutdown_lifespans()


def operations(schema: schemathesis.BaseSchema) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = schema.raw_schema["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods}


def test_the_table_lists_every_operation_of_the_schema(schema: schemathesis.BaseSchema) -> None:
    assert operations(schema) == set(ENDPOINTS)


def test_names_every_operation_once(schema: schemathesis.BaseSchema) -> None:
    ids = [
        operation["operationId"]
        for methods in schema.raw_schema["paths"].values()
        for operation in methods.values()
    ]
    assert sorted(ids) == sorted(set(ids))


@pytest.mark.parametrize(
    ("method", "path"),
    [pytest.param(method, path, id=f"{method} {path}") for method, path in ENDPOINTS],
)
@settings(
    max_examples=examples(15),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_answers_as_the_schema_documents_without_server_errors(
    schema: schemathesis.BaseSchema, method: str, path: str, data: st.DataObject
) -> None:
    case = data.draw(schema[path][method].as_strategy())
    configured: bool = data.draw(st.booleans(), label="a configured receiver")
    if case.path_parameters and configured:
        # A random name is a 404; the configured ones take the whole path to the fake bots.
        receiver = data.draw(st.sampled_from(RECEIVERS), label="receiver")
        case.path_parameters["receiver"] = receiver

    case.call_and_validate(checks=CHECKS)
