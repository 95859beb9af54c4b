"""Scenario 2: a commit the API server rejects fails the sync loudly, loses nothing, and a revert heals."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from live_helpers import REPO_ROOT, Live, Timeline, app_summary, poll, record_timing

SERVICE = "apps/stock-app/backend/service.yaml"
APP = "stock-app"
NAMESPACE = "stock-app"
SYNC_TIMEOUT = 240


def backend_state(live: Live) -> tuple[str, list[str], set[str]]:
    """The backend Deployment's pod template (its version), its images, and the UIDs of its Ready pods."""
    deployment = live.get("deployment", "stock-backend", "-n", NAMESPACE)
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    pods = live.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=stock-backend")["items"]
    ready = {
        p["metadata"]["uid"]
        for p in pods
        if {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready") == "True"
    }
    # The template, not the generation: the HPA may change replicas, which is not a new version.
    template = json.dumps(deployment["spec"]["template"], sort_keys=True)
    return template, images, ready


def test_rejected_commit_fails_the_sync_keeps_the_app_and_revert_heals(
    live: Live, bootstrap: Timeline
) -> None:
    before = backend_state(live)
    assert before[2], "no Ready backend pod before the bad commit"
    service = live.work / SERVICE
    text = service.read_text()
    assert "      port: 80\n" in text, f"{SERVICE} changed; this scenario turns its `port: 80` into a string"
    # A port that is a string: kustomize and Argo CD's diff take it, the API server refuses it. (An unknown
    # field is no such test: Argo CD 3.5 applies without strict field validation, the API server drops
    # the field with a warning, the sync "succeeds" and the app stays OutOfSync; seen on this cluster.)
    service.write_text(text.replace("      port: 80\n", '      port: "eighty"\n', 1))
    live.git("commit", "--quiet", "-am", "A Service port that is a string: the API server must refuse it")

    # The same commit never gets this far in the repository: `make validate` refuses it (its command,
    # with the flags it passes, on the scenario's clone). Checked before the push, so that the revert
    # below follows the failure at once.
    flags = subprocess.run(
        ["make", "-s", "print-kubeconform-flags"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    validate = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.gitops.validate",
            "--cluster",
            "prod",
            "--repo-root",
            str(live.work),
            "--kubeconform-flags",
            flags,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert validate.returncode != 0, f"make validate accepted the bad commit:\n{validate.stdout}"
    assert "stock-backend" in validate.stdout + validate.stderr, validate.stdout + validate.stderr
    bad = live.push_head()

    def sync_failed():
        operation = live.applications()[APP].get("status", {}).get("operationState", {})
        revisions = {
            operation.get("syncResult", {}).get("revision"),
            operation.get("operation", {}).get("sync", {}).get("revision"),
        }
        if bad not in revisions or operation.get("phase") == "Succeeded":
            return None
        failed = [
            f"{r.get('kind')}/{r.get('name')}: {r.get('message')}"
            for r in operation.get("syncResult", {}).get("resources", [])
            if r.get("status") == "SyncFailed"
        ]
        text = " ".join([operation.get("message", ""), *failed])
        return text if "Service/stock-backend" in text else None

    message = poll(
        f"Argo CD reports the sync of {bad[:12]} as failed, naming Service stock-backend",
        sync_failed,
        SYNC_TIMEOUT,
        explain=lambda: app_summary(live.applications()[APP]),
    )
    print(f"Argo CD: {message}")
    after = backend_state(live)
    assert after[:2] == before[:2], (
        f"the backend's pod template changed under a failed sync: {before[1]} -> {after[1]}"
    )
    assert before[2] <= after[2], f"Ready backend pods were lost: {sorted(before[2] - after[2])}"
    live_port = live.get("service", "stock-backend", "-n", NAMESPACE)["spec"]["ports"][0]
    assert live_port["port"] == 80, f"the Service changed under a failed sync: {live_port}"

    # Argo CD keeps retrying the failed sync; with retry.refresh (clusters/components/sync-policy) the
    # next retry takes the revert instead of the bad commit.
    good = live.revert(bad)
    reverted = time.monotonic()

    def healed():
        app = live.applications()[APP]
        status = app.get("status", {})
        return (
            status.get("sync", {}).get("revision") == good
            and status.get("sync", {}).get("status") == "Synced"
            and status.get("health", {}).get("status") == "Healthy"
            and status.get("operationState", {}).get("phase") == "Succeeded"
        )

    poll(f"{APP} Synced and Healthy at the revert {good[:12]}", healed, SYNC_TIMEOUT,
         explain=lambda: app_summary(live.applications()[APP]))  # fmt: skip
    record_timing("bad_commit_revert_to_healthy_s", time.monotonic() - reverted)
    assert backend_state(live)[:2] == before[:2]
