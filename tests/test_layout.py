"""The shape of app/ (architecture.md §2 and §3), read from the files with `ast` and `tokenize`:
no import cycles, between modules or between app/'s top-level parts; dependencies point down
the layers; few top-level entries; no long module; one platform's name in few modules. And one
rule for tests/: a helper is defined once.

Every import counts, wherever it stands: at module level, inside a function, under
`if TYPE_CHECKING:`. `from app.x import y` is an edge to the module app.x.y when there is one,
else to app.x; importing app.x.y is not counted as importing its parent package app.x.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.paths import ROOT, TESTS

APP = ROOT / "app"

# architecture.md §2.2, ground up: a part may import parts of lower levels only. "__init__" is
# app/__init__.py (the version), "__main__" is app/__main__.py (`python -m app`).
LAYERS: list[set[str]] = [
    {"__init__", "models", "text"},
    {"ops"},
    {"platforms"},
    {"config"},
    {"sources", "outbox"},
    {"intake", "rendering"},
    {"delivery"},
    {"bridge"},
    {"server", "cli"},
    {"__main__"},
]
# Parts of one level that may import each other (importer, imported): the only exceptions.
SAME_LEVEL: set[tuple[str, str]] = {
    ("cli", "server"),  # `alertbridge serve` serves the app that server/ builds
}
MAX_TOP_LEVEL_ENTRIES = 16
MAX_MODULE_LINES = 400
PLATFORM_WORD = "dingtalk"
MAX_MODULES_NAMING_A_PLATFORM = 3
# Test helpers that must be defined once in tests/ (architecture.md §5).
ONE_DEFINITION = (
    "go_quote",  # Go's %q, for kube-eventer bodies
    "default_body",  # kube-eventer's default body
    "running_app",  # the in-process service
    "start_alertbridge",  # the process launcher
    "free_port",
    "webhook_url",
    "card_text",
)


# -- reading app/ ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    where: str  # path:line of the import statement

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.where})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of app/ by dotted name (a package by its name, for its __init__.py)."""
    paths = sorted(p for p in APP.rglob("*.py") if "__pycache__" not in p.parts)
    return {module_name(path): path for path in paths}


def package_of(name: str) -> str:
    """The package a module's relative imports start from."""
    return name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]


