"""kube-eventer's webhook bodies as its sink writes them: its default body (default_body), Go's
`%q` quoting (go_quote, the one copy in tests/) and a body template rendered the way the sink
does (Go text/template over a core/v1 Event), for the few action forms custom-body.tmpl uses;
any other action fails loudly."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)  # no {{- -}} trimming: it fails below
QUOTED = re.compile(r'printf "%q" (\.[\w.]+)')
FIELD = re.compile(r"(\.[\w.]+)")
TIME_FORMAT = re.compile(r'(\.[\w.]+)\.UTC\.Format "2006-01-02T15:04:05Z07:00"')
GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


# sinks/webhook/webhook.go defaultBodyTemplate, with Python format fields for its actions.
DEFAULT_BODY = (
    '\n{{\n\t"EventType": "{type}",\n\t"EventKind": "{kind}",\n\t"EventReason": "{reason}",'
    '\n\t"EventTime": "{time}",\n\t"EventMessage": "{message}"\n}}'
)


def default_body(message: str = "m", time: str = "2024-11-12 16:17:43 +0800 CST") -> bytes:
    """The default template's body for a Warning BackOff of a Pod, `message` pasted in raw (the
    sink deletes its `"` first: callers do that) and `time` as Go prints a time.Time."""
    body = DEFAULT_BODY.format(
        type="Warning", kind="Pod", reason="BackOff", time=time, message=message
    )
    return body.encode()


def render_body(template: str, event: dict[str, Any]) -> str:
    """What kube-eventer posts: it first deletes every `"` from the message (webhook.go)."""
    event = event | {"Message": event["Message"].replace('"', "")}
    return ACTION.sub(lambda action: evaluate(action.group(1), event), template)


def evaluate(action: str, event: dict[str, Any]) -> str:
    if quoted := QUOTED.fullmatch(action):
        return go_quote(str(lookup(event, quoted.group(1))))
    if timed := TIME_FORMAT.fullmatch(action):
        value: datetime = lookup(event, timed.group(1))
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # events are UTC; Z07:00 prints Z for UTC
    if field := FIELD.fullmatch(action):
        return str(lookup(event, field.group(1)))
    raise ValueError(f"template action this renderer does not know: {{{{ {action} }}}}")


def lookup(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for name in path.strip(".").split("."):
        value = value[name]
    return value


def go_quote(text: str) -> str:
    """Go's strconv.Quote, which printf "%q" uses (str.isprintable is close to Go's IsPrint)."""
    out = []
    for char in text:
        if char in GO_ESCAPES:
            out.append(GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x20 or char == "\x7f":  # Go: r < ' ' || r == 0x7f
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'
