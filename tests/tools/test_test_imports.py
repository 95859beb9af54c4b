"""Every test finds code one way, pytest's `pythonpath` (pyproject.toml), and calls the repo root REPO_ROOT.

Before, tests found their code five ways (sys.path edits in conftests, importlib file loaders, imports
from conftest, ...) and the repository root had three names. This reads every test module under tests/
and images/*/tests/ and fails on a new `sys.path` edit, a module loaded from a file path, an import from
a conftest (fixtures stay in conftest.py, helpers go into a `<folder>_helpers.py` on pythonpath), and a
repository root under another name than REPO_ROOT.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Names a test module might give the repository root instead of REPO_ROOT.
OTHER_ROOT_NAMES = {"REPO", "ROOT", "REPO_DIR", "ROOT_DIR", "REPOSITORY", "REPO_PATH", "TOP", "TOPLEVEL"}
# Loaders that run a module from a file path, around pytest's pythonpath.
FILE_LOADERS = {"spec_from_file_location", "SourceFileLoader", "run_path", "load_source"}
# Exceptions: none left. An entry that no longer holds fails too, so this list only shrinks.
KNOWN: set[tuple[str, str]] = set()


def modules_under_test() -> list[Path]:
    roots = [REPO_ROOT / "tests", *sorted((REPO_ROOT / "images").glob("*/tests"))]
    return sorted(path for root in roots for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def root_expression(node: ast.expr, path: Path) -> bool:
    """Whether `node` is Path(__file__)[.resolve()] followed by .parent/.parents[n] up to the repo root."""
    levels = 0
    while True:
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            levels, node = levels + 1, node.value
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
        ):
            levels, node = levels + node.slice.value + 1, node.value.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "resolve"
        ):
            node = node.func.value
        else:
            break
    from_file = isinstance(node, ast.Call) and any(
        isinstance(arg, ast.Name) and arg.id == "__file__" for arg in node.args
    )
    return from_file and levels > 0 and path.parents[levels - 1] == REPO_ROOT


def problems(source: str, path: Path) -> set[str]:
    """What breaks the rules in `source`, a test module at `path` (its depth decides what is the root)."""
    tree = ast.parse(source, filename=str(path))
    found = set()
    for node in ast.walk(tree):
        sys_path = (
            isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
        )
        if sys_path and node.value.id == "sys":
            found.add("edits sys.path")
        if (isinstance(node, ast.Name) and node.id in FILE_LOADERS) or (
            isinstance(node, ast.Attribute) and node.attr in FILE_LOADERS
        ):
            found.add("loads a module from a file path")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest":
            found.add("imports from conftest")
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[-1] == "conftest" for alias in node.names
        ):
            found.add("imports from conftest")
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) in OTHER_ROOT_NAMES:
                    found.add(f"names the repository root {alias.asname or alias.name}, not REPO_ROOT")
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if target.id in OTHER_ROOT_NAMES or (
                    node.value is not None and root_expression(node.value, path) and target.id != "REPO_ROOT"
                ):
                    found.add(f"names the repository root {target.id}, not REPO_ROOT")
    return found


def test_every_test_module_imports_code_through_pythonpath_and_names_the_root_repo_root() -> None:
    found = {
        (str(path.relative_to(REPO_ROOT)), problem)
        for path in modules_under_test()
        for problem in problems(path.read_text(), path)
    }
    new = sorted(found - KNOWN)
    assert not new, (
        "put the folder on `pythonpath` in pyproject.toml and import by name; keep fixtures in conftest.py "
        f"and helpers in <folder>_helpers.py; call the repository root REPO_ROOT: {new}"
    )
    fixed = sorted(KNOWN - found)
    assert not fixed, f"fixed, so delete these from KNOWN in {Path(__file__).name}: {fixed}"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import sys\nsys.path.insert(0, 'tools')\n", "edits sys.path"),
        ("import sys\nsys.path += ['tools']\n", "edits sys.path"),
        ("from .conftest import git\n", "imports from conftest"),
        ("from conftest import git\n", "imports from conftest"),
        (
            "import importlib.util\nspec = importlib.util.spec_from_file_location('x', 'x.py')\n",
            "loads a module from a file path",
        ),
        ("import runpy\nrunpy.run_path('x.py')\n", "loads a module from a file path"),
        (
            "from pathlib import Path\nREPO = Path(__file__).resolve().parents[2]\n",
            "names the repository root REPO",
        ),
        (
            "from pathlib import Path\nTOP = Path(__file__).parent.parent.parent\n",
            "names the repository root TOP",
        ),
        (
            "from pathlib import Path\nBASE = Path(__file__).resolve().parents[2]\n",
            "names the repository root BASE",
        ),
        ("from tools.pins import REPO\n", "names the repository root REPO"),
    ],
)
def test_each_rule_catches_its_example(source: str, problem: str) -> None:
    # As if it were tests/tools/example.py: two folders below the root.
    found = problems(source, REPO_ROOT / "tests" / "tools" / "example.py")
    assert any(p.startswith(problem) for p in found), found


def test_what_is_allowed_passes() -> None:
    allowed = (
        "from pathlib import Path\nimport sys\n"
        "REPO_ROOT = Path(__file__).resolve().parents[2]\n"
        "HERE = Path(__file__).resolve().parent\n"
        "from terraform_helpers import TERRAFORM_DIR\n"
        "print(sys.executable)\n"
    )
    assert problems(allowed, REPO_ROOT / "tests" / "tools" / "example.py") == set()
