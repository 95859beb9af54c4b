"""Print the repository's shell scripts or Dockerfiles, tracked or new (git-ignored files excluded).

Linters are pointed at this list rather than at hand-kept globs, so a new script cannot escape them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SHELL_SHEBANGS = (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/usr/bin/env sh")


def repo_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
    ).stdout
    return [Path(name) for name in out.decode().split("\0") if name and Path(name).is_file()]


def is_shell_script(path: Path) -> bool:
    if path.suffix in {".sh", ".bash"}:
        return True
    if path.suffix:
        return False
    with path.open("rb") as handle:
        return handle.readline().startswith(SHELL_SHEBANGS)


def is_dockerfile(path: Path) -> bool:
    return path.name == "Dockerfile" or path.name.endswith(".Dockerfile")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--shell", action="store_const", const=is_shell_script, dest="keep")
    kind.add_argument("--dockerfiles", action="store_const", const=is_dockerfile, dest="keep")
    args = parser.parse_args()
    print(" ".join(sorted(str(path) for path in repo_files() if args.keep(path))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
