"""Exit 0 when the metrics API that the HPA needs is serving, 1 (with the reason) when it is not.

Runs in the `metrics-server-check` CronJob with only the Python standard library. It asks the API server,
with the pod's own service account, for
  1. the APIService v1beta1.metrics.k8s.io and its Available condition, and
  2. node metrics (GET /apis/metrics.k8s.io/v1beta1/nodes): at least one node must report usage.
Argo CD shows the CronJob Degraded when its last run failed, the first one included (the CronJob health
check in argocd-cm), so the verdict is visible in the UI.

At the end of every run it writes the verdict onto its own CronJob as three annotations (RESULT, FINISHED,
REASON; a JSON merge patch that touches nothing else): while the next run is in progress the CronJob's
status cannot say how the previous one ended, and the health check needs to know. The CronJob's name and
namespace reach the pod through its environment (cronjob.yaml); its Role may patch that CronJob only.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

APISERVICE = "v1beta1.metrics.k8s.io"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Where the pod finds its CronJob (cronjob.yaml sets both).
NAME_VARIABLE, NAMESPACE_VARIABLE = "CHECK_CRONJOB_NAME", "CHECK_CRONJOB_NAMESPACE"
# The last finished run's verdict, which terraform/modules/k3s-cloud-init/files/cronjob-health.lua reads.
# It has no string library, hence one value per annotation and a time that compares as a string.
RESULT = "stock-gitops/last-check"  # SUCCEEDED or FAILED
FINISHED = "stock-gitops/last-check-finished"  # RFC 3339 UTC to the second, like the CronJob's status
REASON = "stock-gitops/last-check-reason"  # what a person reads in the health message
SUCCEEDED, FAILED = "succeeded", "failed"
REASON_CHARS = 300
FIELD_MANAGER = "metrics-server-check"


class CheckFailedError(Exception):
    """The metrics API is not usable; the message says why."""


class RecordError(Exception):
    """The verdict could not be written onto the CronJob; the message says why."""


class ConfigError(Exception):
    """The pod lacks something the check needs; the message names it."""


def apiservice_problem(apiservice: dict) -> str | None:
    """Why the APIService is not Available, or None when it is."""
    for condition in apiservice.get("status", {}).get("conditions", []):
        if condition.get("type") == "Available":
            if condition.get("status") == "True":
                return None
            return f"{APISERVICE} is not Available: {condition.get('reason')}: {condition.get('message')}"
    return f"{APISERVICE} reports no Available condition yet"


def node_metrics_problem(node_metrics: dict) -> str | None:
    """Why the node metrics list is unusable, or None when at least one node reports usage."""
    reporting = [item for item in node_metrics.get("items", []) if item.get("usage", {}).get("cpu")]
    if not reporting:
        return "the metrics API answers but no node reports CPU usage yet"
    return None


def get_json(base_url: str, path: str, token: str, context: ssl.SSLContext) -> dict:
    # base_url is always https://<KUBERNETES_SERVICE_HOST>, built in main().
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise CheckFailedError(f"GET {path}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise CheckFailedError(f"GET {path}: {error}") from error


def check_once(base_url: str, token: str, context: ssl.SSLContext) -> None:
    path = f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}"
    problem = apiservice_problem(get_json(base_url, path, token, context))
    if problem is None:
        problem = node_metrics_problem(
            get_json(base_url, "/apis/metrics.k8s.io/v1beta1/nodes", token, context)
        )
    if problem:
        raise CheckFailedError(problem)


def verdict_patch(result: str, reason: str, finished: float) -> dict:
    """The JSON merge patch that records a run's verdict; it sets these three annotations and no others."""
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 3] + "..."
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished))
    return {"metadata": {"annotations": {RESULT: result, FINISHED: stamp, REASON: reason}}}


def record_verdict(
    base_url: str, token: str, context: ssl.SSLContext, namespace: str, name: str, patch: dict
) -> None:
    path = f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}"
    request = urllib.request.Request(  # noqa: S310 (base_url: see get_json)
        f"{base_url}{path}?fieldManager={FIELD_MANAGER}",
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context):  # noqa: S310
            return
    except urllib.error.HTTPError as error:
        raise RecordError(f"PATCH {path}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise RecordError(f"PATCH {path}: {error}") from error


def first_problem(
    base_url: str, token: str, context: ssl.SSLContext, attempts: int, interval: float
) -> str | None:
    """None as soon as one attempt passes; else the last attempt's problem."""
    problem = None
    for attempt in range(1, attempts + 1):
        try:
            check_once(base_url, token, context)
        except CheckFailedError as failure:
            problem = str(failure)
            print(f"attempt {attempt}/{attempts}: {problem}", flush=True)
            if attempt < attempts:
                time.sleep(interval)
        else:
            return None
    return problem


def run(
    base_url: str,
    token: str,
    context: ssl.SSLContext,
    cronjob: tuple[str, str],
    attempts: int,
    interval: float,
) -> int:
    """Check, record the verdict on the CronJob `cronjob` (namespace, name), and return the exit code."""
    problem = first_problem(base_url, token, context, attempts, interval)
    result, reason = (
        (SUCCEEDED, f"{APISERVICE} is Available and node metrics are flowing")
        if problem is None
        else (FAILED, problem)
    )
    namespace, name = cronjob
    try:
        record_verdict(base_url, token, context, namespace, name, verdict_patch(result, reason, time.time()))
        recorded = None
    except RecordError as error:
        recorded = (
            f"could not record the verdict on CronJob {namespace}/{name} ({error}), so Argo CD cannot tell "
            "how this run ended while the next one runs; check the Role in rbac.yaml."
        )
    if problem is None:
        print(f"OK: {reason}; the HPA can scale.")
        if recorded:
            print(f"FAILED: {recorded}")
            return 1
        return 0
    if recorded:
        print(f"Also {recorded}")
    print(f"FAILED: the HPA cannot scale. Check `kubectl -n kube-system get apiservice {APISERVICE}`.")
    return 1


def required(variable: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigError(f"the environment variable {variable} is not set (cronjob.yaml sets it)")
    return value


def number(variable: str, default: str) -> float:
    value = os.environ.get(variable, default)
    try:
        parsed = float(value)
    except ValueError:
        raise ConfigError(f"{variable}={value!r} is not a number") from None
    if parsed < 0:
        raise ConfigError(f"{variable}={value!r} is negative")
    return parsed


def main() -> int:
    try:
        # A freshly restarted metrics-server needs a scrape interval or two: retry before calling it broken.
        attempts = max(1, int(number("CHECK_ATTEMPTS", "6")))
        interval = number("CHECK_INTERVAL_SECONDS", "10")
        host, port = required("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        base_url = f"https://{host}:{port}"
        cronjob = (required(NAMESPACE_VARIABLE), required(NAME_VARIABLE))
        try:
            token = (SERVICE_ACCOUNT / "token").read_text().strip()
            context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"the service account's token or CA in {SERVICE_ACCOUNT}: {error}") from error
    except ConfigError as error:
        print(f"FAILED: cannot run the check: {error}", flush=True)
        return 2
    return run(base_url, token, context, cronjob, attempts, interval)


if __name__ == "__main__":
    sys.exit(main())