def imported_names(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    """The app modules one import statement names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        package = package_of(importer).split(".")
        anchor = ".".join(package[: len(package) - node.level + 1])
        base = f"{anchor}.{base}" if base else anchor
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules() else base


def known_module(name: str) -> str | None:
    """`name`, or the nearest enclosing module of app/ (`import app.x.y.z` of an attribute)."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def edges() -> tuple[Edge, ...]:
    found: dict[Edge, None] = {}  # ordered, each edge once
    for importer, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for name in imported_names(node, importer):
                ours = name == "app" or name.startswith("app.")
                target = known_module(name) if ours else None
                if target is not None and target != importer:
                    found[Edge(importer, target, where)] = None
    return tuple(found)


def part_of(module: str) -> str:
    """app/<part>/ or app/<part>.py; app/__init__.py is "__init__"."""
    return module.split(".")[1] if "." in module else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe_cycles(components: list[list[str]], node: Callable[[str], str]) -> str:
    """Each cycle and the imports inside it, every one of which lies on a cycle; `node` maps a
    module to the graph's node (the module itself, or its part)."""
    lines = []
    for component in components:
        members = set(component)
        lines.append(f"cycle through {', '.join(component)}:")
        for edge in edges():
            ends = (node(edge.importer), node(edge.imported))
            if ends[0] != ends[1] and set(ends) <= members:
                lines.append(f"  {edge}")
    return "\n".join(lines)


# -- app/ --------------------------------------------------------------------------------------


def test_app_modules_import_each_other_in_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for edge in edges():
        graph.setdefault(edge.importer, set()).add(edge.imported)

    found = cycles(graph)

    assert not found, "import cycles between modules of app/:\n" + describe_cycles(found, str)


def test_app_top_level_parts_import_each_other_in_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for edge in edges():
        importer, imported = part_of(edge.importer), part_of(edge.imported)
        if importer != imported:
            graph.setdefault(importer, set()).add(imported)

    found = cycles(graph)

    assert not found, "import cycles between parts of app/:\n" + describe_cycles(found, part_of)


def level_of(part: str) -> int:
    for level, parts in enumerate(LAYERS):
        if part in parts:
            return level
    raise AssertionError(f"app/{part} has no layer in tests/test_layout.py LAYERS: add it there")


def test_every_part_of_app_has_a_layer() -> None:
    parts = {part_of(module) for module in modules()}
    unknown = sorted(part for part in parts if not any(part in layer for layer in LAYERS))
    assert not unknown, f"parts of app/ with no layer in LAYERS: {unknown}"


def test_dependencies_point_down_the_layers() -> None:
    upward = []
    for edge in edges():
        importer, imported = part_of(edge.importer), part_of(edge.imported)
        if importer == imported or (importer, imported) in SAME_LEVEL:
            continue
        if level_of(imported) >= level_of(importer):
            how = "beside" if level_of(imported) == level_of(importer) else "above"
            upward.append(f"  {importer} imports {imported}, a part {how} it: {edge}")

    assert not upward, "imports against the layer order of architecture.md §2.2:\n" + "\n".join(
        upward
    )


def test_app_has_few_top_level_entries() -> None:
    entries = sorted(
        entry.name
        for entry in APP.iterdir()
        if entry.name != "__pycache__" and not entry.name.startswith(".")
    )
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, (
        f"app/ has {len(entries)} entries (at most {MAX_TOP_LEVEL_ENTRIES}): {entries}"
    )


def test_no_module_is_too_long() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def docstring_lines(tree: ast.Module) -> set[int]:
    """The first lines of every docstring (module, class, function)."""
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                starts.add(first.lineno)
    return starts


def names_in_code(path: Path, word: str) -> list[int]:
    """Lines where `word` (any case) is in a name or a string literal: not in a comment or a
    docstring."""
    text = path.read_text(encoding="utf-8")
    docstrings = docstring_lines(ast.parse(text, str(path)))
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.NAME, tokenize.STRING):
            continue
        if token.type == tokenize.STRING and token.start[0] in docstrings:
            continue
        if word in token.string.lower():
            found.add(token.start[0])
    return sorted(found)


def test_one_platform_is_named_in_few_modules() -> None:
    naming = {
        str(path.relative_to(ROOT)): lines
        for path in modules().values()
        if (lines := names_in_code(path, PLATFORM_WORD))
    }
    assert len(naming) <= MAX_MODULES_NAMING_A_PLATFORM, (
        f"{PLATFORM_WORD!r} is in the code of {len(naming)} modules "
        f"(at most {MAX_MODULES_NAMING_A_PLATFORM}), at lines: {naming}"
    )


# -- the readers themselves -------------------------------------------------------------------


def test_cycles_are_found_once_each_and_only_where_they_are() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"a"},
        "f": {"g"},
        "g": {"f"},
    }
    assert cycles(graph) == [["a", "b", "c"], ["f", "g"]]


def test_a_name_counts_in_names_and_strings_not_in_comments_or_docstrings(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text(
        '"""DingTalk in the docstring."""\n'
        "# dingtalk in a comment\n"
        'PLATFORM = "dingtalk"\n'
        "def send() -> None:\n"
        '    """dingtalk in a docstring."""\n'
        "    return DingtalkSender\n"
    )
    assert names_in_code(path, "dingtalk") == [3, 6]


# -- tests/ ------------------------------------------------------------------------------------


def definitions_in_tests(name: str) -> list[str]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_helpers_in_tests_are_defined_once() -> None:
    repeated = {
        name: where for name in ONE_DEFINITION if len(where := definitions_in_tests(name)) != 1
    }
    assert not repeated, f"helpers defined other than once in tests/: {repeated}"
