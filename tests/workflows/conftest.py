"""Fixtures shared by the workflow tests (helpers and paths live in workflow_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from workflow_helpers import REPO_ROOT

from tools import set_image_tag


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tag_tool() -> ModuleType:
    return set_image_tag
