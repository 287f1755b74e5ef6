"""/metrics carries what every Prometheus exporter has (process_*) and which build runs."""

from __future__ import annotations

import platform

from app import __version__
from tests.support.app import running_app
from tests.support.builders import service_config


async def test_metrics_have_process_metrics_and_build_info() -> None:
    config = service_config({"name": "console", "platform": "console"})
    async with running_app(config) as client:
        text = (await client.get("/metrics")).text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= names
    python = platform.python_version()
    build = f'alertbridge_build_info{{python="{python}",version="{__version__}"}} 1.0'
    assert build in text.splitlines()
