"""No two modules under images/ import each other, directly or round a loop.

A cycle works as long as nobody reorders imports, and tempts the next person to hide one end under
TYPE_CHECKING or to compare enums as strings; both happened in the backend (issue 18). So imports under
`if TYPE_CHECKING:` count here too. Imports inside a function do not: they run after every module has
loaded, and are how a package defers a heavy import on purpose.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[2] / "images"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(tree: ast.Module, package: str) -> Iterator[tuple[str, list[str]]]:
    """(module, imported names) for each import that runs when the module loads, TYPE_CHECKING included."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base, [alias.name for alias in node.names]
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of this tree it imports at load time."""
    files = {module_name(root, path): path for path in root.rglob("*.py") if "tests" not in path.parts}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for module, names in top_level_imports(ast.parse(path.read_text(), str(path)), package):
            # `from pkg import sub` imports the submodule; `from pkg import name` only the package.
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in files] or [module]
            edges.update(t for t in targets if t in files and t != name)
    return graph


def find_cycle(root: Path) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(import_graph(root)).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


@pytest.mark.parametrize("image", sorted(p.name for p in IMAGES.iterdir() if (p / "Dockerfile").exists()))
def test_no_import_cycle(image: str) -> None:
    assert (IMAGES / image).is_dir()
    cycle = find_cycle(IMAGES / image)
    assert cycle is None, f"images/{image} has an import cycle: {' -> '.join(cycle or [])}"


def test_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import B\nA = 1\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nB = 1\n"
    )
    (package / "c.py").write_text("def late():\n    from pkg import a\n")
    cycle = find_cycle(tmp_path)
    assert cycle is not None
    assert set(cycle) == {"pkg.a", "pkg.b"}


def test_relative_imports_and_deferred_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def make():\n    from pkg.a import A\n    return A\n")
    (package / "a.py").write_text("from . import b\nA = 1\n")
    (package / "b.py").write_text("import pkg.c\n")
    (package / "c.py").write_text("")
    assert import_graph(tmp_path) == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(tmp_path) is None
    (package / "c.py").write_text("from .a import A\n")
    assert find_cycle(tmp_path) is not None
