"""Scenario 7 (issue 20): the metrics-server check is Healthy in Argo CD while metrics flow, Degraded within
one schedule once metrics-server stops, still Degraded while the next run is in progress (the verdict
check.py annotates its CronJob with, which Argo CD does not count as drift), and green again after a
manual run once it is back.

On the local harness the check's Job pods run for real on the host (tools/cluster/pod_runner.py: the
container's command, its ConfigMap and service-account token, as its user), because kwok runs no
containers; kwok then ends the pod with the command's exit code. The CronJob runs every minute there (the
harness shortens the schedule in its clone). The CronJob and Job controllers and Argo CD's health check
(the one in argocd-cm from terraform/modules/k3s-cloud-init) are real.
"""

from __future__ import annotations

import json
import time

from check import FAILED, FINISHED, REASON, RESULT, SUCCEEDED
from live_helpers import ARGOCD_NAMESPACE, REFRESH_ANNOTATION, Live, app_summary, poll, record_timing
from metrics_helpers import harness_metrics_server, node_metrics, restart_metrics_server, stop_metrics_server

NAMESPACE = "kube-system"
NAME = "metrics-server-check"
APP = "platform"


def schedule_seconds(schedule: str) -> int:
    """The period of an every-N-minutes schedule (what the check uses); anything else is a clear failure."""
    minute, *rest = schedule.split()
    assert rest == ["*", "*", "*", "*"], f"{NAME}'s schedule {schedule!r} is not every N minutes"
    if minute == "*":
        return 60
    assert minute.startswith("*/"), f"{NAME}'s schedule {schedule!r} is not */N"
    assert minute[2:].isdigit(), f"{NAME}'s schedule {schedule!r} is not */N"
    return int(minute[2:]) * 60


def health(live: Live) -> str:
    """Argo CD's health of the platform Application, which here is the check's.

    Argo CD 3 keeps each resource's health out of the Application (controller.resource.health.persist is
    false by default), so the CronJob's own verdict is read from the Application it rolls up into: of the
    platform's resources (RBAC, a ConfigMap, Traefik's HelmChartConfig and Middlewares, the CronJob) only
    the CronJob has a health check that can say Degraded.
    """
    return live.applications()[APP].get("status", {}).get("health", {}).get("status", "")


def last_run_succeeded(cronjob: dict) -> bool:
    status = cronjob.get("status", {})
    return (
        not status.get("active")
        and bool(status.get("lastSuccessfulTime"))
        and status["lastSuccessfulTime"] >= status.get("lastScheduleTime", "")
    )


def verdict(cronjob: dict) -> dict[str, str]:
    """What check.py recorded on its CronJob about the last run that finished (empty before any did)."""
    annotations = cronjob["metadata"].get("annotations") or {}
    return {key: annotations[key] for key in (RESULT, FINISHED, REASON) if key in annotations}


def failed_jobs(live: Live, since: str) -> list[dict]:
    """The check's Jobs that failed at `since` (RFC 3339 UTC) or later; older ones stay in the history."""
    return [
        job for job in live.get("jobs", "-n", NAMESPACE)["items"]
        if any(c["type"] == "Failed" and c["status"] == "True" and c.get("lastTransitionTime", "") >= since
               for c in job.get("status", {}).get("conditions", []))
    ]  # fmt: skip


def reevaluated(live: Live) -> dict:
    """Ask Argo CD to compare platform again now; the Application as that comparison left it.

    The controller drops the refresh annotation in the same patch that writes the status of the first
    comparison that saw it, so once it is gone the status is from a comparison that began after this call.
    """
    live.kubectl("annotate", "application", APP, "-n", ARGOCD_NAMESPACE, f"{REFRESH_ANNOTATION}=normal",
                 "--overwrite")  # fmt: skip

    def consumed() -> dict | None:
        app = live.application(APP)
        return None if REFRESH_ANNOTATION in (app["metadata"].get("annotations") or {}) else app

    return poll(
        "Argo CD compared platform again", consumed, 60, 0.5, lambda: app_summary(live.application(APP))
    )


def terminated(live: Live, job: str) -> dict:
    """The check container's terminated state in the Job's pod."""
    pods = live.get("pods", "-n", NAMESPACE, "-l", f"job-name={job}")["items"]
    assert pods, f"Job {job} has no pod left to read its result from"
    (status,) = pods[-1]["status"]["containerStatuses"]
    return status["state"].get("terminated") or {}


