"""Console receiver of the embedded default: logs each rendered card instead of posting it."""

from __future__ import annotations

import json
import logging

from app.platforms.base import Message, Sender

log = logging.getLogger("alertbridge.console")


class ConsoleSender(Sender):
    platform = "console"
    MAX_MESSAGE_BYTES = 1_000_000
    RATE_LIMITS = ()

    async def send(self, message: Message) -> None:
        text = message.get("text")
        if isinstance(text, str):
            # The console card is a readable summary: print its lines, not an escaped JSON string.
            log.info("card:\n%s", text)
        else:
            log.info("card:\n%s", json.dumps(message, ensure_ascii=False, indent=2))
