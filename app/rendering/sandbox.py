"""The sandboxed Jinja2 environment the cards render in: every {{ value }} is escaped for the
platform's dialect and for a JSON string; the output must parse as a message of the platform.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import fields
from functools import lru_cache
from types import BuiltinMethodType
from typing import Any

from jinja2 import BaseLoader
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.nodes import Expr
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from markupsafe import Markup

from app.platforms import PLATFORMS
from app.platforms.base import Dialect
from app.rendering.card import Card
from app.rendering.context import MentionView
from app.rendering.rollup import RollupRow
from app.rendering.views import AlertView
from app.text import Trusted, json_string_body


class TemplateFailure(Exception):
    """A card rendered, but not into a usable message."""


# Escaped text of short plain strings, per platform: label names and values, statuses and times
# recur across the alerts of a card, the probes of a split and the notifications of a group.
# Bounded in count and in length, so a storm of unique long texts cannot grow memory.
ESCAPE_CACHE_ENTRIES = 4096
ESCAPE_CACHE_MAX_CHARS = 256


def _finalize(dialect: Dialect) -> Callable[[Any], Markup]:
    """Jinja's hook on every {{ ... }}: dialect escaping, then JSON-string escaping.

    Markup is what Jinja makes of macro output, `tojson` and template literals: text that
    already went through here or was written by the template author, so it passes unchanged.
    (Joining Markup and a value with `~` makes Jinja HTML-escape the value only: that can
    break the JSON, and the card falls back, but it can never form a tag or a mention.)
    """

    def escaped(text: str) -> Markup:
        return Markup(json_string_body(dialect.markdown(text)))

    def trusted(text: str) -> Markup:
        return Markup(json_string_body(text))

    cached = lru_cache(maxsize=ESCAPE_CACHE_ENTRIES)(escaped)
    # A cache of its own: Trusted and Markup are str subclasses that compare equal to plain
    # text, so they must never share a cache entry with it.
    cached_trusted = lru_cache(maxsize=ESCAPE_CACHE_ENTRIES)(trusted)

    def finalize(value: Any) -> Markup:
        kind = type(value)
        if kind is str:
            return cached(value) if len(value) <= ESCAPE_CACHE_MAX_CHARS else escaped(value)
        if kind is Trusted:  # button texts (`|plain`), links: the same few on every card
            return cached_trusted(value) if len(value) <= ESCAPE_CACHE_MAX_CHARS else trusted(value)
        if isinstance(value, Markup):
            return value
        if type(value) is int:  # counts: the same few numbers, escaped as their text would be
            return cached(str(value))
        text = "" if value is None else str(value)
        if not isinstance(value, Trusted):
            text = dialect.markdown(text)
        return Markup(json_string_body(text))

    return finalize


# Filters for the lists every card prints (labels, objects, links): one Python join instead of
# a Jinja loop with its loop context and a template round trip per item. Each item is escaped
# by `finalize`, exactly as {{ item }} would be, so the bytes are those of the loop they replace.
Finalize = Callable[[Any], Markup]


def _list_filters(finalize: Finalize) -> dict[str, Callable[..., Markup]]:
    def pairs(items: Any) -> Markup:
        """`name=value · name=value`."""
        return Markup(" · ".join([f"{finalize(name)}={finalize(value)}" for name, value in items]))

    def joined(items: Any, separator: Any = "") -> Markup:
        """The items, escaped, between separators escaped too (a separator is data as well)."""
        # str.join: Markup.join would run markupsafe's escape over items finalize made.
        return Markup(str.join(finalize(separator), [finalize(item) for item in items]))

    def markdown_links(items: Any) -> Markup:
        """`[label](url) · [label](url)` of the (label, url) pairs that have a URL."""
        return Markup(
            " · ".join([f"[{finalize(label)}]({finalize(url)})" for label, url in items if url])
        )

    return {"pairs": pairs, "joined": joined, "markdown_links": markdown_links}


def _usable_links(items: Any) -> list[tuple[Any, Any, bool]]:
    """`links|usable_links`: (label, url, first) of the (label, url) pairs that have a URL,
    `first` true for the first of them. A loop over these needs no `loop` variable, whose loop
    context cost more than the three or four buttons of an alert it printed."""
    usable = [(label, url) for label, url in items if url]
    return [(label, url, i == 0) for i, (label, url) in enumerate(usable)]


def _plain_filter(dialect: Dialect) -> Callable[[Any], Trusted]:
    """`|plain`: the dialect's plain text, which finalize then only JSON-escapes."""

    def plain(text: str) -> Trusted:
        return Trusted(dialect.plain(text))

    cached = lru_cache(maxsize=ESCAPE_CACHE_ENTRIES)(plain)  # titles, button texts recur

    def plain_filter(value: Any) -> Trusted:
        if type(value) is str and len(value) <= ESCAPE_CACHE_MAX_CHARS:
            return cached(value)
        return plain(str(value))

    return plain_filter


