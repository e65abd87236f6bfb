"""The core's module-level imports form no circle, and the core never imports the node layer.

Imports are read from the source (``ast``), so this holds for every module, including ones no
test happens to import. Module-level means executed on import: top-level statements and those
inside top-level ``if``/``try`` blocks, except ``if TYPE_CHECKING:``. Imports inside functions
are deliberate late binding and are left out of the circle check, but not of the node-layer check.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "restorekit"
#: Top-level names the core must never import: the pack's node layer and ComfyUI itself.
FORBIDDEN = ("restorekit_nodes", "comfy", "comfy_api", "comfy_extras", "folder_paths", "server", "nodes", "execution")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in CORE.rglob("*.py")}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name a ``from ... import`` refers to, seen from ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level(statements: list[ast.stmt]):
    for stmt in statements:
        if isinstance(stmt, ast.If):
            if not _is_type_checking(stmt.test):
                yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)):
                yield from _top_level(block)
        else:
            yield stmt


def _targets(module: str, node: ast.stmt) -> list[str]:
    """The modules of the package that ``node`` imports."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        # ``from pkg import sub`` needs the submodule; ``from pkg import name`` needs pkg's __init__.
        base = _resolve(module, node)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    else:
        return []
    return [n for n in names if n in MODULES and n != module]


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {t for stmt in _top_level(tree.body) for t in _targets(name, stmt)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_core_has_no_import_circle():
    graph = _graph()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100  # the walk really read the package
    cycles = _cycles(graph)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} module-level imports, circles: {cycles or 'none'}")
    assert not cycles, f"import circles in restorekit: {cycles}"


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_never_imports_the_node_layer_or_comfyui():
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                heads = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                heads = [node.module.split(".")[0]]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                # Relative imports climbing out of the package (``from ..restorekit_nodes``) count too.
                heads = [_resolve(name, node).split(".")[0] or "<outside the package>"]
            else:
                continue
            offenders += [f"{name}:{node.lineno} imports {h}" for h in heads if h in FORBIDDEN or h.startswith("<")]
    assert not offenders, offenders
