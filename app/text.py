"""Untrusted-text primitives every stage shares: cleaning, clipping, one-line names, JSON string
bodies, safe link URLs and human durations. Each platform's markdown dialect builds on these
(app/platforms/); `Trusted` text (built by the renderer from validated parts) skips the dialect.
"""

from __future__ import annotations

import re
from functools import lru_cache
from json.encoder import encode_basestring
from urllib.parse import quote, urlsplit


class Trusted(str):
    """Text the renderer built from validated parts (mention tags, checked URLs, the keyword).

    Printed with JSON-string escaping only. Any str operation on it (`~`, filters) returns a
    plain str, which is escaped in full again: trust does not spread to what it touches.
    """

    __slots__ = ()


# Lone surrogates (a JSON "\ud800" decodes to one) cannot be encoded as UTF-8; bidi overrides
# can make a card read differently from what it says; zero-width characters (U+200B-U+200D, the
# word joiner U+2060, the BOM U+FEFF) and direction marks (U+200E, U+200F, U+061C) make equal-
# looking texts differ and hide words; other C0/C1 controls only garble the text.
_SURROGATES = re.compile("[\ud800-\udfff]")
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\x85]")


def clean_text(value: str) -> str:
    """`value` with one kind of newline, tabs as spaces, and nothing unencodable or invisible."""
    # Everything the patterns match is a control (Cc), format (Cf: the zero-width characters,
    # direction marks and BOM included), surrogate or line/paragraph separator character, none
    # of which isprintable() allows: most values need no regex pass at all.
    return value if value.isprintable() else _cleaned(value)


def _cleaned(value: str) -> str:
    value = _SURROGATES.sub("\ufffd", value)
    value = _LINE_BREAKS.sub("\n", value)
    return _INVISIBLE.sub("", value.replace("\t", " "))


def has_surrogate(value: str) -> bool:
    """True when `value` holds a lone UTF-16 surrogate (what a JSON "\\ud800" escape decodes to):
    it cannot be encoded as UTF-8, so it cannot be stored or sent as it is."""
    return _SURROGATES.search(value) is not None


def mend_surrogates(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD, the replacement character."""
    return _SURROGATES.sub("\ufffd", value) if has_surrogate(value) else value


def json_string_body(value: str) -> str:
    """`value` as the inside of a JSON string literal (no surrounding quotes)."""
    # What json.dumps(value, ensure_ascii=False) does for a str, without its per-call set-up.
    return encode_basestring(clean_text(value))[1:-1]


# Everything RFC 3986 allows unencoded except "(" and ")", which would end a markdown link.
_URL_SAFE = "%:/?#[]@!$&'*+,;=~"


# The same few generator and runbook URLs recur in every alert of a rule: made safe once.
SAFE_URL_CACHE_ENTRIES = 512
SAFE_URL_CACHE_MAX_CHARS = 2048


def safe_url(url: str) -> Trusted:
    """`url` made safe for a markdown link or a button, or "" unless it is http(s)."""
    return _cached_safe_url(url) if len(url) <= SAFE_URL_CACHE_MAX_CHARS else _safe_url(url)


def _safe_url(url: str) -> Trusted:
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return Trusted("")
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return Trusted("")
    return Trusted(quote(clean_text(url), safe=_URL_SAFE))


_cached_safe_url = lru_cache(maxsize=SAFE_URL_CACHE_ENTRIES)(_safe_url)


ELLIPSIS = "…"


def clip(value: str, limit: int | None) -> str:
    """`value` cut to `limit` characters, the last one an ellipsis; None: no limit."""
    if limit is None or len(value) <= limit:
        return value
    return value[: max(limit - 1, 0)] + ELLIPSIS


def one_line(value: str) -> str:
    """Names and titles are one line, whatever a label value holds."""
    # Every line boundary splitlines() knows is a non-printable character.
    return value if value.isprintable() else " ".join(value.splitlines())


def human_duration(seconds: float) -> str:
    """Two units at most: "45s", "12m", "1h 3m", "2d 5h"."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    for big, big_unit, small, small_unit in (
        (days, "d", hours, "h"),
        (hours, "h", minutes, "m"),
        (minutes, "m", 0, ""),
    ):
        if big:
            return f"{big}{big_unit}" + (f" {small}{small_unit}" if small else "")
    return f"{secs}s"