def _as_data(value: Any) -> str:
    """`safe`, `e` and friends: no way to print a value unescaped; it is data like any other."""
    return str(value)  # a plain str even for Markup or Trusted input


# The renderer's own views: frozen dataclasses of plain data (str, int, lists, dicts, Trusted).
# Reading one of their fields reaches nothing a template must not see, so the sandbox need not
# inspect it; any other attribute, or any other object, gets the sandbox's full check.
_PLAIN_DATA: dict[type, frozenset[str]] = {
    kind: frozenset(f.name for f in fields(kind)) for kind in (AlertView, MentionView, RollupRow)
}
# The counters of a `{% for %}` loop: ints, bools and the loop's own items.
_PLAIN_DATA[LoopContext] = frozenset(
    ("index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0")
)


_FIELDS = re.compile(r"\{\{|\}\}|\{\w*\}")  # {{, }} and {name} / {0} / {}


@lru_cache(maxsize=256)  # the catalogue's few format strings
def _plain_fields(text: str) -> bool:
    """Whether every replacement field of format string `text` is a bare name or number."""
    rest = _FIELDS.sub("", text)
    return "{" not in rest and "}" not in rest


# What `obj.name` means on a dict when the dict has that attribute (`.items`, `.get`, ...).
_DICT_ATTRIBUTES = frozenset(dir(dict))


class CardSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, minus its per-access checks where they cannot matter: fields of the
    renderer's views, loop counters and macros of an imported template (a card makes hundreds
    of such accesses; the checks were most of a render's time).

    Immutable: the cards of one render call share their views (app/card_context.CardViews), so
    a template may read its variables but not change them (`.append`, `.update`, ...).
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A dict, not Jinja's ChainMap: each render (and each `import ... with context`) copies
        # a template's globals into its context, key by key in Python for a ChainMap, some
        # 20 us a card. The overlay order is kept; card_environment sets every global before
        # any template loads, so nothing a ChainMap would show later is missed.
        return dict(super().make_globals(d))

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        names = _PLAIN_DATA.get(kind)
        if names is not None and attribute in names:
            return getattr(obj, attribute)
        # `t.started`, `labels.pod`: Jinja tries the attribute first and, when a dict has
        # none of that name, returns the item; the failed attribute lookup raised an exception
        # each time. An item is what Jinja would return anyway, so the sandbox is not skipped.
        if kind is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        if kind is str and attribute == "format":  # `t.times_in.format(...)`: see call()
            return obj.format
        if type(obj) is TemplateModule:
            value = obj.__dict__.get(attribute)
            if type(value) is Macro:  # only public macros are exported: no "_" names
                return value
        return super().getattr(obj, attribute)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # `t.more_alerts.format(n=omitted)`: a format string whose fields are bare names or
        # numbers reads no attribute or item, which is all the sandbox's formatter guards.
        if type(obj) is BuiltinMethodType and obj.__name__ == "format":
            text = obj.__self__
            if type(text) is str and _plain_fields(text):
                kwargs.pop("_loop_vars", None)
                kwargs.pop("_block_vars", None)
                return obj(*args, **kwargs)
        if type(obj) is Macro:  # a template's own macro is always safe to call
            # What Context.call does for a macro (it takes the eval context first), without
            # working that out again on every call.
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            if not kwargs and not self.is_async and _plain_macro_call(obj, args):
                # What Macro.__call__ and _invoke come to for a call that passes every
                # argument by position (a card's usual call), without matching each one up.
                text = obj._func(*args)
                return Markup(text) if context.eval_ctx.autoescape else text
            return obj(context.eval_ctx, *args, **kwargs)
        return super().call(context, obj, *args, **kwargs)


