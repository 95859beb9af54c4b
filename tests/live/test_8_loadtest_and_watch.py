"""Issue 13, scenarios 5 and 7: the load test is re-run from Argo CD, and `make watch` shows the app.

Syncing `loadtest` (the CLI's `argocd app sync`, as the UI's SYNC button does) runs its Sync-hook Job to
the end; a second sync runs a new Job (BeforeHookCreation), not "already exists"; nothing else in the
namespace changes. On kwok the Job's pod "completes" without running: what is shown is Argo CD's side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from live_helpers import REPO_ROOT, Live, Timeline, app_summary, poll

APP = "loadtest"
NAMESPACE = "stock-app"
JOB = "stock-loadtest"
TRACKING = "argocd.argoproj.io/tracking-id"
SYNC_TIMEOUT = 240
# Everything the stock app consists of; the load test must not touch any of it.
KINDS = "deployments,replicasets,services,horizontalpodautoscalers,poddisruptionbudgets,networkpolicies,ingresses,configmaps,serviceaccounts"  # noqa: E501


def namespace_snapshot(live: Live) -> dict[str, tuple]:
    """Each object's identity and what a sync could change: spec (data for a ConfigMap) and generation.
    Deployment replicas belong to the HPA and are left out, and so is what `loadtest` itself deploys
    (its script's ConfigMap): Argo CD's tracking annotation names the owning Application."""
    snapshot = {}
    for item in live.get(KINDS, "-n", NAMESPACE)["items"]:
        tracking = item["metadata"].get("annotations", {}).get(TRACKING, "")
        if tracking.startswith(f"{APP}:"):
            continue
        spec = dict(item.get("spec") or item.get("data") or {})
        if item["kind"] in ("Deployment", "ReplicaSet"):
            spec.pop("replicas", None)
        metadata = item["metadata"]
        key = f"{item['kind']}/{metadata['name']}"
        snapshot[key] = (metadata["uid"], metadata.get("generation"), json.dumps(spec, sort_keys=True))
    return snapshot


def sync_once(live: Live, previous: str | None) -> dict:
    """`argocd app sync loadtest`, then the operation it started (a newer one than `previous`) finished."""
    result = live.argocd("app", "sync", APP, "--timeout", str(SYNC_TIMEOUT), check=False,
                         timeout=SYNC_TIMEOUT + 60)  # fmt: skip
    output = f"{result.stdout.strip()[-2000:]}\n{result.stderr.strip()[-2000:]}"
    assert result.returncode == 0, (
        f"argocd app sync {APP} failed:\n{output}\n{app_summary(live.application(APP))}"
    )

    def finished():
        operation = live.application(APP).get("status", {}).get("operationState", {})
        if operation.get("startedAt") in (None, previous) or operation.get("phase") == "Running":
            return None
        return operation

    operation = poll(
        f"the operation of `argocd app sync {APP}` in the Application's status",
        finished,
        SYNC_TIMEOUT,
        0.5,
        lambda: f"{app_summary(live.application(APP))}\nCLI: {output}",
    )
    assert operation["phase"] == "Succeeded", app_summary(live.application(APP))
    job = live.get("job", JOB, "-n", NAMESPACE)
    return {"job": job, "operation": operation}


def test_syncing_loadtest_twice_runs_the_job_twice_and_changes_nothing_else(
    live: Live, bootstrap: Timeline
) -> None:
    before = namespace_snapshot(live)
    first = sync_once(live, None)
    second = sync_once(live, first["operation"]["startedAt"])
    runs = [first["job"], second["job"]]
    for run in runs:
        status = run.get("status", {})
        assert status.get("succeeded") == 1, f"Job {JOB} did not complete: {status}"
    assert runs[0]["metadata"]["uid"] != runs[1]["metadata"]["uid"], (
        "the second sync did not create a new Job: the load test did not run again"
    )
    assert first["operation"]["startedAt"] != second["operation"]["startedAt"]
    hooks = [r for r in second["operation"]["syncResult"].get("resources", []) if r.get("kind") == "Job"]
    assert [h.get("hookPhase") for h in hooks] == ["Succeeded"], f"the hook Job's result: {hooks}"
    after = namespace_snapshot(live)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the load test's syncs changed other objects in {NAMESPACE}: {changed}"


def test_make_watch_shows_hpa_deployments_pods_and_their_usage(live: Live, bootstrap: Timeline) -> None:
    env = {**os.environ, "KUBECONFIG": live.kubeconfig, "KUBECTL": live.kubectl_bin}

    # Metrics appear a scrape after the pods; poll for a screen whose every section worked.
    def one_screen():
        result = subprocess.run(
            ["make", "-s", "watch", "WATCH_ARGS=--once", f"PY={sys.executable}"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return result if result.returncode == 0 else None

    def explain() -> str:
        result = subprocess.run(
            [sys.executable, "tools/cluster/watch.py", "--once"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return result.stdout + result.stderr

    result = poll("make watch prints every section (HPA, DEP, PODS, TOP) without an error", one_screen, 120,
                  2.0, explain)  # fmt: skip
    out = result.stdout
    for title in ("=== HPA ===", "=== DEP ===", "=== PODS ===", "=== TOP ==="):
        assert title in out, f"{title} missing from make watch:\n{out}"
    pods = live.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=stock-backend")["items"]
    pods_section = out.split("=== PODS ===")[1].split("=== TOP ===")[0]
    top_section = out.split("=== TOP ===")[1]
    for pod in pods:
        name, node = pod["metadata"]["name"], pod["spec"].get("nodeName", "")
        line = next((row for row in pods_section.splitlines() if row.startswith(name)), "")
        assert node, f"{name} is not scheduled"
        assert node in line, f"PODS does not show {name} on its node {node}:\n{pods_section}"
        assert name in top_section, f"TOP has no usage for {name}:\n{top_section}"
    assert "stock-backend" in out.split("=== HPA ===")[1].split("=== DEP ===")[0], out
