"""Keeps webhook URLs, bot tokens, signing secrets and inbound credentials out of every output.

`Redactor.scrub` replaces each known secret (and the token parts of each webhook URL) with `***`;
`RedactingFilter` applies it to every log record, so a careless log line still leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from app.ops.logformat import structured_fields

MASK = "***"
# Shorter strings are too likely to occur by chance (and to mangle unrelated text when masked).
MIN_SECRET_CHARS = 4


def redact_url(url: str) -> str:
    """Scheme and host only: enough to tell bots apart, nothing that authenticates."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed URL (a port out of range): its text may hold a password
        return MASK
    if not parts.scheme or not parts.hostname:
        return MASK if url else ""
    return f"{parts.scheme}://{parts.hostname}{port}/{MASK}"


def url_secrets(url: str) -> list[str]:
    """The URL itself plus every path segment and query value that could be its token."""
    parts = urlsplit(url)
    pieces = [url, parts.path, parts.query]
    pieces += [segment for segment in parts.path.split("/") if segment]
    pieces += [value for _, value in parse_qsl(parts.query)]
    pieces += [unquote(p) for p in pieces]
    return pieces


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Add the secrets of a config load; URLs contribute their token parts. Those of an
        earlier load stay: after a reload, the old workers' last sends and errors still name
        them, and a secret once known is never worth printing."""
        found: set[str] = set(self.secrets)
        for secret in secrets:
            for piece in url_secrets(secret) if "://" in secret else [secret]:
                if len(piece) >= MIN_SECRET_CHARS and piece not in GENERIC_PATH_PARTS:
                    found.add(piece)
        # Longest first, so a URL is masked whole before its token would be masked inside it.
        self.secrets = sorted(found, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


# Path segments every bot URL shares; masking them would only garble log lines.
GENERIC_PATH_PARTS = frozenset(
    {
        "open-apis",
        "bot",
        "hook",
        "robot",
        "send",
        "cgi-bin",
        "webhook",
        "/robot/send",
        "/cgi-bin/webhook/send",
        "/open-apis/bot/v2/hook",
        "access_token",
        "http",
        "https",
    }
)


class RedactingFilter(logging.Filter):
    """Formats each record once and scrubs the result (message, args and exception text), and
    the text of its structured fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redactor.scrub(message)
        record.args = None
        # Structured fields reach the JSON log as they are: scrub their text too.
        for name, value in structured_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, self.redactor.scrub(value))
        return True
