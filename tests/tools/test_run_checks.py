"""`make test`'s runner: one line per group, failing output shown, a plain total, the right exit code."""

import subprocess
import sys
from pathlib import Path

RUN_CHECKS = Path(__file__).resolve().parents[2] / "tools" / "run_checks.py"

MAKEFILE = """\
check-good:
\t@echo all fine
check-bad:
\t@echo the reason it broke; exit 3
"""


def run(tmp_path: Path, *groups: str) -> subprocess.CompletedProcess:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    return subprocess.run(
        [sys.executable, str(RUN_CHECKS), "--log-dir", str(tmp_path / "logs"), *groups],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_all_groups_pass(tmp_path):
    result = run(tmp_path, "good")
    assert result.returncode == 0
    assert "PASS  good" in result.stdout
    assert "all fine" not in result.stdout, "a passing group's output stays in its log"
    assert (tmp_path / "logs" / "good.log").read_text().strip() == "all fine"
    assert result.stdout.splitlines()[-1] == "checks: 1 passed, 0 failed"


def test_a_failing_group_fails_the_run_and_shows_its_output(tmp_path):
    result = run(tmp_path, "bad", "good")
    assert result.returncode == 1
    assert "the reason it broke" in result.stdout
    assert "FAIL  bad" in result.stdout
    assert "PASS  good" in result.stdout, "later groups still run after a failure"
    assert result.stdout.splitlines()[-1] == "checks: 1 passed, 1 failed"


def test_an_unknown_group_is_a_failure(tmp_path):
    result = run(tmp_path, "missing")
    assert result.returncode == 1
    assert "FAIL  missing" in result.stdout
