"""The sandboxed Jinja2 environment the cards render in: every {{ value }} is escaped for the
platform's dialect and for a JSON string; the output must parse as a message of the platform.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import BaseLoader
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from app.escaping import DIALECTS, Dialect, Trusted, json_string_body
from app.senders.base import Message

# The key every message of a platform has; a template output without it is a broken template.
TYPE_KEYS = {"feishu": "msg_type", "dingtalk": "msgtype", "wecom": "msgtype", "console": "text"}


class TemplateFailure(Exception):
    """A card rendered, but not into a usable message."""


def _finalize(dialect: Dialect) -> Callable[[Any], Markup]:
    """Jinja's hook on every {{ ... }}: dialect escaping, then JSON-string escaping.

    Markup is what Jinja makes of macro output, `tojson` and template literals: text that
    already went through here or was written by the template author, so it passes unchanged.
    (Joining Markup and a value with `~` makes Jinja HTML-escape the value only: that can
    break the JSON, and the card falls back, but it can never form a tag or a mention.)
    """

    def finalize(value: Any) -> Markup:
        if isinstance(value, Markup):
            return value
        text = "" if value is None else str(value)
        if not isinstance(value, Trusted):
            text = dialect.markdown(text)
        return Markup(json_string_body(text))

    return finalize


def _as_data(value: Any) -> str:
    """`safe`, `e` and friends: no way to print a value unescaped; it is data like any other."""
    return str(value)  # a plain str even for Markup or Trusted input


def card_environment(loader: BaseLoader, platform: str) -> SandboxedEnvironment:
    """A sandbox (templates cannot reach Python internals) whose output is always escaped."""
    dialect = DIALECTS[platform]
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=True,  # so that macro output is Markup and is not escaped twice
        finalize=_finalize(dialect),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once per process
    )
    env.filters["plain"] = lambda value: Trusted(dialect.plain(str(value)))
    for name in ("safe", "e", "escape", "forceescape"):
        env.filters[name] = _as_data
    for name in ("urlize", "xmlattr"):  # they emit raw HTML as Markup
        del env.filters[name]
    return env


def message_strings(value: Any) -> Iterator[str]:
    """Every string in a parsed message, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from message_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from message_strings(item)


def _no_constants(name: str) -> Any:
    # Python would accept NaN and Infinity and then post them: no platform parses those.
    raise TemplateFailure(f"rendered {name}, which is not JSON")


def render_message(env: SandboxedEnvironment, name: str, context: dict[str, Any]) -> Message:
    """Render template `name` and check the result is a message of the platform's shape."""
    text = env.get_template(name).render(context)
    try:
        message = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise TemplateFailure(f"rendered invalid JSON ({exc})") from None
    if not isinstance(message, dict):
        raise TemplateFailure(f"rendered a JSON {type(message).__name__}, not an object")
    if TYPE_KEYS[context["platform"]] not in message:
        raise TemplateFailure(f"rendered no {TYPE_KEYS[context['platform']]!r} key")
    keyword = context["keyword"]
    if keyword and not any(keyword in s for s in message_strings(message)):
        raise TemplateFailure("left out the receiver's keyword")
    return message
