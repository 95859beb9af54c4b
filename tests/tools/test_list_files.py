"""The file lister that feeds shellcheck and hadolint must find every script, and only scripts."""

import subprocess
import sys
from pathlib import Path

LIST_FILES = Path(__file__).resolve().parents[2] / "tools" / "list_files.py"

FILES = {
    "deploy.sh": "echo plain\n",
    "bin/bootstrap": "#!/usr/bin/env bash\necho no extension\n",
    "bin/posix": "#!/bin/sh\necho posix\n",
    "bin/tool": "#!/usr/bin/env python3\nprint('not shell')\n",
    "notes.txt": "#!/bin/bash but a text file\n",
    "images/api/Dockerfile": "FROM scratch\n",
    "images/api/test.Dockerfile": "FROM scratch\n",
    "ignored/skip.sh": "echo ignored\n",
    ".gitignore": "ignored/\n",
}


def list_files(repo: Path, kind: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(LIST_FILES), kind], cwd=repo, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def make_repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # One file committed, the rest new: both kinds must be listed.
    subprocess.run(["git", "-C", str(tmp_path), "add", "deploy.sh"], check=True)
    return tmp_path


def test_shell_scripts_by_extension_or_shebang(tmp_path):
    assert list_files(make_repo(tmp_path), "--shell") == ["bin/bootstrap", "bin/posix", "deploy.sh"]


def test_dockerfiles(tmp_path):
    assert list_files(make_repo(tmp_path), "--dockerfiles") == [
        "images/api/Dockerfile",
        "images/api/test.Dockerfile",
    ]
