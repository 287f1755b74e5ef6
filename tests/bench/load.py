"""Open-loop load generator in a process of its own, so that its CPU and the fake bots' never
share an interpreter lock with what they measure: POSTs body i at start + i / rate, whatever the
answers before it did (no coordinated omission), and writes latencies and statuses as JSON.

    python -m tests.bench.load URL RATE BODIES_JSON OUT_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx


async def open_loop(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], list[int]]:
    latencies = [0.0] * len(bodies)
    statuses = [0] * len(bodies)
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close them
    # under us (a request on a connection the server is closing fails with ReadError).
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=4.0)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:

        async def one(index: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            started = time.monotonic()
            try:
                response = await client.post(url, content=bodies[index])
                statuses[index] = response.status_code
            except httpx.HTTPError:
                statuses[index] = -1
            latencies[index] = time.monotonic() - started

        start = time.monotonic() + 0.5
        await asyncio.gather(*(one(i, start + i / rate) for i in range(len(bodies))))
    return latencies, statuses


def main() -> None:
    url, rate, bodies_path, out_path = sys.argv[1:5]
    bodies = [body.encode() for body in json.loads(Path(bodies_path).read_text())]
    latencies, statuses = asyncio.run(open_loop(url, bodies, float(rate)))
    Path(out_path).write_text(json.dumps({"latencies": latencies, "statuses": statuses}))


if __name__ == "__main__":
    main()
