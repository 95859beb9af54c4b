"""Helpers the GitOps tests share (conftest.py holds the fixtures)."""

from __future__ import annotations

from pathlib import Path

from tools.gitops.render import RenderedApp, Rendering

REPO_ROOT = Path(__file__).resolve().parents[2]


def app_named(rendering: Rendering, name: str) -> RenderedApp:
    return next(app for app in rendering.apps if app.name == name)


def resource(rendering: Rendering, kind: str, name: str) -> dict:
    """The rendered resource itself (not a copy), so a test can change it in place."""
    return next(r for _, r in rendering.resources() if r["kind"] == kind and r["metadata"]["name"] == name)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