def test_check_is_degraded_within_one_schedule_when_metrics_stop(live: Live, bootstrap) -> None:
    cronjob = live.get("cronjob", NAME, "-n", NAMESPACE)
    period = schedule_seconds(cronjob["spec"]["schedule"])
    # A run cannot take longer than its Job's deadline.
    run = cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]

    def explain() -> str:
        current = live.get("cronjob", NAME, "-n", NAMESPACE)
        jobs = live.get("jobs", "-n", NAMESPACE)["items"]
        return (f"CronJob status: {current.get('status')}\nits verdict: {verdict(current)}\n"
                f"platform: {app_summary(live.application(APP))}\n"
                f"Jobs: {[(j['metadata']['name'], j.get('status', {}).get('conditions')) for j in jobs]}"
                )  # fmt: skip

    # Metrics flow (the bootstrap waited for the HPAs to compute from them): a scheduled run succeeded,
    # and recorded so on its CronJob (its Role lets it patch that one object).
    assert node_metrics(live), "no node reports metrics; scenario 6's metrics are not flowing"
    poll("a scheduled run of the check succeeded and recorded it, and Argo CD shows platform Healthy",
         lambda: last_run_succeeded(current := live.get("cronjob", NAME, "-n", NAMESPACE))
         and verdict(current).get(RESULT) == SUCCEEDED and health(live) == "Healthy",
         period + run + 30, 1, explain)  # fmt: skip

    stopped = time.time()
    stopped_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stopped))
    stop_metrics_server(live)
    try:
        # The failing run records its verdict before it exits, so Argo CD may say Degraded while its Job
        # is still active: wait for the Job's failure too.
        poll("Argo CD shows platform Degraded, and a run of the check failed",
             lambda: health(live) == "Degraded" and failed_jobs(live, stopped_at), period + run + 30, 1,
             explain)  # fmt: skip
        record_timing("metrics_check_degraded_after_stop_s", time.time() - stopped)
        cronjob = live.get("cronjob", NAME, "-n", NAMESPACE)
        assert not last_run_succeeded(cronjob), (
            f"platform is Degraded, but not for the check: {cronjob['status']}"
        )
        failed = failed_jobs(live, stopped_at)
        result = terminated(live, failed[-1]["metadata"]["name"])
        assert result.get("exitCode", 0) != 0, f"the failed Job's container did not fail: {result}"
        if harness_metrics_server(live):
            # The local harness's runner reports the output's tail, as FallbackToLogsOnError would.
            assert "FAILED: the HPA cannot scale" in result.get("message", ""), result
        recorded = verdict(cronjob)
        assert recorded.get(RESULT) == FAILED, f"the failed run recorded {recorded}"
        assert recorded.get(REASON), f"the failed run recorded no reason: {recorded}"
        assert recorded[FINISHED] > cronjob["status"]["lastSuccessfulTime"], (recorded, cronjob["status"])

        # The next run, in progress while metrics-server is still stopped: by its status alone (a run
        # active, an earlier success) the CronJob reads Healthy; the recorded failure keeps it Degraded.
        def evaluated_during_a_run() -> tuple[dict, dict] | None:
            active = live.get("cronjob", NAME, "-n", NAMESPACE).get("status", {}).get("active") or []
            if not active:
                return None
            app = reevaluated(live)
            after = live.get("cronjob", NAME, "-n", NAMESPACE)
            # Still the same run: Argo CD's comparison saw it in progress (else wait for the next one).
            return (app, after) if after.get("status", {}).get("active") == active else None

        app, during = poll("Argo CD evaluated platform while a later run of the check was in progress",
                           evaluated_during_a_run, period + run + 60, 1, explain)  # fmt: skip
        assert during["status"].get("lastSuccessfulTime"), (
            f"no earlier success to mislead: {during['status']}"
        )
        assert verdict(during).get(RESULT) == FAILED, f"the recorded verdict changed: {verdict(during)}"
        assert app["status"]["health"]["status"] == "Degraded", (
            f"a run is in progress after a failed one and platform is not Degraded: {app_summary(app)}"
        )
        # The annotations are not in Git, and Argo CD does not count them as drift.
        assert app["status"]["sync"]["status"] == "Synced", f"the verdict is drift: {app_summary(app)}"
    finally:
        restart_metrics_server(live)

    # The README's way back: a manual run that succeeds is the CronJob's last success at once.
    create = ("create", "job", f"--from=cronjob/{NAME}", "check-now", "-n", NAMESPACE, "-o", "json")
    created = json.loads(live.kubectl(*create).stdout)["metadata"]["creationTimestamp"]
    try:
        outcome = poll("the manual run finished", lambda: finished(live, "check-now", created), run + 30, 1,
                       explain)  # fmt: skip
        assert outcome == "Complete", f"the manual run failed: {terminated(live, 'check-now')}"
        poll("Argo CD shows platform Healthy after the manual run",
             lambda: last_run_succeeded(live.get("cronjob", NAME, "-n", NAMESPACE))
             and health(live) == "Healthy", 60, 1, explain)  # fmt: skip
        # A scheduled run that began while metrics-server was down may end after it and record a failure
        # again; the runs after it record success.
        poll("the CronJob records a success since the manual run",
             lambda: (v := verdict(live.get("cronjob", NAME, "-n", NAMESPACE))).get(RESULT) == SUCCEEDED
             and v[FINISHED] >= created, period + run + 30, 1, explain)  # fmt: skip
    finally:
        live.kubectl("delete", "job", "check-now", "-n", NAMESPACE, "--ignore-not-found", "--wait=false")


def finished(live: Live, job: str, created: str) -> str | None:
    """ "Complete" or "Failed" once the Job has finished, else None."""
    found = live.try_get("job", job, "-n", NAMESPACE)
    if found is None:
        # `create job --from` makes the CronJob the Job's owner, so its history limit (one successful Job)
        # deletes the manual run as soon as a scheduled run after it succeeds as well; the CronJob's status
        # still says how it ended (RFC 3339 UTC timestamps compare as strings).
        status = live.get("cronjob", NAME, "-n", NAMESPACE).get("status", {})
        return "Complete" if status.get("lastSuccessfulTime", "") >= created else "Failed"
    conditions = found.get("status", {}).get("conditions", [])
    done = [c["type"] for c in conditions if c["type"] in ("Complete", "Failed") and c["status"] == "True"]
    return done[0] if done else None
