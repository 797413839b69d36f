"""The package's shape: no module imports one that imports it back (TYPE_CHECKING imports included)."""

from __future__ import annotations

import ast
import pathlib

import livecam_widget

PACKAGE = pathlib.Path(livecam_widget.__file__).parent


def imports_of(path: pathlib.Path) -> set[str]:
    """Package modules that ``path`` imports, wherever the import stands (functions, TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                names.add(node.module.split(".")[0])
            elif node.level == 1:
                names.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("livecam_widget."):
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("livecam_widget."):
                    names.add(alias.name.split(".")[1])
    return names


def graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    return {name: imports_of(path) & modules.keys() - {name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_package_modules() -> None:
    edges = graph()
    assert "_server" in edges and "_http" in edges["_server"]  # the graph is really read
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_the_http_listener_knows_no_server_and_pure_modules_no_io() -> None:
    edges = graph()
    assert "_server" not in edges["_http"]
    for pure in ("_viewer", "_slot", "_pacing", "_protocol", "_quality", "_status", "_stats", "_access"):
        text = (PACKAGE / f"{pure}.py").read_text(encoding="utf-8")
        io_imports = ("import asyncio", "import socket", "websockets", "import threading")
        for io in io_imports:
            assert io not in text or (pure == "_slot" and io == "import threading"), (pure, io)
