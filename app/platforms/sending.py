"""The sender contract: one class per platform that posts one message and *classifies* failures.

Senders never retry and never sleep: they raise SendError(retryable=..., retry_after=...) and the
delivery worker (app/delivery/worker.py) is the only place that retries. Nothing a sender raises
or logs may contain the webhook URL, its token or the signing secret. `classify` turns a
platform's business code into that decision, one table per platform (ErrorCodes).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from app.models import Message
from app.text import clip


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` messages in any `seconds`-long window."""

    count: int
    seconds: float


class SendError(Exception):
    """A failed delivery, classified: `retryable` says whether sending again later can succeed.

    `code` is the platform's error code (or "http_503", "timeout", ...) and is used as a metric
    label; `retry_after` is the platform's own wait hint in seconds, when it gives one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    """What the platform said to a message it took: its business code and text (e.g. "0", "ok").

    Failures never come back as an Answer: they are raised as SendError, classified."""

    code: str
    message: str


def describe_answer(answer: Answer | None) -> str:
    """The platform's answer as one line for an operator (send-test, the console)."""
    if answer is None:
        return "ok (no platform to answer: the card went to the log)"
    return f"ok (code {answer.code}: {answer.message})"


def describe_failure(error: SendError) -> str:
    # "permanent" tells the operator to fix the config (token, secret, keyword), "retryable"
    # that the service would have tried again later.
    kind = "retryable" if error.retryable else "permanent"
    return f"failed (code {error.code}, {kind}): {error.message}"


class Sender(ABC):
    """Posts one rendered message to one bot."""

    platform: ClassVar[str]
    # The largest message the platform accepts, measured by `message_bytes`.
    MAX_MESSAGE_BYTES: ClassVar[int]
    # The platform's documented per-bot limits; the delivery worker keeps under all of them.
    RATE_LIMITS: ClassVar[tuple[RateLimit, ...]]

    def __init__(
        self,
        webhook_url: str,
        secret: str | None,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self.client = client
        self.clock = clock

    @abstractmethod
    async def send(self, message: Message) -> Answer | None:
        """Deliver `message` and return the platform's answer (None where no platform answers,
        as for the console), or raise SendError."""

    @classmethod
    def message_bytes(cls, message: Message) -> int:
        """The size the platform's limit applies to (the whole JSON body unless overridden)."""
        return len(encode_json(message))

    @classmethod
    def message_bytes_at_most(cls, text: str) -> int | None:
        """An upper bound of `message_bytes` for the message that JSON `text`, whose numbers
        are all integers, decodes to, found without encoding that message again; None when no
        bound is cheap (a sender overriding `message_bytes` must override this too)."""
        # Compact re-encoding prints no such message longer than its text: whitespace, escapes
        # ("\u003c" -> "<", "\/" -> "/"), duplicate keys and "-0" only shrink; a control
        # character is escaped in the text already (JSON strings hold none raw) and prints no
        # longer; a lone surrogate counts 1 byte ("?") either way, as in encode_json. A number
        # with a fraction or exponent may grow ("1e5" -> "100000.0"): hence integers only.
        return len(text.encode(errors="replace"))


# What json.dumps(message, ensure_ascii=False, separators=(",", ":")) builds on every call.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(message: Message) -> bytes:
    """The exact bytes posted: compact UTF-8 JSON (the platforms count UTF-8 bytes)."""
    # "replace": a lone surrogate from a JSON \ud800 escape is not UTF-8 and must not crash us.
    return _COMPACT.encode(message).encode(errors="replace")


class HttpSender(Sender):
    """Does the HTTP for a platform; subclasses sign the request and read the platform's answer."""

    def signed_request(self, message: Message) -> tuple[str, Message]:
        """The URL and body to post; platforms that sign override this."""
        return self.webhook_url, message

    @abstractmethod
    def check_answer(self, body: dict[str, Any]) -> Answer:
        """Raise SendError when a parsed 2xx/4xx answer body reports a failure, else return it."""

    async def send(self, message: Message) -> Answer:
        url, body = self.signed_request(message)
        try:
            response = await self.client.post(
                url,
                content=encode_json(body),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.TimeoutException as exc:
            # Ambiguous: the bot may have received it. Delivery is at-least-once, so retry.
            raise SendError(
                f"timed out ({type(exc).__name__})", retryable=True, code="timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise SendError(
                f"network error ({type(exc).__name__})", retryable=True, code="network"
            ) from None
        return self.check_response(response)

    def check_response(self, response: httpx.Response) -> Answer:
        status = response.status_code
        if status == 429 or status >= 500:
            raise SendError(
                f"HTTP {status} from {self.platform}",
                retryable=True,
                code=f"http_{status}",
                retry_after=retry_after_header(response),
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A proxy or a platform hiccup answered something that is not the platform's JSON;
            # nothing says the message arrived, and a later attempt may well get through.
            raise bad_answer(self.platform, f"HTTP {status} with an unreadable body")
        try:
            answer = self.check_answer(body)
        except SendError as error:
            if error.code != BAD_ANSWER or 200 <= status < 300:
                raise
            answer = None  # A 4xx without the platform's code: the status says enough.
        if answer is None or not 200 <= status < 300:
            raise SendError(
                f"HTTP {status} from {self.platform}", retryable=False, code=f"http_{status}"
            )
        return answer


BAD_ANSWER = "bad_answer"


def bad_answer(platform: str, what: str) -> SendError:
    """An answer without the platform's business code: nothing says the message arrived (a proxy,
    a misrouted host or a hiccup said it), and a later attempt may well get through."""
    return SendError(f"{what} from {platform}", retryable=True, code=BAD_ANSWER)


def business_code(value: object) -> int | None:
    """The platform's business code when `value` is one (an integer, not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


ERROR_TEXT_CHARS = 200


def error_text(value: object) -> str:
    """A platform's error message, shortened for logs and /status."""
    return clip(str(value), ERROR_TEXT_CHARS)


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """How a platform's business codes classify (its section of chat-platforms.md): the codes
    that mean "slow down" and those that mean "try again", each with the wait before the next
    try. Any other non-success code is permanent: sending the same message again cannot help."""

    success: int
    rate_limited: frozenset[int]
    transient: frozenset[int] = frozenset()
    rate_limit_wait_seconds: float | None = None
    transient_wait_seconds: float | None = None
    # Some platforms say "too fast" in the text of an otherwise generic code.
    rate_limit_words: tuple[str, ...] = ()


def classify(platform: str, code: int | None, text: str, codes: ErrorCodes) -> Answer:
    """The platform's answer when `code` is its success code, else the SendError to raise.

    Only the success code means delivered: an answer without a code (None: `{}`, some other
    service's JSON) is a retryable "bad_answer"."""
    if code is None:
        raise bad_answer(platform, "an answer without a business code")
    if code == codes.success:
        return Answer(str(code), text)
    lowered = text.lower()
    rate_limited = code in codes.rate_limited or any(w in lowered for w in codes.rate_limit_words)
    transient = code in codes.transient
    wait = codes.rate_limit_wait_seconds if rate_limited else codes.transient_wait_seconds
    retryable = rate_limited or transient
    raise SendError(
        f"{platform} answered {code}: {text}",
        retryable=retryable,
        code=str(code),
        retry_after=wait if retryable else None,
    )
