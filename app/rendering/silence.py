"""Signed silence links (oncall-cards.md §4, option b): a card's button to
{public_url}{path_prefix}/ui/silence/<token>; the token carries the matchers, the receiver and an
expiry, signed with HMAC-SHA256 under server.link_secret. The console verifies it (read_token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.config.model import Server

# A card's link lasts this long unless server.silence_link_lifetime says otherwise.
DEFAULT_LIFETIME_SECONDS = 7 * 86400.0


class BadToken(Exception):
    """A token that was not signed with our key, was changed, or has expired."""


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    """What a signed link asks for: silence alerts with exactly these labels."""

    receiver: str
    matchers: dict[str, str]
    expires: int  # unix seconds; the link is refused after this


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest)


def sign_token(secret: str, request: SilenceRequest) -> str:
    """base64url(JSON of receiver, matchers, expiry) "." base64url(HMAC-SHA256 of that)."""
    body = {"r": request.receiver, "m": request.matchers, "e": request.expires}
    payload = _b64(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_token(secret: str, token: str, now: float) -> SilenceRequest:
    """The request a token carries; BadToken unless its signature holds and it has not expired."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise BadToken("this silence link is not valid (it was changed or not signed by us)")
    try:
        body = json.loads(_unb64(payload))
        request = SilenceRequest(str(body["r"]), dict(body["m"]), int(body["e"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadToken("this silence link is not valid") from None
    if not all(isinstance(v, str) for v in request.matchers.values()) or not request.matchers:
        raise BadToken("this silence link is not valid")
    if request.expires < now:
        raise BadToken("this silence link has expired")
    return request


@dataclass(frozen=True, slots=True)
class SilenceLinks:
    """Builds the links cards show; `of(server)` is None unless public_url and link_secret are
    both configured."""

    base: str  # public_url + path_prefix
    secret: str
    lifetime: float = DEFAULT_LIFETIME_SECONDS
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def of(cls, server: Server) -> SilenceLinks | None:
        if not server.public_url or not server.link_secret:
            return None
        base = server.public_url + server.path_prefix
        return cls(base, server.link_secret, server.silence_link_lifetime)

    def link(self, receiver: str, matchers: Mapping[str, str]) -> str:
        expires = int(self.clock() + self.lifetime)
        token = sign_token(self.secret, SilenceRequest(receiver, dict(matchers), expires))
        return f"{self.base}/ui/silence/{token}"