def _plain_macro_call(macro: Macro, args: tuple[Any, ...]) -> bool:
    """A call giving each of the macro's arguments by position, and nothing else: no caller,
    no extra positional or keyword arguments. Jinja internals: should they change, this is
    False (the attributes are missing) and Macro.__call__ does the work."""
    count = getattr(macro, "_argument_count", None)
    return (
        count == len(args)
        and hasattr(macro, "_func")
        and not (macro.caller or macro.catch_kwargs or macro.catch_varargs)
    )


class _CardCodeGenerator(CodeGenerator):
    """Compiles `{{ x }}` to `finalize(x)` instead of `escape(finalize(x))`.

    Our finalize always returns Markup, which `escape` would only copy: skipping it changes no
    output. Volatile or switched-off autoescaping keeps Jinja's own code. These hooks are
    Jinja internals: should they change, Jinja's code runs instead, slower but still right.
    """

    def _direct(self, frame: Frame, finalize: Any) -> bool:
        ctx = frame.eval_ctx
        return not ctx.volatile and bool(ctx.autoescape) and finalize.src is not None

    def _output_child_pre(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if self._direct(frame, finalize):
            self.write(finalize.src)
        else:
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if self._direct(frame, finalize):
            self.write(")")
        else:
            super()._output_child_post(node, frame, finalize)


def card_environment(loader: BaseLoader, platform: str) -> SandboxedEnvironment:
    """A sandbox (templates cannot reach Python internals) whose output is always escaped."""
    dialect = PLATFORMS[platform].dialect
    finalize = _finalize(dialect)
    env = CardSandbox(
        loader=loader,
        autoescape=True,  # so that macro output is Markup and is not escaped twice
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once per process
    )
    env.code_generator_class = _CardCodeGenerator
    env.filters["plain"] = _plain_filter(dialect)
    env.filters.update(_list_filters(finalize))
    env.filters["usable_links"] = _usable_links
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


def holds_text(message: Any, text: str) -> bool:
    """Whether any string of a parsed message (keys included) contains `text`.

    Last part first: cards end with the footer that carries a bot's keyword, so the usual
    answer comes after a few strings, not after the whole card.
    """
    stack = [message]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if text in value:
                return True
        elif isinstance(value, dict):
            if any(text in key for key in value):
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _no_constants(name: str) -> Any:
    # Python would accept NaN and Infinity and then post them: no platform parses those.
    raise TemplateFailure(f"rendered {name}, which is not JSON")


class _Fraction(Exception):
    """A JSON number with a fraction or exponent, which may print longer than it reads."""


def _fraction(number: str) -> float:
    raise _Fraction


# json.loads(text, parse_constant=_no_constants) without a new decoder per card; the first
# one stops at a number with a fraction or exponent (cards print none: counts are integers).
_INTEGRAL_DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_fraction)
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def parse_json(text: str) -> tuple[Any, bool]:
    """The value of JSON `text`, and whether its numbers are all integers: then its compact
    encoding is no longer than the text (Sender.message_bytes_at_most)."""
    try:
        return _INTEGRAL_DECODER.decode(text), True
    except _Fraction:
        return _DECODER.decode(text), False


def render_message(env: SandboxedEnvironment, name: str, context: dict[str, Any]) -> Card:
    """Render template `name` and check the result is a message of the platform's shape."""
    text = env.get_template(name).render(context)
    try:
        message, integral = parse_json(text)
    except json.JSONDecodeError as exc:
        raise TemplateFailure(f"rendered invalid JSON ({exc})") from None
    if not isinstance(message, dict):
        raise TemplateFailure(f"rendered a JSON {type(message).__name__}, not an object")
    platform = PLATFORMS[context["platform"]]
    type_key = platform.type_key
    if type_key not in message:
        raise TemplateFailure(f"rendered no {type_key!r} key")
    keyword = context["keyword"]
    if keyword and not holds_text(message, keyword):
        raise TemplateFailure("left out the receiver's keyword")
    return Card(message, platform, platform.message_bytes_at_most(text) if integral else None)
