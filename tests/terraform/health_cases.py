"""The cases both health-check tests run: Lua 5.1 in test_argocd_helmchart.py, real Argo CD in
test_health_in_argocd.py. Each case is (resource, expected status, a part of the expected message).
"""

from __future__ import annotations

import pytest
import yaml
from check import FAILED, FINISHED, REASON, RESULT, SUCCEEDED

APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
CRONJOB_HEALTH_KEY = "resource.customizations.health.batch_CronJob"


def argocd_values(rendered: dict) -> dict:
    return yaml.safe_load(rendered["argocd_helmchart"]["spec"]["valuesContent"])


# --- child Applications ---------------------------------------------------------------------------

REVISION = "0123456789abcdef0123456789abcdef01234567"
OLD_REVISION = "fedcba9876543210fedcba9876543210fedcba98"


AUTOMATED = {"automated": {"prune": True, "selfHeal": True}}


def child(status: dict | None = None, sync_policy: dict | None = AUTOMATED) -> dict:
    app: dict = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "platform"},
    }
    app["spec"] = (
        {"project": "stock"} if sync_policy is None else {"project": "stock", "syncPolicy": sync_policy}
    )
    return app if status is None else {**app, "status": status}


def arrived(sync_policy: dict | None = AUTOMATED, **changes: object) -> dict:
    """A child that has fully arrived (Healthy, Synced, last sync succeeded), with `changes` on top."""
    status = {
        "health": {"status": "Healthy"},
        "sync": {"status": "Synced", "revision": REVISION},
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "syncResult": {"revision": REVISION},
        },
    }
    return child({**status, **changes}, sync_policy)


def failed_sync(revision: str = REVISION, phase: str = "Failed") -> dict:
    return {
        "phase": phase,
        "message": "one or more objects failed to apply: Deployment is invalid",
        "syncResult": {"revision": revision},
    }


