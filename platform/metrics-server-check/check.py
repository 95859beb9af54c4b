"""Exit 0 when the metrics API that the HPA needs is serving, 1 (with the reason) when it is not.

Runs in the `metrics-server-check` CronJob with only the Python standard library. It asks the API server,
with the pod's own service account, for
  1. the APIService v1beta1.metrics.k8s.io and its Available condition, and
  2. node metrics (GET /apis/metrics.k8s.io/v1beta1/nodes): at least one node must report usage.
Argo CD shows the CronJob Degraded when its last run failed, the first one included (the CronJob health
check in argocd-cm), so the verdict is visible in the UI.
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


class CheckFailedError(Exception):
    """The metrics API is not usable; the message says why."""


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


def main() -> int:
    # A freshly restarted metrics-server needs a scrape interval or two: retry before calling it broken.
    attempts = int(os.environ.get("CHECK_ATTEMPTS", "6"))
    interval = float(os.environ.get("CHECK_INTERVAL_SECONDS", "10"))
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    base_url = f"https://{host}:{port}"
    token = (SERVICE_ACCOUNT / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    for attempt in range(1, attempts + 1):
        try:
            check_once(base_url, token, context)
        except CheckFailedError as failure:
            print(f"attempt {attempt}/{attempts}: {failure}", flush=True)
            if attempt < attempts:
                time.sleep(interval)
        else:
            print(f"OK: {APISERVICE} is Available and node metrics are flowing; the HPA can scale.")
            return 0
    print(f"FAILED: the HPA cannot scale. Check `kubectl -n kube-system get apiservice {APISERVICE}`.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
