"""The live cluster for the scenarios: brought up once per session, torn down and checked at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cluster
import pytest
from live_helpers import Live, Timeline, app_summary, poll, record_timing

HERE = Path(__file__).resolve().parent

# Bring-up of a warm cluster takes well under a minute; the rest is the first build of the tools.
UP_TIMEOUT = 3600
BOOTSTRAP_TIMEOUT = 420


def existing_cluster() -> dict | None:
    """The contract's variables (tests/live/README.md) when the scenarios run on a cluster brought up
    elsewhere (the k3d job); None for the local harness."""
    kubeconfig = os.environ.get("LIVE_KUBECONFIG")
    if not kubeconfig:
        return None
    git_dir = os.environ.get("LIVE_GIT_DIR")
    problems = []
    if not Path(kubeconfig).is_file():
        problems.append(f"LIVE_KUBECONFIG={kubeconfig} is not a file")
    if not git_dir or not (Path(git_dir) / ".git").exists():
        problems.append(f"LIVE_GIT_DIR={git_dir!r} is not a git working tree (required with LIVE_KUBECONFIG)")
    if problems:
        pytest.fail("; ".join(problems))
    try:
        # The pinned kubectl (the one the k3d scripts use), not whatever a runner has on PATH; KUBECTL
        # overrides it.
        kubectl = os.environ.get("KUBECTL") or str(cluster.Tools().bin_dir("kubernetes") / "kubectl")
        argocd = str(cluster.Tools().bin_dir("argocd") / "cmd")
    except cluster.ClusterError as error:
        pytest.fail(f"cannot build the CLIs the scenarios use: {error}")
    return {
        "kubeconfig": kubeconfig,
        "kubectl": kubectl,
        "argocd": argocd,
        "work_repo": git_dir,
        "branch": os.environ.get("LIVE_GIT_BRANCH", ""),
        "processes": [],
    }


@pytest.fixture(scope="session")
def live() -> Live:
    existing = existing_cluster()
    if existing is not None:
        yield Live(existing)
        return
    if cluster.load_state()["processes"]:
        pytest.fail(
            f"a cluster is already recorded in {cluster.STATE}; run `make cluster-down` first, or run the "
            "scenarios on it with LIVE_KUBECONFIG and LIVE_GIT_DIR (tests/live/README.md)"
        )
    result = subprocess.run(
        [sys.executable, str(HERE.parents[1] / "tools" / "cluster" / "cluster.py"), "up"],
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT,
        check=False,
    )
    try:
        if result.returncode != 0:
            pytest.fail(f"make cluster-up failed:\n{result.stderr[-4000:]}")
        yield Live(cluster.load_state())
    finally:
        state = cluster.load_state()
        left = cluster.stop_recorded(state)
        assert not left, f"cluster-down left these behind: {left}"
        # What the check is for: no process that `up` started, and none of its ports, survives `down`.
        assert cluster.down() == 0
        assert not cluster.STATE.exists(), f"{cluster.STATE} still exists after cluster-down"
        running = [e for e in state["processes"] if cluster.pid_alive(e["pid"])]
        listening = [p for e in state["processes"] for p in e.get("ports", []) if cluster.port_open(p)]
        assert not running, f"processes left behind: {running}"
        assert not listening, f"ports still open: {listening}"


@pytest.fixture(scope="session")
def bootstrap(live: Live) -> Timeline:
    """Wait until every automatically synced Application is Synced and Healthy; the timeline of that."""
    timeline = Timeline()
    started = time.monotonic()
    began = time.time()
    root_applied = live.state.get("root_applied")

    def settled():
        apps = live.applications()
        timeline.observe(apps, time.monotonic())
        automatic = [a for a in apps.values() if a["spec"].get("syncPolicy", {}).get("automated") is not None]
        expected = expected_apps(live)
        return set(apps) >= expected and all(
            name in timeline.healthy for name in (a["metadata"]["name"] for a in automatic)
        )

    def explain() -> str:
        apps = live.applications()
        missing = expected_apps(live) - set(apps)
        lines = [app_summary(app) for app in apps.values()]
        if missing:
            lines.append(f"never created: {sorted(missing)}")
        return "\n".join(lines)

    poll(
        "every automatically synced Application Synced and Healthy", settled, BOOTSTRAP_TIMEOUT, 0.5, explain
    )
    if root_applied is not None:  # known only when the local harness applied the root itself
        record_timing("bootstrap_root_to_all_healthy_s", time.time() - root_applied)
    timeline.waited = time.monotonic() - started  # type: ignore[attr-defined]
    timeline.began = began  # type: ignore[attr-defined]
    return timeline


def expected_apps(live: Live) -> set[str]:
    from tools.gitops.render import render_cluster

    return {app.name for app in render_cluster(live.work, cluster.CLUSTER).apps}