APPLICATION_CASES = [
    pytest.param(arrived(), "Healthy", "", id="healthy-synced-succeeded"),
    # A child without an operation yet (created by hand, or before its first auto-sync finished).
    pytest.param(
        child({"health": {"status": "Healthy"}, "sync": {"status": "Synced"}}),
        "Healthy",
        "",
        id="healthy-synced-no-operation",
    ),
    # Just created by the root: the controller has not assessed it yet, so the wave must wait.
    pytest.param(child(), "Progressing", "waiting", id="no-status"),
    pytest.param(child({"sync": {"status": "OutOfSync"}}), "Progressing", "waiting", id="no-health"),
    pytest.param(child({"health": {}}), "Progressing", "waiting", id="empty-health"),
    pytest.param(arrived(health={"status": "Progressing"}), "Progressing", "", id="progressing"),
    pytest.param(
        arrived(health={"status": "Degraded", "message": "Deployment exceeded its progress deadline"}),
        "Degraded",
        "Deployment exceeded its progress deadline",
        id="degraded",
    ),
    pytest.param(arrived(health={"status": "Missing"}), "Missing", "", id="missing"),
    pytest.param(
        arrived(health={"status": "Suspended", "message": "paused"}),
        "Suspended",
        "paused",
        id="suspended",
    ),
    # Argo CD leaves missing resources out of health: a half-applied child can say Healthy.
    pytest.param(
        arrived(sync={"status": "OutOfSync", "revision": REVISION}),
        "Progressing",
        "OutOfSync",
        id="healthy-but-out-of-sync",
    ),
    pytest.param(arrived(sync={"status": "Unknown"}), "Progressing", "Unknown", id="healthy-sync-unknown"),
    pytest.param(child({"health": {"status": "Healthy"}}), "Progressing", "unknown", id="healthy-no-sync"),
    pytest.param(
        arrived(operationState={"phase": "Running", "message": "waiting for completion"}),
        "Progressing",
        "Running",
        id="sync-running",
    ),
    pytest.param(
        arrived(operationState={"phase": "Terminating"}),
        "Progressing",
        "Terminating",
        id="sync-terminating",
    ),
    # A sync that failed holds the next wave back, even while everything that did apply is healthy.
    pytest.param(arrived(operationState=failed_sync()), "Degraded", "failed to apply", id="sync-failed"),
    pytest.param(arrived(operationState=failed_sync(phase="Error")), "Degraded", "Error", id="sync-error"),
    pytest.param(
        arrived(sync={"status": "OutOfSync", "revision": REVISION}, operationState=failed_sync(OLD_REVISION)),
        "Degraded",
        "failed to apply",
        id="old-failure-still-out-of-sync",
    ),
    # A sync that errored before applying anything (no result) matters while the child is not Synced.
    pytest.param(
        arrived(
            sync={"status": "OutOfSync", "revision": REVISION},
            operationState={"phase": "Error", "message": "repository not reachable"},
        ),
        "Degraded",
        "repository not reachable",
        id="error-without-result-out-of-sync",
    ),
    pytest.param(
        arrived(operationState={"phase": "Error", "message": "repository not reachable"}),
        "Healthy",
        "",
        id="error-without-result-then-synced",
    ),
    # Reverting the bad commit can leave nothing to apply: an old revision's failure is history.
    pytest.param(
        arrived(operationState=failed_sync(OLD_REVISION)),
        "Healthy",
        "",
        id="old-failure-then-synced-at-new-revision",
    ),
    pytest.param(
        arrived(conditions=[{"type": "ComparisonError", "message": "app path does not exist"}]),
        "Degraded",
        "ComparisonError: app path does not exist",
        id="comparison-error",
    ),
    pytest.param(
        arrived(conditions=[{"type": "InvalidSpecError", "message": "project stock not found"}]),
        "Degraded",
        "InvalidSpecError",
        id="invalid-spec",
    ),
    # Synced by hand (the load test): OutOfSync is its resting state and its runs are a person's
    # business, so only its own health counts, or the parent's last wave would wait for a click.
    pytest.param(
        arrived(None, sync={"status": "OutOfSync", "revision": REVISION}, operationState=None),
        "Healthy",
        "",
        id="manual-child-out-of-sync",
    ),
    pytest.param(arrived(None, operationState=failed_sync()), "Healthy", "", id="manual-child-run-failed"),
    pytest.param(
        arrived({"automated": {"enabled": False}}, sync={"status": "OutOfSync"}),
        "Healthy",
        "",
        id="automation-switched-off",
    ),
    pytest.param(
        arrived(None, health={"status": "Degraded", "message": "Job failed"}),
        "Degraded",
        "Job failed",
        id="manual-child-degraded",
    ),
    pytest.param(child(None, None), "Progressing", "waiting", id="manual-child-not-assessed"),
    pytest.param(arrived({}, sync={"status": "OutOfSync"}), "Healthy", "", id="no-automated-key"),
    pytest.param(
        arrived(conditions=[{"type": "SharedResourceWarning", "message": "also in root"}]),
        "Healthy",
        "",
        id="warnings-do-not-count",
    ),
    # The root, seen by its own sync while that sync runs: waiting for itself would never end.
    pytest.param(
        {
            **child({"health": {"status": "Healthy"}, "operationState": {"phase": "Running"}}),
            "metadata": {
                "name": "root",
                "namespace": "argocd",
                "annotations": {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/root"},
            },
        },
        "Healthy",
        "manages itself",
        id="self-managed-root-syncing",
    ),
    pytest.param(
        {
            **child({"health": {"status": "Healthy"}, "operationState": {"phase": "Running"}}),
            "metadata": {
                "name": "platform",
                "namespace": "argocd",
                "annotations": {
                    "argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/platform"
                },
            },
        },
        "Progressing",
        "sync Running",
        id="child-managed-by-root-syncing",
    ),
]


# --- the CronJob of the metrics-server check --------------------------------------------------------

SCHEDULED = "2026-11-30T13:05:00Z"
EARLIER = "2026-11-30T13:00:00Z"


def cronjob(status: dict | None = None, *, suspend: bool = False, verdict: dict | None = None) -> dict:
    metadata = {"name": "metrics-server-check", "namespace": "kube-system"}
    if verdict is not None:
        metadata["annotations"] = verdict
    job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {"schedule": "*/5 * * * *", "suspend": suspend},
    }
    return job if status is None else {**job, "status": status}


def verdict(result: str, finished: str, reason: str = "v1beta1.metrics.k8s.io is not Available") -> dict:
    """The annotations check.py writes onto its CronJob at the end of a run (its own key names)."""
    return {RESULT: result, FINISHED: finished, REASON: reason}


