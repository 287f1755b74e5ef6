"""Links a phone can open: Alertmanager's filtered alert list and prefilled silence form, the
Prometheus graph on a reachable host, and annotation links (runbook, dashboard, logs ...).
Every URL goes through safe_url: only http(s) survives, `javascript:` and the like are dropped.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

from app.text import Trusted, clean_text, safe_url

# Labels that change while the problem stays the same: a silence matching them would miss the
# next occurrence, so silence links leave them out.
VOLATILE_LABELS = frozenset(
    {"prometheus_replica", "replica", "uid", "pod_ip", "container_id", "image_id", "id"}
)
# Annotation name → catalogue key of its button text; any other link annotation is "link".
LINK_NAMES = {
    "runbook_url": "runbook",
    "runbook": "runbook",
    "dashboard_url": "dashboard",
    "grafana_url": "dashboard",
    "dashboard": "dashboard",
    "logs_url": "logs",
    "logs": "logs",
    "panel_url": "panel",
}
MAX_MATCHERS = 12  # a silence filter longer than this would not fit a link on a card
# What quote(text, safe="") leaves as it is; every other ASCII character becomes %XX.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "_.-~")
_PERCENT_ASCII = str.maketrans(
    {chr(c): f"%{c:02X}" for c in range(128)} | {c: c for c in _UNRESERVED}
)


def alertmanager_base(configured: str, external_url: str) -> Trusted:
    """`server.alertmanager_url` when set (externalURL is often an in-cluster host)."""
    base = safe_url(configured) or safe_url(external_url)
    return Trusted(base.rstrip("/"))


def _quoted(text: str) -> str:
    """quote(text, safe=""): for ASCII text (label matchers almost always are) one C-level
    translate instead of urllib's Python call per byte; the links of every alert go through it."""
    return text.translate(_PERCENT_ASCII) if text.isascii() else quote(text, safe="")


def _matcher_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _matcher(name: str, value: str) -> str:
    return f'{name}="{_matcher_value(value)}"'


# The labels of an alert group (namespace, job, service ...) recur in the links of every alert:
# each matcher is cleaned and percent-encoded once. Both work character by character (a matcher
# ends in a quote, so no "\r\n" spans two), so the encoded filter is the encoded matchers
# joined. Bounded in count and length, so unique long values cannot grow memory.
QUOTED_MATCHER_ENTRIES = 4096
QUOTED_MATCHER_MAX_CHARS = 256


@lru_cache(maxsize=QUOTED_MATCHER_ENTRIES)
def _cached_quoted_matcher(name: str, value: str) -> str:
    return _quoted(clean_text(_matcher(name, value)))


def _quoted_matcher(name: str, value: str) -> str:
    if len(name) + len(value) > QUOTED_MATCHER_MAX_CHARS:
        return _quoted(clean_text(_matcher(name, value)))
    return _cached_quoted_matcher(name, value)


def _matcher_pairs(labels: Mapping[str, str], skip: Iterable[str]) -> list[tuple[str, str]]:
    """The labels a filter matches: sorted, without volatile or empty ones, at most 12."""
    left_out = VOLATILE_LABELS.union(skip)
    return sorted([(k, v) for k, v in labels.items() if k not in left_out and v])[:MAX_MATCHERS]


def matchers(labels: Mapping[str, str], skip: Iterable[str] = ()) -> str:
    """`{a="1",b="2"}`: Alertmanager's filter syntax, sorted, without volatile labels."""
    return "{" + ",".join([_matcher(k, v) for k, v in _matcher_pairs(labels, skip)]) + "}"


def quoted_matchers(labels: Mapping[str, str], skip: Iterable[str] = ()) -> str:
    """_quoted(clean_text(matchers(labels, skip))), from the cached encoded matchers."""
    pairs = _matcher_pairs(labels, skip)
    return "%7B" + "%2C".join([_quoted_matcher(k, v) for k, v in pairs]) + "%7D"


def silence_url(base: str, labels: Mapping[str, str], skip: Iterable[str] = ()) -> Trusted:
    """The prefilled silence form (`#/silences/new?filter=…`); "" without a base or labels."""
    if not base or not labels:
        return Trusted("")
    return safe_url(f"{base}/#/silences/new?filter={quoted_matchers(labels, skip)}")


def alerts_url(base: str, labels: Mapping[str, str], receiver: str = "") -> Trusted:
    """Alertmanager's alert list filtered to these labels (and receiver, when known)."""
    if not base:
        return Trusted("")
    query = []
    if labels:
        query.append("filter=" + quoted_matchers(labels))
    if receiver:
        query.append("receiver=" + _quoted(clean_text(receiver)))
    return safe_url(f"{base}/#/alerts" + ("?" + "&".join(query) if query else ""))


@lru_cache(maxsize=512)  # the alerts of one rule share their generatorURL
def prometheus_link(generator_url: str, prometheus_url: str) -> Trusted:
    """generatorURL with the scheme and host of `server.prometheus_url` when that is set."""
    if not prometheus_url or not generator_url:
        return safe_url(generator_url)
    target = urlsplit(prometheus_url)
    try:
        source = urlsplit(generator_url.strip())
    except ValueError:
        return Trusted("")
    if source.scheme.lower() not in ("http", "https"):
        return Trusted("")  # never turn a javascript: link into an https one
    path = target.path.rstrip("/") + source.path
    return safe_url(urlunsplit((target.scheme, target.netloc, path, source.query, source.fragment)))


def link_name(annotation: str) -> str:
    return LINK_NAMES.get(annotation, "link")
