"""The `alertbridge` command's entry point: SIGHUP is held before the slow imports begin."""

from __future__ import annotations

from app.ops.sighup import hold_sighup


def main() -> int:
    # Importing the CLI takes a second or more (pydantic, FastAPI, uvicorn): a SIGHUP in that
    # time would end the process before it had started.
    hold_sighup()
    from app.cli.main import main as run

    return run()
