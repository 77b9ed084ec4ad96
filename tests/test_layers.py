"""The package's layers, machine-checked: the pipeline's stages import only from earlier stages,
there is no import circle, the library never imports the service, and the service holds no SQL.

Imports are read from the source with :mod:`ast`, including those inside functions (an import
deferred to call time is still a dependency). ``docs/development.md`` ("Where things are") draws the tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "geoverify"

# Lowest first. A module may import modules of its own layer or of lower ones only.
LAYERS: list[tuple[str, ...]] = [
    (
        "geoverify.__init__",
        "geoverify.samples",
        "geoverify.errors",
        "geoverify.schema",
        "geoverify.rules",
        "geoverify.flags",
        "geoverify.io.times",
        "geoverify.settings",
    ),
    ("geoverify.io", "geoverify.geo"),
    ("geoverify.preprocessing",),
    ("geoverify.detectors",),
    ("geoverify.measures",),
    ("geoverify.patrol",),
    ("geoverify.engines", "geoverify.simulation", "geoverify.assessment"),
    ("geoverify.store",),
    ("geoverify.api",),
    ("geoverify.cli",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every geoverify module ``path`` imports (absolute or relative, at any depth)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from package import module` depends on the module, not the package
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    if module == "geoverify":  # the package's own __init__
        module = "geoverify.__init__"
    best, rank = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return rank


def test_every_module_belongs_to_a_layer():
    assert len(MODULES) > 80
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_or_lower_layers(module):
    upward = sorted(m for m in GRAPH[module] if layer_of(m) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports higher layers: {upward}"


def test_there_is_no_import_circle():
    # Tarjan's strongly connected components; any component of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in GRAPH[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    # A package's __init__ importing its own modules is not a circle of the design; none do today.
    assert circles == []


def test_the_library_never_imports_the_service_or_the_command_line():
    for module, imported in GRAPH.items():
        if module.startswith(("geoverify.api", "geoverify.cli")):
            continue
        wrong = sorted(m for m in imported if m.startswith(("geoverify.api", "geoverify.cli")))
        assert not wrong, f"{module} imports {wrong}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("geoverify.api")))
def test_the_service_holds_no_sql(module):
    tree = ast.parse(MODULES[module].read_text())
    names = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(n.startswith("sqlalchemy") for n in names), f"{module} imports SQLAlchemy"
    private = sorted(
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and not node.level
        and (node.module or "").startswith("geoverify.")
        and not node.module.startswith("geoverify.api")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    )
    assert not private, f"{module} imports private helpers of the library: {private}"
    sql = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(word in node.value.upper().split() for word in ("SELECT", "INSERT", "UPDATE", "DELETE"))
        and " FROM " in node.value.upper() + " "
    ]
    assert not sql, f"{module} holds SQL text: {sql[:1]}"
