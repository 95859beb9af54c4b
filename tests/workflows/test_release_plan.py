"""release-plan.sh: which images a push or pull request builds, and under which registry/name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import REPO_ROOT, git

KUSTOMIZATION = """\
images:
  - name: stock-backend
    newName: ghcr.io/stock-gitops/stock-backend
    newTag: 0.1.0
  - name: stock-frontend
    newName: stockgitops/stock-frontend  # Docker Hub
    newTag: 0.1.0
"""
BACKEND = {
    "dir": "backend",
    "image": "stock-backend",
    "name": "ghcr.io/stock-gitops/stock-backend",
    "registry": "ghcr.io",
}
FRONTEND = {
    "dir": "frontend",
    "image": "stock-frontend",
    "name": "stockgitops/stock-frontend",
    "registry": "docker.io",
}


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """Two images, a folder under images/ that is not one (no Dockerfile), and the tools."""
    root = tmp_path / "repo"
    files = {
        "apps/stock-app/kustomization.yaml": KUSTOMIZATION,
        "images/backend/Dockerfile": "FROM scratch\n",
        "images/frontend/Dockerfile": "FROM scratch\n",
        "images/shared-notes/README.md": "not an image\n",
        "images/README.md": "the images\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name in ("tools/set_image_tag.py", ".github/scripts/release-plan.sh"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, root / name)
    git(root, "init", "--quiet", "--initial-branch=main")
    commit(root, "Seed")
    return root


def commit(root: Path, message: str, **files: str) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def plan(root: Path, *base: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    # The test's own environment (GitHub's, when CI runs it there) must not switch the push checks on.
    env = {k: v for k, v in os.environ.items() if k not in {"RELEASE_OWNER", "REGISTRY_CREDENTIALS"}}
    env = {**env, "GITHUB_ACTIONS": "false", "PYTHON": sys.executable, **extra_env}
    return subprocess.run(
        ["bash", ".github/scripts/release-plan.sh", *base],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def planned(root: Path, *base: str) -> list[dict]:
    result = plan(root, *base)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_a_base_every_image_is_built(repo_dir: Path) -> None:
    assert planned(repo_dir) == [BACKEND, FRONTEND]


@pytest.mark.parametrize("base", ["0" * 40, "1234567890abcdef1234567890abcdef12345678", "no-such-ref"])
def test_a_base_this_clone_lacks_builds_every_image(repo_dir: Path, base: str) -> None:
    assert planned(repo_dir, base) == [BACKEND, FRONTEND]


def test_only_changed_images_are_built(repo_dir: Path) -> None:
    base = git(repo_dir, "rev-parse", "HEAD")
    commit(repo_dir, "Change the backend", **{"images/backend/app.py": "print('hi')\n"})
    assert planned(repo_dir, base) == [BACKEND]
    commit(repo_dir, "Change the frontend", **{"images/frontend/app.py": "print('hi')\n"})
    assert planned(repo_dir, base) == [BACKEND, FRONTEND]


@pytest.mark.parametrize(
    "files",
    [
        {"apps/stock-app/extra.yaml": "x: 1\n"},
        {"images/README.md": "changed\n"},
        {"images/shared-notes/README.md": "changed\n"},
    ],
)
def test_changes_outside_image_folders_build_nothing(repo_dir: Path, files: dict[str, str]) -> None:
    base = git(repo_dir, "rev-parse", "HEAD")
    commit(repo_dir, "Change something else", **files)
    assert planned(repo_dir, base) == []


def test_a_pull_request_sees_only_its_own_changes(repo_dir: Path) -> None:
    """Compared from the merge base: what main gained since the branch started is not the branch's."""
    fork_point = git(repo_dir, "rev-parse", "HEAD")
    git(repo_dir, "checkout", "--quiet", "-b", "feature")
    commit(repo_dir, "Change the frontend", **{"images/frontend/app.py": "x\n"})
    git(repo_dir, "checkout", "--quiet", "main")
    main_tip = commit(repo_dir, "Change the backend on main", **{"images/backend/app.py": "x\n"})
    git(repo_dir, "checkout", "--quiet", "feature")
    assert planned(repo_dir, main_tip) == [FRONTEND]
    assert planned(repo_dir, fork_point) == [FRONTEND]


def test_an_image_the_kustomization_does_not_name_fails_the_plan(repo_dir: Path) -> None:
    base = git(repo_dir, "rev-parse", "HEAD")
    commit(repo_dir, "Add a worker image", **{"images/worker/Dockerfile": "FROM scratch\n"})
    result = plan(repo_dir, base)
    assert result.returncode == 2
    assert "unknown image 'stock-worker'" in result.stderr


def changed_backend(root: Path) -> str:
    base = git(root, "rev-parse", "HEAD")
    commit(root, "Change the backend", **{"images/backend/app.py": "x\n"})
    return base


