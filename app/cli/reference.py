"""Reference documentation generated from the code, so it cannot drift from it: the config
keys (from the pydantic model: type, default, reloadable, and the comment beside each field),
the JSON Schema of the config for editors, and the metrics (from the registry).

README.md holds the two tables between marker comments; tests/test_docs.py fails when they
differ from what this module prints, and `python -m app.cli.reference README.md` rewrites them.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import sys
import tokenize
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from prometheus_client.metrics import MetricWrapperBase
from pydantic import BaseModel

from app.config import model
from app.config.model import RESTART_KEYS, Config
from app.ops.metrics import Metrics

MARKERS = {
    "config": ("<!-- config-reference:start -->", "<!-- config-reference:end -->"),
    "metrics": ("<!-- metrics-reference:start -->", "<!-- metrics-reference:end -->"),
}


def config_schema() -> dict[str, Any]:
    """The config's JSON Schema (keys as written in YAML, e.g. `continue`)."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    schema["title"] = "alertbridge configuration"
    # The comments beside the fields, as descriptions editors show on hover.
    classes = {"Config": schema, **schema.get("$defs", {})}
    for (cls, name), text in field_comments().items():
        holder = classes.get(cls, {}).get("properties", {})
        field = getattr(model, cls).model_fields.get(name)
        alias = (field.alias if field is not None else None) or name
        if alias in holder:
            holder[alias].setdefault("description", text)
    return schema


def field_comments() -> dict[tuple[str, str], str]:
    """(class, field) → the comment written beside the field in app/config/model.py, or the
    comment lines right above it: the model's comments are its documentation."""
    source = inspect.getsource(model)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            above: list[str] = []
            line = item.lineno - 1
            while line in comments and lines[line - 1].lstrip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            trailing = comments.get(item.end_lineno or item.lineno, "")
            text = " ".join([*above, trailing]).strip()
            if text:
                found[(node.name, item.target.id)] = text
    return found


def type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is Literal:
        return " \\| ".join(str(a) for a in get_args(annotation))
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return "map of string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def shown_default(info: Any) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(object)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(by_alias=True, mode="json") for item in value]
    if value is None:
        return "none"
    return "`" + json.dumps(value, default=str, ensure_ascii=False) + "`"


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a key holds (directly, optionally or as a list), whose keys come below it."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner: tuple[Any, ...] = get_args(candidate) if get_origin(candidate) is list else ()
        item = inner[0] if inner else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def config_rows(
    cls: type[BaseModel] = Config, prefix: str = ""
) -> Iterator[tuple[str, str, str, str, str]]:
    """(key, type, default, reload, meaning) of every key, depth first, in the model's order."""
    comments = field_comments()
    for name, info in cls.model_fields.items():
        key = prefix + (info.alias or name)
        annotation = info.annotation
        if (
            info.metadata
            and annotation is float
            and any(getattr(m, "func", None) is model.parse_duration for m in info.metadata)
        ):
            kind = "duration"
        else:
            kind = type_name(annotation)
        reload = "restart" if key in RESTART_KEYS else "reload"
        meaning = comments.get((cls.__name__, name), "")
        child = nested_model(annotation)
        if child is not None:
            # The class's own docstring (inspect.getdoc would fall back to BaseModel's).
            own = inspect.cleandoc(child.__dict__.get("__doc__") or "")
            meaning = meaning or own.split("\n\n")[0].replace("\n", " ")
        yield key, kind, shown_default(info), reload, meaning
        if child is not None:
            many = get_origin(annotation) is list
            yield from config_rows(child, f"{key}[]." if many else f"{key}.")


def escape(cell: str) -> str:
    return cell.replace("|", "\\|") if "\\|" not in cell else cell


def config_reference() -> str:
    lines = ["| key | type | default | on change | meaning |", "| --- | --- | --- | --- | --- |"]
    for key, kind, default, reload, meaning in config_rows():
        cells = [f"`{key}`", kind, default, reload, meaning]
        lines.append("| " + " | ".join(escape(c) for c in cells) + " |")
    return "\n".join(lines)


def metrics_reference() -> str:
    """One row per metric family alertbridge defines (process_* are the standard ones)."""
    lines = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    wrappers = [m for m in vars(Metrics()).values() if isinstance(m, MetricWrapperBase)]
    for wrapper in wrappers:
        for family in wrapper.describe():
            suffix = "_total" if family.type == "counter" else ""
            # prometheus_client describes a family without its label names (a family with no
            # children yet has no samples to show them): the wrapper keeps them.
            labels: tuple[str, ...] = getattr(wrapper, "_labelnames", ())
            cells = [
                f"`{family.name}{suffix}`",
                family.type,
                ", ".join(f"`{label}`" for label in labels) or "—",
                family.documentation,
            ]
            lines.append("| " + " | ".join(escape(c) for c in cells) + " |")
    return "\n".join(lines)


GENERATORS = {"config": config_reference, "metrics": metrics_reference}


def with_references(text: str) -> str:
    """`text` (README.md) with each marked block replaced by what the code says now."""
    for name, (start, end) in MARKERS.items():
        head, found, rest = text.partition(start)
        _, found_end, tail = rest.partition(end)
        if not (found and found_end):
            raise ValueError(f"the {name} reference markers are missing")
        text = f"{head}{start}\n{GENERATORS[name]()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(with_references(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
