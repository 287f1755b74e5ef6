"""Console receiver of the embedded default: logs each rendered card instead of posting it."""

from __future__ import annotations

import json
import logging

from app.models import MentionSet, Message
from app.platforms.base import Dialect, Platform
from app.platforms.sending import Sender
from app.text import Trusted, clean_text

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


def mention_markup(mentions: MentionSet) -> Trusted:
    everyone = ["@all"] * mentions.all
    return Trusted(" ".join(everyone + [f"@{m}" for m in mentions.users + mentions.mobiles]))


def text_message(text: str, mentions: MentionSet) -> Message:
    return {"title": text.split("\n", 1)[0], "text": text}


CONSOLE = Platform(
    name="console",
    sender=ConsoleSender,
    dialect=Dialect(clean_text, lambda value: clean_text(value).replace("\n", " ")),
    type_key="text",
    mention_markup=mention_markup,
    text_message=text_message,
    needs_webhook_url=False,
)
