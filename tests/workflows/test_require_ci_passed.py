"""require-ci-passed.sh: a manual release builds only a commit whose `CI result` check passed.

`gh` is replaced by a stub that prints what the check-runs API would give through the script's --jq
(started_at, status, conclusion as tab-separated lines) and records how it was called.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from workflow_helpers import REPO_ROOT

SCRIPT = REPO_ROOT / ".github" / "scripts" / "require-ci-passed.sh"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run(tmp_path: Path, runs: str, *args: str, gh_status: int = 0) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "runs").write_text(runs)
    gh = bin_dir / "gh"
    gh.write_text(
        f'#!/bin/sh\necho "$*" > "{tmp_path}/gh-args"\ncat "{tmp_path}/runs"\n'
        f'[ {gh_status} = 0 ] || echo "HTTP 403: Resource not accessible by integration" >&2\n'
        f"exit {gh_status}\n"
    )
    gh.chmod(0o755)
    return subprocess.run(
        ["bash", str(SCRIPT), *(args or (COMMIT,))],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_REPOSITORY": "owner/repo"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_passed_check_lets_the_release_go(tmp_path: Path) -> None:
    result = run(tmp_path, "2026-01-01T10:00:00Z\tcompleted\tsuccess\n")
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "gh-args").read_text()
    assert f"repos/owner/repo/commits/{COMMIT}/check-runs?check_name=CI%20result" in args


def test_the_newest_run_decides(tmp_path: Path) -> None:
    rerun_passed = "2026-01-01T10:00:00Z\tcompleted\tfailure\n2026-01-01T11:00:00Z\tcompleted\tsuccess\n"
    assert run(tmp_path, rerun_passed).returncode == 0
    rerun_failed = "2026-01-01T11:00:00Z\tcompleted\tfailure\n2026-01-01T10:00:00Z\tcompleted\tsuccess\n"
    assert run(tmp_path, rerun_failed).returncode == 1


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ("", "has no 'CI result' check: CI has not run on it"),
        ("2026-01-01T10:00:00Z\tin_progress\tnone\n", "is still in_progress"),
        ("2026-01-01T10:00:00Z\tcompleted\tfailure\n", "ended as failure"),
        ("2026-01-01T10:00:00Z\tcompleted\tcancelled\n", "ended as cancelled"),
    ],
)
def test_anything_but_a_pass_stops_the_release(tmp_path: Path, runs: str, message: str) -> None:
    result = run(tmp_path, runs)
    assert result.returncode == 1
    assert message in result.stderr


def test_an_api_error_stops_the_release_with_its_cause(tmp_path: Path) -> None:
    result = run(tmp_path, "", gh_status=1)
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr
    assert "cannot read the check runs" in result.stderr


@pytest.mark.parametrize("args", [("main",), (COMMIT, COMMIT)])
def test_usage(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(tmp_path, "", *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
