"""Fixtures for the GitOps checks: the rendered prod cluster, and a scratch copy of the tree to break."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

# `tools.gitops` and the shared helpers of this folder are found through pytest's `pythonpath` setting.
from gitops_helpers import REPO_ROOT

from tools.gitops.render import Rendering, render_cluster

# What the renderer and validator read; a scratch tree holds copies of these only.
TREE = ("apps", "platform", "clusters", "terraform/variables.tf")


@pytest.fixture(scope="session")
def prod() -> Rendering:
    return render_cluster(REPO_ROOT, "prod")


@pytest.fixture
def rendering(prod: Rendering) -> Rendering:
    """A private copy of the prod rendering that a test may break."""
    return copy.deepcopy(prod)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the GitOps tree in a temporary directory, to edit and render."""
    for relative in TREE:
        source, target = REPO_ROOT / relative, tmp_path / relative
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return tmp_path
