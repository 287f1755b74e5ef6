"""Alertmanager's label matcher language: `name = value`, `!=`, `=~`, `!~`, as routes and
filters write them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# One matcher as Alertmanager's classic parser reads it (the one amtool 0.25 and the config use):
# a Prometheus label name (colons allowed), the operator, then the rest, spaces trimmed.
MATCHER_PATTERN = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.S)
# What Python's re accepts but Go's RE2 refuses: look-around, atomic groups, conditionals,
# backreferences and possessive quantifiers. Alertmanager would refuse the config, so do we.
RE2_REFUSES = re.compile(
    r"\(\?(?:=|!|<=|<!|>|\(|P=)"  # (?=  (?!  (?<=  (?<!  (?>  (?(  (?P=name)
    r"|(?<!\\)\\[1-9]"  # \1 .. \9
    r"|[*+?}]\+"  # x*+ x++ x?+ x{n}+
)


class MatcherError(ValueError):
    """A matcher string that does not follow Alertmanager's syntax."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")  # a missing label matches as the empty string
        if self.regex is not None:
            found = self.regex.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) == (self.op == "=")


def split_matchers(text: str) -> list[str]:
    """One config string, `{a="1", b=~"2"}` or `a=1,b=~2`, as its matchers' texts: commas split
    it outside double quotes (a backslash-escaped quote does not open or close one), and the
    optional braces and a trailing comma are dropped, as Alertmanager's ParseMatchers does."""
    body = text.removeprefix("{").removesuffix("}")
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in body:
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if char == '"' and not escaped:
            quoted = not quoted
        escaped = char == "\\" and not escaped
        current.append(char)
    last = "".join(current).strip()
    return [*parts, last] if last else parts


def parse_matcher(text: str) -> Matcher:
    match = MATCHER_PATTERN.match(text)
    if match is None:
        raise MatcherError(f"{text!r} is not a matcher like 'name = value' (=, !=, =~, !~)")
    name, op, raw = match.groups()
    value = unquote(raw, text)
    regex = None
    if op in ("=~", "!~"):
        if RE2_REFUSES.search(value):
            raise MatcherError(
                f"{text!r}: Alertmanager's regular expressions (RE2) have no "
                "look-around, backreferences, atomic groups or possessive repeats"
            )
        try:
            regex = re.compile(value)  # Alertmanager anchors regexes: fullmatch below
        except re.error as exc:
            raise MatcherError(f"{text!r}: bad regular expression: {exc}") from None
    return Matcher(name, op, value, regex)


def unquote(raw: str, text: str) -> str:
    """The value with OpenMetrics escapes read: \\" \\n \\\\; any other backslash is literal."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index < len(body) - 1:
            nxt = body[index + 1]
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
            index += 2
            continue
        if char == '"':
            if not quoted or index < len(body) - 1:
                raise MatcherError(f"{text!r}: the value has an unescaped double quote")
            quoted = False  # the closing quote
        else:
            out.append(char)
        index += 1
    if quoted:
        raise MatcherError(f"{text!r}: the value's double quote is not closed")
    return "".join(out)


def parse_matchers(texts: Sequence[str]) -> list[Matcher]:
    """Every matcher of a config list; one string may hold several (`{a="1",b="2"}`)."""
    return [parse_matcher(part) for text in texts for part in split_matchers(text)]


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    # A loop, not all() over a generator: it runs per alert and per route or filter, and the
    # generator's frames were a third of routing a 20-alert notification.
    for matcher in matchers:  # noqa: SIM110
        if not matcher.matches(labels):
            return False
    return True
