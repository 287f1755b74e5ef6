"""Who may see and do what in the console: with `console:` credentials, HTTP basic auth on every
page and the actions allowed; without, read-only pages for loopback clients only (kubectl
port-forward). Every POST carries a CSRF token: an HMAC of the user under a per-process key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import Request

from app.config.model import Config

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
REALM = 'Basic realm="alertbridge console", charset="UTF-8"'
MAX_FORM_BYTES = 1024 * 1024


class Denied(Exception):
    """The request may not see or do this: its status, a sentence, and headers to send."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: `user` "" when nobody logged in (read-only loopback access)."""

    user: str
    can_act: bool
    csrf: str


@dataclass(frozen=True)
class ConsoleKeys:
    """Per-process key for CSRF tokens: a restart invalidates open forms, nothing else."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def mac(self, *parts: str) -> str:
        text = "\x00".join(parts).encode()
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_user(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:
        return None
    return (user, password) if sep else None


def viewer(request: Request, config: Config, keys: ConsoleKeys) -> Viewer:
    """The viewer of this request, or Denied: 401 (with WWW-Authenticate) without the right
    credentials when the console has some, 403 for a non-loopback client when it has none."""
    console = config.console
    if console is None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK_HOSTS:
            raise Denied(403, "the console without credentials answers loopback clients only")
        return Viewer("", False, keys.mac("csrf", ""))
    given = _basic_user(request)
    user, password = given if given is not None else ("", "")
    if not (_same(user, console.username) & _same(password, console.password)):
        raise Denied(401, "log in to see the console", {"WWW-Authenticate": REALM})
    return Viewer(user, True, keys.mac("csrf", user))


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Denied(413, "form too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def form(request: Request, expected_csrf: str) -> dict[str, str]:
    """read_form; Denied 403 unless its csrf field is this viewer's token."""
    fields = await read_form(request)
    if not _same(fields.get("csrf", ""), expected_csrf):
        raise Denied(403, "the form's CSRF token is missing or stale: reload the page")
    return fields


def require_action(who: Viewer) -> None:
    if not who.can_act:
        raise Denied(403, "read-only console: configure console credentials to act")
