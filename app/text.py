"""Escaping for card templates: each platform's markdown dialect, JSON strings, and link URLs.

Every value a card prints is cleaned, escaped for the dialect and then for a JSON string;
`Trusted` text (built by the renderer from validated parts) skips the dialect step only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
# can make a card read differently from what it says; other C0/C1 controls only garble the text.
_SURROGATES = re.compile("[\ud800-\udfff]")
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\x85]")


def clean_text(value: str) -> str:
    """`value` with one kind of newline, tabs as spaces, and nothing unencodable or invisible."""
    # Everything the patterns match is a control, format, surrogate or line/paragraph separator
    # character, none of which isprintable() allows: most values need no regex pass at all.
    return value if value.isprintable() else _cleaned(value)


def _cleaned(value: str) -> str:
    value = _SURROGATES.sub("\ufffd", value)
    value = _LINE_BREAKS.sub("\n", value)
    return _INVISIBLE.sub("", value.replace("\t", " "))


def json_string_body(value: str) -> str:
    """`value` as the inside of a JSON string literal (no surrounding quotes)."""
    # What json.dumps(value, ensure_ascii=False) does for a str, without its per-call set-up.
    return encode_basestring(clean_text(value))[1:-1]


# Fullwidth look-alikes: no chat client parses them as tags or mentions, whatever it does with
# HTML entities, and a reader still sees the character that was meant.
_INERT_ANGLES = {"<": "\uff1c", ">": "\uff1e"}
# "@" becomes the fullwidth at sign U+FF20 rather than "@" + a zero-width space: it stays
# visible, so nobody wonders why "@all" did not ping, and copying the text carries no hidden
# characters; a zero-width character is also what some clients strip before matching mentions.
_INERT_AT = {"@": "\uff20"}


def _backslashed(chars: str) -> dict[str, str]:
    return {c: "\\" + c for c in chars}


# Feishu lark_md parses <font>, <at>, <link> and HTML entities (chat-platforms.md 1.5): encode
# the three entity characters, then backslash-escape what marks up inline text. "(" and ")"
# only make a link after an unescaped "]", "|" tables are 2.0-only, and "#" only counts at the
# start of a line (below): escaping them everywhere would only litter the text with backslashes.
_FEISHU = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **_backslashed("\\*_~[]`")})
# DingTalk (2.5) and WeCom (3.5) document no escaping at all and entity decoding is unverified,
# so "<" ">" become inert look-alikes (no <font>, no <@userid>), "@" cannot ping, and the
# inline markup characters are backslash-escaped (neither dialect has "~~" or tables).
_INERT_MARKDOWN = str.maketrans({**_INERT_ANGLES, **_INERT_AT, **_backslashed("\\*_[]`")})
# A value that starts a line must not start a heading, list or setext underline either.
_LINE_START = re.compile(r"^([ ]*)([-+=#]|\d+(?=\.\s))", re.MULTILINE)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    # "1." becomes "1\." (not a list item); "-", "+", "=" and "#" get the backslash in front.
    return f"{indent}{marker}\\" if marker[0].isdigit() else f"{indent}\\{marker}"


def _line_starts(value: str) -> str:
    return _LINE_START.sub(_escape_line_start, value)


def feishu_markdown(value: str) -> str:
    return _line_starts(clean_text(value).translate(_FEISHU))


def dingtalk_markdown(value: str) -> str:
    # A single "\n" does not break a DingTalk line (2.5); two trailing spaces before it do.
    return _line_starts(clean_text(value).translate(_INERT_MARKDOWN)).replace("\n", "  \n")


def wecom_markdown(value: str) -> str:
    return _line_starts(clean_text(value).translate(_INERT_MARKDOWN))


def console_text(value: str) -> str:
    return clean_text(value)


def _plain(extra: dict[str, str]) -> Callable[[str], str]:
    table = str.maketrans({"\n": " ", **_INERT_ANGLES, **extra})

    def plain(value: str) -> str:
        return clean_text(value).translate(table)

    return plain


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a platform's cards escape untrusted text."""

    markdown: Callable[[str], str]  # the default for every {{ value }}
    plain: Callable[[str], str]  # the `plain` filter: titles and other non-markdown fields


DIALECTS: dict[str, Dialect] = {
    "feishu": Dialect(feishu_markdown, _plain({})),
    "dingtalk": Dialect(dingtalk_markdown, _plain(_INERT_AT)),
    "wecom": Dialect(wecom_markdown, _plain(_INERT_AT)),
    "console": Dialect(console_text, lambda value: clean_text(value).replace("\n", " ")),
}

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
