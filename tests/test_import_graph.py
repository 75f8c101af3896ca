"""The package's import graph has no cycles, counting imports inside functions.

Imports under ``if TYPE_CHECKING:`` (annotations only) are not edges. A module's implicit
import of its parent packages is not an edge either; an explicit ``from pix2pix.pkg import x``
is an edge to ``pix2pix.pkg.x`` when that is a module, else to the package ``pix2pix.pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pix2pix

ROOT = Path(pix2pix.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str], package: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:
                    found.add(target)
                elif base in modules:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of pix2pix it imports}`` for every module of the package."""
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = _imports(ast.parse(path.read_text()), modules, package)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_a_cycle_hidden_in_a_function():
    tree_a = ast.parse("def f():\n    from pix2pix.b import x\n")
    tree_b = ast.parse("import pix2pix.a\n")
    modules = {"pix2pix.a", "pix2pix.b"}
    graph = {
        "pix2pix.a": _imports(tree_a, modules, "pix2pix"),
        "pix2pix.b": _imports(tree_b, modules, "pix2pix"),
    }
    assert find_cycle(graph) == ["pix2pix.a", "pix2pix.b", "pix2pix.a"]


def test_annotation_only_imports_are_not_edges():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pix2pix.b\n")
    assert _imports(tree, {"pix2pix.a", "pix2pix.b"}, "pix2pix") == set()


def test_low_layers_do_not_import_high_ones():
    graph = import_graph()
    leaves = ("pix2pix.constants", "pix2pix._checks", "pix2pix._files", "pix2pix._extras")
    for leaf in (*leaves, "pix2pix.models.card"):
        assert graph[leaf] == set(), (leaf, graph[leaf])
    # the Hub layer sits under the models: it may render a card, never build a model
    allowed = {"pix2pix.version", "pix2pix.models.card", "pix2pix.constants", "pix2pix._extras"}
    assert graph["pix2pix.hub"] <= allowed
    assert not any(m.startswith("pix2pix.trainer") for m in graph["pix2pix.evaluation.fid"])
    assert not any(m.startswith("pix2pix.trainer") for m in graph["pix2pix.evaluation.gallery"])
