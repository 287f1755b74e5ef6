"""The floor: a bare ASGI endpoint that reads the body, parses it as JSON and answers 200, served
the way `alertbridge serve` serves (app/cli.py: same uvicorn.run settings, same gc.freeze, same
log level handling). Whatever alertbridge does beyond that is what the ratio to the floor costs.

    python -m tests.bench.floor --host 127.0.0.1 --port 8081 [--log-level warning]
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from app.cli.main import run_server

ACCEPTED = b'{"status":"accepted"}'
# app/config.py Delivery.shutdown_grace, which app/cli.py passes as timeout_graceful_shutdown.
GRACEFUL_SHUTDOWN_SECONDS = 10

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    body = bytearray()
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status = 200
    if scope["method"] == "POST":
        try:
            json.loads(body)
        except ValueError:
            status = 400
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ACCEPTED))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": ACCEPTED})


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    run_server(app, args.host, args.port, GRACEFUL_SHUTDOWN_SECONDS)


if __name__ == "__main__":
    main()
