"""Read Terraform (HCL) values, and the versions pinned as defaults in terraform/variables.tf.

terraform/variables.tf is the one home of the cluster's versions (`k3s_version`, `argocd_chart_version`):
tools and tests read them from there through `pinned()`, so a bump is one edit. `load()` is the one way
the repository reads HCL: python-hcl2 with its own `strip_string_quotes`, so every reader gets `v1.2.3`, not
`"v1.2.3"`.

    python -m tools.pins                 # every pinned default, NAME=value per line
    python -m tools.pins k3s_version     # one value
"""

from __future__ import annotations

import sys
from pathlib import Path

import hcl2
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[1]
ROOT_VARIABLES = Path("terraform/variables.tf")


class HclError(Exception):
    """An HCL file cannot be read or parsed, or lacks what was asked for."""


def string(value: object) -> object:
    """A value from load() as is (load() already strips quotes). Kept for callers written before that."""
    return value


def load(path: Path, **options: bool) -> dict:
    """The HCL file at `path` with its string literals unquoted; `options` are python-hcl2's other
    SerializationOptions (explicit_blocks, with_comments, ...)."""
    try:
        return hcl2.loads(
            path.read_text(), serialization_options=SerializationOptions(strip_string_quotes=True, **options)
        )
    except OSError as error:
        raise HclError(f"cannot read {path}: {error}") from error
    except Exception as error:  # python-hcl2 raises lark's exceptions for syntax errors
        raise HclError(f"cannot parse {path}: {error}") from error


def variable_defaults(path: Path) -> dict[str, object]:
    """{variable name: default} for each `variable` block of path that has a default."""
    defaults: dict[str, object] = {}
    for block in load(path).get("variable", []):
        for name, body in block.items():
            if isinstance(body, dict) and "default" in body:
                defaults[str(name)] = body["default"]
    return defaults


def declared_variables(path: Path) -> set[str]:
    return {str(name) for block in load(path).get("variable", []) for name in block}


def pinned(name: str, repo_root: Path = REPO) -> str:
    """The default of variable `name` in terraform/variables.tf, as a string."""
    path = repo_root / ROOT_VARIABLES
    if name not in declared_variables(path):
        raise HclError(f"{path} declares no variable {name}")
    value = variable_defaults(path).get(name)
    if not isinstance(value, str):
        raise HclError(f"{path}: variable {name} has no string default to pin a version with")
    return value


def main(argv: list[str]) -> int:
    path = REPO / ROOT_VARIABLES
    try:
        if argv:
            for name in argv:
                print(pinned(name))
        else:
            for name, value in sorted(variable_defaults(path).items()):
                if isinstance(value, str):
                    print(f"{name}={value}")
    except HclError as error:
        print(f"tools.pins: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
