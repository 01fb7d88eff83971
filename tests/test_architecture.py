"""The shape of the package: imports flow one way, modules stay small, pytest stays in the plugin.

The import graph is read from the source (every import, also those inside functions, except
under ``if TYPE_CHECKING:``), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_tmuxorch

PACKAGE = Path(pytest_tmuxorch.__file__).parent
MAX_LINES = 400
PYTEST_MODULES = {"pytest_tmuxorch.plugin", "pytest_tmuxorch.fixtures", "pytest_tmuxorch.snapshot"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The modules ``path`` imports at run time (absolute names)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # "from . import x": a module
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    return {name: {other for other in imports(path) if other in MODULES and other != name}
            for name, path in MODULES.items()}


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ importing its own modules lazily for its public names is not a layer.
    for name in edges:
        if MODULES[name].name == "__init__.py":
            edges[name] = set()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES}): split it by concept"


def test_only_the_plugin_imports_pytest() -> None:
    importers = {name for name, path in MODULES.items() if {"pytest", "_pytest"} & {m.split(".")[0] for m in imports(path)}}
    assert importers <= PYTEST_MODULES


def test_public_api_is_listed() -> None:
    assert sorted(pytest_tmuxorch.__all__) == sorted(pytest_tmuxorch._WHERE)
    for name in pytest_tmuxorch.__all__:
        assert getattr(pytest_tmuxorch, name).__name__ == name
        assert name in dir(pytest_tmuxorch)


def test_the_wheel_carries_every_file_the_package_reads(tmp_path: Path) -> None:
    """Built as pip builds it: a module or data file missing from the wheel works in the
    editable checkout and breaks for every user."""
    import subprocess
    import sys
    import zipfile

    root = PACKAGE.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(root)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(path.relative_to(root)) for path in PACKAGE.rglob("*")
              if path.is_file() and "__pycache__" not in path.parts}
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
