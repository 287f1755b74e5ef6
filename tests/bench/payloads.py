"""Request bodies for the benchmarks: Alertmanager notifications of 1, 20 and 200 alerts built from
tests/fixtures/alertmanager/firing.json, and kube-eventer's recommended custom body from
tests/fixtures/kube_eventer/custom-body.json.

Each body is a template holding SEQ where a per-request number goes (group key, fingerprints,
Event UID), so that no two requests are the same notification: alertbridge's de-duplication
would otherwise answer most of them without routing, rendering or committing anything.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEQ = "@@SEQ@@"
SEQ_DIGITS = 12
ALERT_COUNTS = (1, 20, 200)
PODS_PER_DEPLOYMENT = 7


@dataclass(frozen=True)
class Payload:
    """One kind of request: where it goes and its body template."""

    name: str  # "am-20", "ke-custom"
    path: str  # "/alertmanager", "/kube-eventer"
    template: bytes
    alerts: int

    def body(self, seq: int) -> bytes:
        return instantiate(self.template, seq)


def instantiate(template: bytes, seq: int) -> bytes:
    return template.replace(SEQ.encode(), f"{seq:0{SEQ_DIGITS}x}".encode())


def alertmanager_template(alerts: int) -> bytes:
    """A firing notification of `alerts` alerts: the fixture's two alerts, varied by pod."""
    fixture = json.loads((FIXTURES / "alertmanager" / "firing.json").read_text())
    models: list[dict[str, Any]] = fixture["alerts"]
    result = []
    for index in range(alerts):
        alert = copy.deepcopy(models[index % len(models)])
        pod = f"web-7c5ddbdf54-{index // PODS_PER_DEPLOYMENT:03d}{index % PODS_PER_DEPLOYMENT}"
        alert["labels"]["pod"] = pod
        alert["annotations"]["description"] = alert["annotations"]["description"].replace(
            "web-7c5ddbdf54-x2vq8", pod
        )
        alert["fingerprint"] = f"{SEQ}{index:04x}"
        result.append(alert)
    fixture["alerts"] = result
    fixture["groupKey"] = f'{{}}:{{namespace="shop", bench="{SEQ}"}}'
    return json.dumps(fixture, ensure_ascii=False).encode()


def kube_eventer_template() -> bytes:
    """kube-eventer's recommended custom body (deploy/kube-eventer) of one Warning event."""
    raw = (FIXTURES / "kube_eventer" / "custom-body.json").read_text()
    event = json.loads(raw)
    event["metadata"]["uid"] = f"3f6d2a9e-5b1c-4e8f-{SEQ}"
    event["involvedObject"]["name"] = f"web-{SEQ}"
    return json.dumps(event, ensure_ascii=False).encode()


def alertmanager_payload(alerts: int) -> Payload:
    return Payload(f"am-{alerts}", "/alertmanager", alertmanager_template(alerts), alerts)


def kube_eventer_payload() -> Payload:
    return Payload("ke-custom", "/kube-eventer", kube_eventer_template(), 1)


def all_payloads() -> list[Payload]:
    return [*(alertmanager_payload(n) for n in ALERT_COUNTS), kube_eventer_payload()]
