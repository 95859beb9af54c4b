"""The release loop end to end, in temporary git repositories standing in for GitHub.

A bare repository plays origin; clones play the release workflow's checkouts. The deploy step is the
same script the workflow runs (.github/scripts/bump-image-tag.sh), and the cluster is rendered with the
GitOps renderer, the way Argo CD would see the pushed commit.
"""

from __future__ import annotations

import copy
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO_ROOT, git

BUMP = ".github/scripts/bump-image-tag.sh"
KUSTOMIZATION = "apps/stock-app/kustomization.yaml"
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
# What the workflow's --validate does, with the renderer of the checkout being deployed.
VALIDATE = f"{sys.executable} -m tools.gitops.render --cluster prod --repo-root . >/dev/null"


def tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout
    return [Path(name) for name in out.decode().split("\0") if name and (root / name).is_file()]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-commit repository holding this checkout's files, as they are now."""
    seed = tmp_path_factory.mktemp("seed")
    for name in tracked_files(REPO_ROOT):
        target = seed / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    git(seed, "init", "--quiet", "--initial-branch=main")
    git(seed, "add", "--all")
    git(seed, "commit", "--quiet", "-m", "Seed")
    return seed


@pytest.fixture
def origin(seed: Path, tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(origin))
    return origin


@pytest.fixture
def clone(origin: Path, tmp_path: Path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        path = tmp_path / name
        git(tmp_path, "clone", "--quiet", str(origin), str(path))
        return path

    return make


def bump_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a CI runner: no git identity of its own (the script sets the bot's)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "PYTHON": sys.executable,
        "BUMP_RETRY_DELAY": "0",
        **extra,
    }


def bump(checkout: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", BUMP, *args], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )


def origin_log(origin: Path) -> list[str]:
    return git(origin, "log", "--format=%an <%ae>|%s", "main").splitlines()


def render(checkout: Path) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "tools.gitops.render", "--cluster", "prod", "--repo-root", str(checkout)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def containers(resource: dict) -> list[dict]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def deployment(resources: list[dict], name: str) -> dict:
    matches = [r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name]
    assert len(matches) == 1
    return matches[0]


def ask_tag_tool(checkout: Path, image: str, question: str = "--print-tag") -> str:
    out = subprocess.run(
        [sys.executable, "tools/set_image_tag.py", "--image", image, question],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_a_bump_commits_only_the_tag_and_the_cluster_runs_the_new_image(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    checkout = clone("ci")
    before = render(checkout)
    tag = "sha-" + git(checkout, "rev-parse", "HEAD")[:12]

    result = bump(
        checkout,
        "--image",
        "stock-backend",
        "--tag",
        tag,
        "--validate",
        VALIDATE,
        "--body",
        "Built by a test run",
        env=bump_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert f"Pushed to main: Deploy stock-backend {tag}" in result.stdout

    # One commit, by the bot, with a clear message, touching exactly one line of the one kustomization.
    assert origin_log(origin)[:2] == [
        f"{BOT}|Deploy stock-backend {tag}",
        "Test Author <author@example.invalid>|Seed",
    ]
    assert git(origin, "log", "-1", "--format=%b", "main") == "Built by a test run"
    assert git(origin, "diff", "--name-only", "main~1", "main") == KUSTOMIZATION
    assert git(origin, "diff", "--numstat", "main~1", "main") == f"1\t1\t{KUSTOMIZATION}"

    # What Argo CD would apply from the pushed commit: the new image in the backend Deployment...
    deployed = clone("argocd")
    after = render(deployed)
    new_name = ask_tag_tool(deployed, "stock-backend", "--print-name")
    backend = deployment(after, "stock-backend")
    assert [c["image"] for c in containers(backend) if c["image"].startswith(new_name + ":")] == [
        f"{new_name}:{tag}"
    ]
    # ...and nothing else changed anywhere: put the old image back and the two renders are equal.
    old_image = next(
        c["image"] for c in containers(deployment(before, "stock-backend")) if new_name in c["image"]
    )
    restored = copy.deepcopy(after)
    for container in containers(deployment(restored, "stock-backend")):
        if container["image"] == f"{new_name}:{tag}":
            container["image"] = old_image
    assert restored == before
    assert after != before


def test_a_concurrent_bump_is_rebased_and_both_survive(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    first, second = clone("release-1"), clone("release-2")
    frontend_tag, backend_tag = "sha-aaaaaaaaaaaa", "sha-bbbbbbbbbbbb"
    env = bump_env(tmp_path)
    # The other release pushes while this one is pushing: from inside git push, once, so the race is
    # certain rather than likely. Its push lands first and this push is rejected as out of date.
    marker = tmp_path / "raced"
    hook = second / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f': > "{marker}"\n'
        f'cd "{first}" && bash {BUMP} --image stock-frontend --tag {frontend_tag} >/dev/null\n'
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)

    result = bump(second, "--image", "stock-backend", "--tag", backend_tag, "--validate", VALIDATE, env=env)

    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert "Push rejected (attempt 1 of 5)" in result.stdout
    assert f"Pushed to main: Deploy stock-backend {backend_tag}" in result.stdout
    assert origin_log(origin)[:3] == [
        f"{BOT}|Deploy stock-backend {backend_tag}",
        f"{BOT}|Deploy stock-frontend {frontend_tag}",
        "Test Author <author@example.invalid>|Seed",
    ]
    final = clone("after")
    assert ask_tag_tool(final, "stock-backend") == backend_tag
    assert ask_tag_tool(final, "stock-frontend") == frontend_tag
    images = {c["image"] for r in render(final) if r["kind"] == "Deployment" for c in containers(r)}
    assert any(image.endswith(f"/stock-backend:{backend_tag}") for image in images)
    assert any(image.endswith(f"/stock-frontend:{frontend_tag}") for image in images)


def test_it_gives_up_after_the_attempts_when_the_branch_keeps_moving(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    """Another release lands during every push: each rejection is a real race, retried until the limit."""
    other = clone("other")
    checkout = clone("ci")
    hook = checkout / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n"
        f'cd "{other}" && git pull --quiet --rebase origin main &&\n'
        "  git commit --quiet --allow-empty -m 'Someone else' && git push --quiet origin HEAD:main\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    env = bump_env(tmp_path, GIT_AUTHOR_NAME="Other", GIT_COMMITTER_NAME="Other")
    env |= {"GIT_AUTHOR_EMAIL": "o@example.invalid", "GIT_COMMITTER_EMAIL": "o@example.invalid"}
    result = bump(
        checkout, "--image", "stock-backend", "--tag", "sha-cccccccccccc", "--attempts", "3", env=env
    )
    assert result.returncode == 1
    assert "Push rejected (attempt 3 of 3)" in result.stdout
    assert "gave up after 3 attempts" in result.stderr
    assert "Deploy stock-backend" not in "\n".join(origin_log(origin))
    assert len(origin_log(origin)) == 4  # the seed and the other release's three commits


@pytest.mark.parametrize(
    ("hook_says", "advice"),
    [
        (
            "error: GH006: Protected branch update failed for refs/heads/main.",
            "store a token that may bypass its rules in the DEPLOY_TOKEN secret",
        ),
        ("error: GH013: Repository rule violations found for refs/heads/main.", "DEPLOY_MODE=pull-request"),
        (
            "Permission to o/r.git denied to github-actions[bot]. The requested URL returned error: 403",
            "Contents",
        ),
        ("the disk is full", None),
    ],
)
def test_a_push_refused_for_another_reason_is_reported_not_retried(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path, hook_says: str, advice: str | None
) -> None:
    """A protected branch, a 403 or a broken server fail the same way every round: say so at once."""
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{hook_says}' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    result = bump(
        clone("ci"), "--image", "stock-backend", "--tag", "sha-cccccccccccc", env=bump_env(tmp_path)
    )
    assert result.returncode == 1
    assert "Push rejected" not in result.stdout  # not one retry
    assert "retrying cannot help" in result.stderr
    assert hook_says in result.stderr  # git's own words, as the remote said them
    assert "pre-receive hook declined" in result.stderr
    if advice:
        assert advice in result.stderr
    assert "kept moving" not in result.stderr
    assert len(origin_log(origin)) == 1


def test_an_unreachable_remote_is_reported_not_retried(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    checkout = clone("ci")
    # Fetches still work; only pushes go to a remote that is not there (as a network error would).
    git(checkout, "remote", "set-url", "--push", "origin", str(tmp_path / "gone.git"))
    result = bump(checkout, "--image", "stock-backend", "--tag", "sha-cccccccccccc", env=bump_env(tmp_path))
    assert result.returncode == 1
    assert "Push rejected" not in result.stdout
    assert "retrying cannot help" in result.stderr
    assert "gone.git" in result.stderr


def test_an_older_build_never_replaces_a_newer_one(
    origin: Path, clone: Callable[[str], Path], tmp_path
) -> None:
    checkout = clone("ci")
    older = git(checkout, "rev-parse", "HEAD")
    (checkout / "images" / "CHANGE").write_text("a later commit\n")
    git(checkout, "add", "images/CHANGE")
    git(checkout, "commit", "--quiet", "-m", "Change an image")
    git(checkout, "push", "--quiet", "origin", "HEAD:main")
    newer = git(checkout, "rev-parse", "HEAD")
    env = bump_env(tmp_path)

    assert bump(checkout, "--image", "stock-backend", "--tag", f"sha-{newer[:12]}", env=env).returncode == 0
    commits = len(origin_log(origin))
    # The release of the older commit finishes last: it must leave the newer build running.
    late = bump(checkout, "--image", "stock-backend", "--tag", f"sha-{older[:12]}", env=env)
    assert late.returncode == 0, late.stderr
    assert "built from a later commit" in late.stdout
    assert len(origin_log(origin)) == commits
    # A newer build does replace an older one.
    assert bump(checkout, "--image", "stock-frontend", "--tag", f"sha-{older[:12]}", env=env).returncode == 0
    assert bump(checkout, "--image", "stock-frontend", "--tag", f"sha-{newer[:12]}", env=env).returncode == 0
    assert ask_tag_tool(clone("after"), "stock-frontend") == f"sha-{newer[:12]}"


def test_the_same_tag_again_changes_nothing(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    checkout, env = clone("ci"), bump_env(tmp_path)
    assert bump(checkout, "--image", "stock-backend", "--tag", "sha-dddddddddddd", env=env).returncode == 0
    again = bump(checkout, "--image", "stock-backend", "--tag", "sha-dddddddddddd", env=env)
    assert again.returncode == 0
    assert "nothing to change" in again.stdout
    assert len(origin_log(origin)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "stock-backnd", "--tag", "sha-eeeeeeeeeeee"], "unknown image 'stock-backnd'"),
        (["--image", "stock-backend", "--tag", "latest"], "refusing tag 'latest'"),
        (["--image", "stock-backend"], "--image and --tag are required"),
        (["--image", "stock-backend", "--tag", "1", "--mode", "yolo"], "--mode is push or pull-request"),
        (
            ["--image", "stock-backend", "--tag", "1", "--attempts", "0"],
            "--attempts must be a positive number",
        ),
        (["--tag"], "--tag needs a value"),
        (["--force"], "unknown argument '--force'"),
    ],
)
def test_refusals_exit_2_and_push_nothing(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path, args: list[str], message: str
) -> None:
    result = bump(clone("ci"), *args, env=bump_env(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(origin_log(origin)) == 1


def test_a_dirty_checkout_is_refused(origin: Path, clone: Callable[[str], Path], tmp_path: Path) -> None:
    checkout = clone("ci")
    (checkout / KUSTOMIZATION).write_text("edited by hand\n")
    result = bump(checkout, "--image", "stock-backend", "--tag", "sha-ffffffffffff", env=bump_env(tmp_path))
    assert result.returncode == 2
    assert "uncommitted changes" in result.stderr


def test_invalid_manifests_are_never_pushed(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    result = bump(
        clone("ci"),
        "--image",
        "stock-backend",
        "--tag",
        "sha-123456789abc",
        "--validate",
        "exit 3",
        env=bump_env(tmp_path),
    )
    assert result.returncode == 3
    assert len(origin_log(origin)) == 1


def test_pull_request_mode_opens_then_updates_one_pull_request(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    """For a protected main: the commit goes to deploy/<image> and `gh` opens (or updates) the PR."""
    bin_dir, calls, open_prs = tmp_path / "bin", tmp_path / "gh-calls", tmp_path / "open-prs"
    bin_dir.mkdir()
    open_prs.write_text("")
    gh = bin_dir / "gh"  # records its arguments; `pr list` prints what open-prs holds
    gh.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        f'if [ "$1 $2" = "pr list" ]; then cat "{open_prs}"; fi\n'
        f'if [ "$1 $2" = "pr create" ]; then echo 7 > "{open_prs}"; fi\n'
    )
    gh.chmod(0o755)
    env = bump_env(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    checkout = clone("ci")

    first = bump(
        checkout, "--image", "stock-backend", "--tag", "sha-0000000000a1", "--mode", "pull-request", env=env
    )
    assert first.returncode == 0, first.stderr
    assert len(origin_log(origin)) == 1  # main itself is untouched
    assert (
        git(origin, "log", "-1", "--format=%s", "deploy/stock-backend")
        == "Deploy stock-backend sha-0000000000a1"
    )
    second = bump(
        checkout, "--image", "stock-backend", "--tag", "sha-0000000000a2", "--mode", "pull-request", env=env
    )
    assert second.returncode == 0, second.stderr
    assert (
        git(origin, "log", "-1", "--format=%s", "deploy/stock-backend")
        == "Deploy stock-backend sha-0000000000a2"
    )
    # The branch holds one bump on top of main, not a pile of them.
    assert git(origin, "rev-list", "--count", "main..deploy/stock-backend") == "1"

    lines = calls.read_text().splitlines()
    creates = [line for line in lines if line.startswith("pr create")]
    edits = [line for line in lines if line.startswith("pr edit")]
    assert len(creates) == 1
    assert (
        "--head deploy/stock-backend --base main --title Deploy stock-backend sha-0000000000a1" in creates[0]
    )
    assert len(edits) == 1
    assert edits[0].startswith("pr edit deploy/stock-backend --title Deploy stock-backend sha-0000000000a2")


def test_help(tmp_path: Path) -> None:
    result = subprocess.run(["bash", REPO_ROOT / BUMP, "--help"], capture_output=True, text=True, check=True)
    assert "--mode push|pull-request" in result.stdout
    assert not result.stdout.startswith("#")


def test_pull_request_mode_never_replaces_a_proposal_of_a_later_build(
    origin: Path, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    """Releases can finish out of order: the older one must not force-push over the newer one's PR."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text("#!/bin/sh\nexit 0\n")  # no open pull request; create succeeds
    (bin_dir / "gh").chmod(0o755)
    env = bump_env(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    checkout = clone("ci")
    older = git(checkout, "rev-parse", "HEAD")[:12]
    (checkout / "images" / "CHANGE").write_text("a later commit\n")
    git(checkout, "add", "images/CHANGE")
    git(checkout, "commit", "--quiet", "-m", "Change an image")
    git(checkout, "push", "--quiet", "origin", "HEAD:main")
    newer = git(checkout, "rev-parse", "HEAD")[:12]
    pr_mode = ("--image", "stock-backend", "--mode", "pull-request")

    assert bump(checkout, *pr_mode, "--tag", f"sha-{newer}", env=env).returncode == 0
    late = bump(checkout, *pr_mode, "--tag", f"sha-{older}", env=env)
    assert late.returncode == 0, late.stderr
    assert f"deploy/stock-backend already proposes sha-{newer}" in late.stdout
    assert (
        git(origin, "log", "-1", "--format=%s", "deploy/stock-backend") == f"Deploy stock-backend sha-{newer}"
    )
