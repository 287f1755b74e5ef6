"""A rendered card: its message, and its size as the platform's limit counts it, measured only
when a size is needed and not when the rendered JSON text already shows the card fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.models import Message
from app.platforms.base import Platform


# Not frozen: the size is filled in when first asked for.
@dataclass(slots=True)
class Card:
    message: Message
    platform: Platform
    # Sender.message_bytes_at_most of the text the message was parsed from; None if not known.
    at_most: int | None = None
    measured: int | None = None

    @property
    def size(self) -> int:
        """The size the platform's limit applies to (Platform.message_bytes), exact."""
        if self.measured is None:
            self.measured = self.platform.message_bytes(self.message)
        return self.measured

    def fits(self, limit: int) -> bool:
        """size <= limit; a card whose text is already no bigger is not serialized again."""
        return (self.at_most is not None and self.at_most <= limit) or self.size <= limit
