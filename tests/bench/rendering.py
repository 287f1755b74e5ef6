"""Render: messages per second per platform and payload size, in process with Renderer
(the built-in cards, as `alertbridge serve` renders them on the request path). Counted both per
second of wall time and per second of this process's CPU time: the latter holds up on a machine
that other work shares.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from app.config.model import Receiver
from app.models import Notification
from app.platforms import PLATFORMS as REGISTRY
from app.rendering.renderer import Renderer
from app.sources.alertmanager import parse_alertmanager
from app.sources.kube_eventer import parse_kube_eventer
from tests.bench.payloads import Payload, all_payloads
from tests.bench.report import render_table

PLATFORMS = tuple(name for name, p in REGISTRY.items() if p.needs_webhook_url)
MAX_CALLS = 100_000


def notification_of(payload: Payload) -> Notification:
    parse = parse_alertmanager if payload.path == "/alertmanager" else parse_kube_eventer
    return parse(payload.body(1))


def render_rate(
    renderer: Renderer, receiver: Receiver, notification: Notification, seconds: float
) -> dict[str, Any]:
    renderer.render(receiver, notification)  # templates compiled, caches warm
    calls = messages = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while calls < MAX_CALLS and time.perf_counter() - wall < seconds:
        messages += len(renderer.render(receiver, notification))
        calls += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "renders": calls,
        "parts": messages // calls,
        "messages_per_s": messages / wall,
        "messages_per_cpu_s": messages / cpu if cpu else None,
        "renders_per_cpu_s": calls / cpu if cpu else None,
        "ms_per_render_cpu": cpu / calls * 1000,
    }


def render_bench(payloads: list[Payload], seconds: float) -> list[dict[str, Any]]:
    renderer = Renderer(timezone="UTC")
    results = []
    for payload in payloads:
        notification = notification_of(payload)
        for platform in PLATFORMS:
            receiver = Receiver(name="bench", platform=platform, webhook_url="https://bot.test/h")
            rate = render_rate(renderer, receiver, notification, seconds)
            results.append({"payload": payload.name, "platform": platform, **rate})
    return results


def main() -> None:
    """`python -m tests.bench.rendering [SECONDS]`: the render table alone, for profiling work."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
    results = render_bench(all_payloads(), seconds)
    print("\n".join(render_table({"render": results})))


if __name__ == "__main__":
    main()
