"""The packages' imports go one way (``docs/architecture.md``): no package cycles, and each
layer imports only the layers below it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "models", "feeds", "app", "outbound", "tables", "sinks", "ingest",
            "agents", "web", "cli")
#: The composition root: wires every layer (``app.main``); nothing imports it.
ROOT_MODULES = frozenset({"app.main"})
#: What each package may import, besides itself and third-party code.
ALLOWED = {
    "config": set(),
    "models": set(),
    "feeds": {"models"},
    "app": {"config", "models"},
    "outbound": {"config", "models", "app"},
    "tables": {"config", "models", "app", "outbound"},
    "sinks": {"config", "models", "app"},
    "ingest": {"config", "models", "app"},
    "agents": {"config", "models", "feeds", "app", "outbound", "tables", "sinks"},
    "web": {"config", "models", "app", "tables", "agents"},
    "cli": set(PACKAGES) - {"cli"},
}


def imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules that import it."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if module in ROOT_MODULES:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES and top != package:
                        found[package][top].add(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of the package graph, each once, as the packages along it."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for target in sorted(graph.get(path[-1], ())):
            if target == path[0]:
                found.append([*path, target])
            elif target not in path and target > path[0]:
                walk([*path, target])

    for start in sorted(graph):
        walk([start])
    return found


def test_the_package_graph_has_no_cycle() -> None:
    graph = {package: set(targets) for package, targets in imports().items()}
    assert cycles(graph) == []


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = {f"{package} -> {target}": sorted(modules)
             for package, targets in imports().items()
             for target, modules in targets.items() if target not in ALLOWED[package]}
    assert wrong == {}


def test_nothing_imports_the_composition_root() -> None:
    for path in (ROOT / p for p in PACKAGES):
        for source in path.rglob("*.py"):
            text = source.read_text()
            assert "import app.main" not in text and "from app.main" not in text, source
            assert "from app import main" not in text, source


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
