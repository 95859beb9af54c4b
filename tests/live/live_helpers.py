"""What the live scenarios share: kubectl against the live cluster, Application state, and polling."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMINGS = REPO_ROOT / ".out" / "live" / "timings.json"


ARGOCD_NAMESPACE = "argocd"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
IDENTITY = {
    "GIT_AUTHOR_NAME": "live test",
    "GIT_AUTHOR_EMAIL": "live@127.0.0.1",
    "GIT_COMMITTER_NAME": "live test",
    "GIT_COMMITTER_EMAIL": "live@127.0.0.1",
}


class Live:
    """A running cluster and the Git working tree its root Application follows (tests/live/README.md).

    `state` is what tools/cluster/cluster.py recorded for a local harness, or the contract's variables
    for an existing cluster: kubeconfig, kubectl, argocd (the CLI, run in core mode), work_repo, branch.
    """

    def __init__(self, state: dict) -> None:
        self.state = state
        self.kubeconfig = state["kubeconfig"]
        self.kubectl_bin = state["kubectl"]
        self.argocd_bin = state["argocd"]
        self.work = Path(state["work_repo"])
        self.local = bool(state.get("processes"))
        self._argocd_kubeconfig: Path | None = None
        self.branch = state.get("branch") or self.tracked_branch()

    def tracked_branch(self) -> str:
        """The branch the root Application follows; else the one checked out in the working tree.
        (Scenarios leave the tree detached: the bump script checks out the fetched tip.)"""
        root = self.try_get("application", "root", "-n", ARGOCD_NAMESPACE) or {}
        revision = root.get("spec", {}).get("source", {}).get("targetRevision", "")
        if revision and revision != "HEAD" and not re.fullmatch(r"[0-9a-f]{40}", revision):
            return revision
        branch = self.git("rev-parse", "--abbrev-ref", "HEAD")
        if branch == "HEAD":
            raise AssertionError(
                f"{self.work} is on a detached HEAD and the root Application names no branch "
                f"({revision!r}): set LIVE_GIT_BRANCH"
            )
        return branch

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=stdin,
            check=False,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def try_get(self, *args: str) -> dict | None:
        result = self.kubectl("get", "-o", "json", *args, check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def applications(self) -> dict[str, dict]:
        items = self.get("applications", "-n", ARGOCD_NAMESPACE)["items"]
        return {app["metadata"]["name"]: app for app in items}

    def application(self, name: str) -> dict:
        return self.get("application", name, "-n", ARGOCD_NAMESPACE)

    def argocd(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """The argocd CLI in core mode: it talks to the Kubernetes API as the kubeconfig allows, needs no
        Argo CD server address or token, and so runs the same on every cluster. Core mode reads Argo CD's
        namespace from the kubeconfig's context, hence a copy whose context names `argocd`."""
        if self._argocd_kubeconfig is None:
            copy = TIMINGS.parent / "argocd-core.kubeconfig"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.kubeconfig, copy)
            subprocess.run(
                [self.kubectl_bin, f"--kubeconfig={copy}", "config", "set-context", "--current",
                 f"--namespace={ARGOCD_NAMESPACE}"],
                capture_output=True, text=True, check=True, timeout=30,
            )  # fmt: skip
            self._argocd_kubeconfig = copy
        home = TIMINGS.parent / "argocd-home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KUBECONFIG": str(self._argocd_kubeconfig),
            # One binary serves every Argo CD command; it picks the role by this name (or argv[0]).
            "ARGOCD_BINARY_NAME": "argocd",
            "HOME": str(home),
        }
        result = subprocess.run(
            [self.argocd_bin, "--core", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"argocd --core {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def git(self, *args: str) -> str:
        env = {**os.environ, **IDENTITY}
        if self.local:
            # The local harness's clone: nothing of the machine's git configuration applies.
            env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
        result = subprocess.run(
            ["git", *args], cwd=self.work, capture_output=True, text=True, check=False, env=env, timeout=120
        )
        if result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def push(self, message: str) -> str:
        """Commit every change in the working tree and push it to the branch the root follows."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.push_head()

    def push_head(self) -> str:
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}")
        self.notify()
        return self.git("rev-parse", "HEAD")

    def notify(self) -> None:
        """What the Git host's webhook makes Argo CD do on a push: look at Git now, not at the next poll
        (3 min by default; the README's timings say which they measured). A hard refresh, so that the
        repo-server's cached answer for the branch does not hide the new commit."""
        self.kubectl("annotate", "applications", "--all", "-n", ARGOCD_NAMESPACE,
                     f"{REFRESH_ANNOTATION}=hard", "--overwrite")  # fmt: skip

    def revert(self, commit: str) -> str:
        self.git("revert", "--no-edit", commit)
        return self.push_head()


def app_summary(app: dict) -> str:
    """One line with what Argo CD says about an Application: sync, health, operation and its message."""
    status = app.get("status", {})
    operation = status.get("operationState", {})
    conditions = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in status.get("conditions", []))
    failed = [
        f"{r.get('kind')}/{r.get('name')}: {r.get('message')}"
        for r in operation.get("syncResult", {}).get("resources", [])
        if r.get("status") not in (None, "Synced")
    ]
    unhealthy = [
        f"{r.get('kind')}/{r.get('name')} {health.get('status')}: {health.get('message')}"
        for r in status.get("resources", [])
        if (health := r.get("health", {})).get("status") not in (None, "Healthy")
    ]
    parts = [
        f"{app['metadata']['name']}: sync {status.get('sync', {}).get('status')}",
        f"health {status.get('health', {}).get('status')}",
        f"operation {operation.get('phase')} ({operation.get('message')})",
    ]
    if conditions:
        parts.append(f"conditions: {conditions}")
    if failed:
        parts.append(f"failed resources: {failed}")
    if unhealthy:
        parts.append(f"unhealthy resources: {unhealthy}")
    return ", ".join(parts)


def poll(what: str, condition, timeout: float, interval: float = 1.0, explain=None):
    """Poll until `condition()` is truthy; on timeout fail with `explain()` (the cluster's own words)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = explain() if explain else ""
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s.\n{detail}")
        time.sleep(interval)


def record_timing(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(timings, indent=2) + "\n")
    print(f"{name}: {seconds:.1f} s")


@dataclass
class Timeline:
    """When each Application was first seen, and first seen Synced and Healthy (monotonic seconds)."""

    created: dict[str, float] = field(default_factory=dict)
    healthy: dict[str, float] = field(default_factory=dict)

    def observe(self, apps: dict[str, dict], now: float) -> None:
        for name, app in apps.items():
            self.created.setdefault(name, now)
            status = app.get("status", {})
            if (
                status.get("health", {}).get("status") == "Healthy"
                and status.get("sync", {}).get("status") == "Synced"
            ):
                self.healthy.setdefault(name, now)


def pod_ready(pod: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def wait_synced(live: Live, name: str, revision: str, timeout: float) -> dict:
    """Wait until Application `name` has applied `revision` and is Synced and Healthy; fail with
    Argo CD's own account of it (sync, health, operation, failed and unhealthy resources)."""

    def done():
        app = live.application(name)
        status = app.get("status", {})
        operation = status.get("operationState", {})
        ok = (
            status.get("sync", {}).get("revision") == revision
            and status.get("sync", {}).get("status") == "Synced"
            and status.get("health", {}).get("status") == "Healthy"
            and operation.get("phase") == "Succeeded"
            and operation.get("syncResult", {}).get("revision") == revision
        )
        return app if ok else None

    return poll(f"{name} Synced and Healthy at {revision[:12]}", done, timeout, 0.5,
                lambda: app_summary(live.application(name)))  # fmt: skip