ACTIVE = [{"kind": "Job", "name": "metrics-server-check-29410385", "namespace": "kube-system"}]


CRONJOB_CASES = [
    # Not yet run: nothing known to be wrong, and the platform wave must not wait a schedule for it.
    pytest.param(cronjob(), "Healthy", "not been scheduled", id="no-status"),
    pytest.param(cronjob({}), "Healthy", "not been scheduled", id="empty-status"),
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED, "active": ACTIVE}),
        "Progressing",
        "no run has succeeded",
        id="first-run-in-progress",
    ),
    # The case the built-in check reports Healthy: metrics-server broken from day one.
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED}),
        "Degraded",
        "no run has succeeded",
        id="first-run-failed",
    ),
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED, "active": []}),
        "Degraded",
        "no run has succeeded",
        id="first-run-failed-empty-active",
    ),
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:05:09Z"}),
        "Healthy",
        "succeeded",
        id="last-run-succeeded",
    ),
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:00:08Z"}),
        "Degraded",
        "failed",
        id="last-run-failed-after-a-success",
    ),
    pytest.param(
        cronjob(
            {
                "lastScheduleTime": SCHEDULED,
                "lastSuccessfulTime": "2026-11-30T13:00:08Z",
                "active": ACTIVE,
            }
        ),
        "Healthy",
        "in progress",
        id="run-in-progress-after-a-success",
    ),
    # The defect the annotations fix: the run before the one in progress failed (13:00), the last success
    # is older (12:55); the status alone reads like run-in-progress-after-a-success.
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T12:55:07Z", "active": ACTIVE},
            verdict=verdict(
                FAILED, "2026-11-30T13:01:02Z", "GET /apis/metrics.k8s.io/v1beta1/nodes: HTTP 503"
            ),
        ),
        "Degraded",
        "the last finished run failed (at 2026-11-30T13:01:02Z: GET /apis/metrics.k8s.io/v1beta1/nodes: "
        "HTTP 503); the last success finished at 2026-11-30T12:55:07Z",
        id="run-in-progress-after-a-failed-run",
    ),
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "active": ACTIVE}, verdict=verdict(FAILED, "2026-11-30T13:01:02Z")
        ),
        "Degraded",
        "failed (at 2026-11-30T13:01:02Z: v1beta1.metrics.k8s.io is not Available); no run has succeeded yet",
        id="run-in-progress-after-nothing-but-failures",
    ),
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:00:08Z", "active": ACTIVE},
            verdict=verdict(SUCCEEDED, "2026-11-30T13:00:07Z", "node metrics are flowing"),
        ),
        "Healthy",
        "in progress; the last successful run finished at 2026-11-30T13:00:08Z",
        id="run-in-progress-after-a-recorded-success",
    ),
    # A failure recorded before the last success is stale (that success could not annotate): not believed.
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:00:08Z", "active": ACTIVE},
            verdict=verdict(FAILED, "2026-11-30T12:55:41Z"),
        ),
        "Healthy",
        "in progress",
        id="run-in-progress-stale-failure",
    ),
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:00:08Z", "active": ACTIVE},
            verdict={RESULT: FAILED},
        ),
        "Healthy",
        "in progress",
        id="run-in-progress-failure-without-time",
    ),
    # Without a run in progress the status decides, as before: a failed manual run after a successful
    # scheduled one does not turn it red.
    pytest.param(
        cronjob(
            {"lastScheduleTime": SCHEDULED, "lastSuccessfulTime": "2026-11-30T13:05:09Z"},
            verdict=verdict(FAILED, "2026-11-30T13:07:30Z"),
        ),
        "Healthy",
        "the last run succeeded",
        id="finished-runs-judged-by-the-status",
    ),
    pytest.param(
        cronjob({"lastScheduleTime": SCHEDULED}, suspend=True), "Suspended", "suspended", id="suspended"
    ),
    pytest.param(
        cronjob({"lastScheduleTime": EARLIER, "lastSuccessfulTime": "2026-11-30T12:55:07Z"}),
        "Degraded",
        "12:55:07",
        id="message-names-the-last-success",
    ),
]