@pytest.mark.parametrize("owner", ["stock-gitops", "Stock-GitOps"])
def test_the_release_pushes_to_its_own_owners_ghcr(repo_dir: Path, owner: str) -> None:
    """GitHub owners may have capitals; GHCR names are their lower case."""
    result = plan(repo_dir, changed_backend(repo_dir), RELEASE_OWNER=owner)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [BACKEND]


def test_a_fork_that_kept_the_upstream_registry_fails_the_plan_with_the_fix(repo_dir: Path) -> None:
    """The built-in token can push only its own owner's packages: say so before the build, not at the push."""
    result = plan(repo_dir, changed_backend(repo_dir), RELEASE_OWNER="Forker")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "stock-backend would be pushed to ghcr.io/stock-gitops/stock-backend" in result.stderr
    assert "can push only to ghcr.io/forker/" in result.stderr
    assert "apps/stock-app/kustomization.yaml to ghcr.io/forker/<image>" in result.stderr
    assert ".github/README.md" in result.stderr
    # In GitHub's log the same words are an error annotation on the file to change.
    annotated = plan(repo_dir, "HEAD~1", RELEASE_OWNER="forker", GITHUB_ACTIONS="true")
    assert annotated.stderr.startswith("::error file=apps/stock-app/kustomization.yaml::")


def test_registry_credentials_lift_the_owner_rule(repo_dir: Path) -> None:
    result = plan(repo_dir, RELEASE_OWNER="forker", REGISTRY_CREDENTIALS="true")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [BACKEND, FRONTEND]


def test_another_registry_needs_the_registry_secrets(repo_dir: Path) -> None:
    result = plan(repo_dir, RELEASE_OWNER="stock-gitops")
    assert result.returncode == 2
    assert "stock-frontend would be pushed to docker.io" in result.stderr
    assert "REGISTRY_USERNAME" in result.stderr


def test_an_upper_case_registry_name_fails_the_plan(repo_dir: Path) -> None:
    base = git(repo_dir, "rev-parse", "HEAD")
    upper = KUSTOMIZATION.replace("ghcr.io/stock-gitops/stock-backend", "ghcr.io/Stock-GitOps/stock-backend")
    commit(repo_dir, "Capitals", **{"apps/stock-app/kustomization.yaml": upper, "images/backend/x": "x\n"})
    result = plan(repo_dir, base, RELEASE_OWNER="stock-gitops", REGISTRY_CREDENTIALS="true")
    assert result.returncode == 2
    assert "write 'ghcr.io/stock-gitops/stock-backend'" in result.stderr


def test_ci_plans_builds_without_the_push_checks(repo_dir: Path) -> None:
    """CI only builds (no push), so a fork's pull request is not failed for the registry it names."""
    assert planned(repo_dir) == [BACKEND, FRONTEND]


def deploy_tags(root: Path, backend: str, frontend: str) -> None:
    """Commit the kustomization with these tags, as the deploy job would (the bump changes only it)."""
    text = KUSTOMIZATION.replace("newTag: 0.1.0", f"newTag: {backend}", 1)
    text = text.replace("newTag: 0.1.0", f"newTag: {frontend}", 1)
    commit(root, "Deploy", **{"apps/stock-app/kustomization.yaml": text})


def since_deployed(root: Path) -> list[dict]:
    return planned(root, "--since-deployed")


def test_the_first_release_builds_every_image(repo_dir: Path) -> None:
    """Tags that name no build (0.1.0 in a new fork): everything is built."""
    assert since_deployed(repo_dir) == [BACKEND, FRONTEND]


def test_images_that_run_their_current_code_are_not_rebuilt(repo_dir: Path) -> None:
    built = git(repo_dir, "rev-parse", "HEAD")[:12]
    deploy_tags(repo_dir, f"sha-{built}", f"sha-{built}")
    assert since_deployed(repo_dir) == []
    commit(repo_dir, "Docs only", **{"images/README.md": "more\n"})
    assert since_deployed(repo_dir) == []


def test_a_change_that_was_never_released_is_released_by_the_next_passing_push(repo_dir: Path) -> None:
    """Push 1 changes the backend and fails CI (no release); push 2 changes only docs and passes."""
    built = git(repo_dir, "rev-parse", "HEAD")[:12]
    deploy_tags(repo_dir, f"sha-{built}", f"sha-{built}")
    commit(repo_dir, "Change the backend (its CI fails)", **{"images/backend/app.py": "x\n"})
    commit(repo_dir, "Fix a test elsewhere", **{"apps/stock-app/extra.yaml": "x: 1\n"})
    assert since_deployed(repo_dir) == [BACKEND]
    # Once that build is deployed, nothing is left to release.
    deploy_tags(repo_dir, f"sha-{git(repo_dir, 'rev-parse', 'HEAD')[:12]}", f"sha-{built}")
    assert since_deployed(repo_dir) == []


def test_a_tag_of_a_commit_this_clone_lacks_is_rebuilt(repo_dir: Path) -> None:
    built = git(repo_dir, "rev-parse", "HEAD")[:12]
    deploy_tags(repo_dir, "sha-0123456789ab", f"sha-{built}")
    assert since_deployed(repo_dir) == [BACKEND]
