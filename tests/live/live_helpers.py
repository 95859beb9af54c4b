"""What the live scenarios share: kubectl against the live cluster, Application state, and polling."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMINGS = REPO_ROOT / ".out" / "live" / "timings.json"


class Live:
    """The running cluster as cluster.py recorded it."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.kubeconfig = state["kubeconfig"]
        self.kubectl_bin = state["kubectl"]
        self.work = Path(state["work_repo"])

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
        return {app["metadata"]["name"]: app for app in self.get("applications", "-n", "argocd")["items"]}

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.work,
            capture_output=True,
            text=True,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "GIT_AUTHOR_NAME": "live test",
                "GIT_AUTHOR_EMAIL": "live@127.0.0.1",
                "GIT_COMMITTER_NAME": "live test",
                "GIT_COMMITTER_EMAIL": "live@127.0.0.1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null",
            },
        )
        if result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()


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
