"""The two HMAC-SHA256 signature variants, as the platforms compute them on their side.

They are mirror images (reference/chat-platforms.md 4.1): Feishu keys the HMAC with
"timestamp\\nsecret" and signs an empty message; DingTalk keys it with the secret and signs
"timestamp\\nsecret". Each fake route checks its own variant only, so a client that mixes them up
fails in tests exactly as it would in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def feishu_sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(timestamp: str, secret: str) -> str:
    message = f"{timestamp}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison; a fake need not be, but it costs nothing to model it right."""
    return hmac.compare_digest(expected.encode(), given.encode())
