"""Alertmanager's label matcher language: `name = value`, `!=`, `=~`, `!~`, as routes and
filters write them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# name, operator, value: `severity = critical`, `alertname=~"Watchdog|DeadMansSnitch"`.
MATCHER_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)


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


def parse_matcher(text: str) -> Matcher:
    match = MATCHER_PATTERN.match(text.strip().removeprefix("{").removesuffix("}"))
    if match is None:
        raise MatcherError(f"{text!r} is not a matcher like 'name = value' (=, !=, =~, !~)")
    name, op, raw = match.groups()
    value = unquote(raw)
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)  # Alertmanager anchors regexes: fullmatch below
        except re.error as exc:
            raise MatcherError(f"{text!r}: bad regular expression: {exc}") from None
    return Matcher(name, op, value, regex)


def unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return raw


def parse_matchers(texts: Sequence[str]) -> list[Matcher]:
    return [parse_matcher(t) for t in texts]


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
