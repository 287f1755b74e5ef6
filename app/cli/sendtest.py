"""`alertbridge send-test`: one sample card through a receiver's real sender, bypassing the
outbox, and the platform's answer (or the classified failure) as one line for the operator.
"""

from __future__ import annotations

import httpx

from app.config.model import Receiver, Server
from app.models import Message
from app.platforms import PLATFORMS
from app.platforms.sending import Answer, describe_answer, describe_failure
from app.rendering.renderer import Renderer
from app.rendering.samples import sample_alert_notification
from app.server.app import http_timeout

# The console shows the same lines; they live beside Answer and SendError.
__all__ = ["describe_answer", "describe_failure", "sample_message", "send_sample"]


def sample_message(receiver: Receiver, renderer: Renderer) -> Message:
    """The first message of the sample alert card: one send, as the worker would make it."""
    return renderer.render(receiver, sample_alert_notification())[0]


async def send_sample(receiver: Receiver, message: Message, server: Server) -> Answer | None:
    """Send once, no retry: the operator wants to see the first answer, failure included."""
    async with httpx.AsyncClient(timeout=http_timeout(server)) as client:
        sender = PLATFORMS[receiver.platform].sender(receiver.webhook_url, receiver.secret, client)
        return await sender.send(message)
