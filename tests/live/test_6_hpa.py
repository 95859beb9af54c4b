"""Scenario 6: the backend's HPA computes from real metrics and scales 2 -> 8 -> 2 by hpa.yaml's behavior.

metrics-server (built from source) scrapes kwok's simulated kubelets; the pods' CPU is kwok's simulated
usage, set here to 3x the HPA's target. The HPA controller, the Deployment and ReplicaSet controllers and
the scheduler are real. Every rescale is checked against the `behavior` of apps/stock-app/backend/hpa.yaml
(the checkout's, the one source of truth): no step larger than its policies allow at that moment, none
before its stabilization window has passed.
"""

from __future__ import annotations

import math
import time

import pytest
import yaml
from live_helpers import REPO_ROOT, Live, poll, record_timing
from metrics_helpers import Load, ScaleWatch, cpu_millis, pods_reporting, rules, simulated, step_limit

HPA_FILE = REPO_ROOT / "apps" / "stock-app" / "backend" / "hpa.yaml"
NAMESPACE = "stock-app"
LOAD_FACTOR = 3  # the scenario: 3x the target utilisation
# Metrics need two scrapes (--metric-resolution 15 s) to show a new rate, the HPA syncs every 15 s;
# on top of what the behavior itself takes.
SLACK_SECONDS = 90
# kube-controller-manager's --horizontal-pod-autoscaler-sync-period: Kubernetes' default, which K3s keeps
# and so does the harness. The last recommendation before the load changed can be this old, so a
# stabilization window may end up to this much earlier than window seconds after the change.
HPA_SYNC_SECONDS = 15


def target(hpa: dict) -> int:
    (metric,) = [
        m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"
    ]
    return metric["resource"]["target"]["averageUtilization"]


def duration(hpa: dict, direction: str, start: int, end: int) -> float:
    """How long hpa.yaml's behavior takes from start to end replicas (each step when allowed), plus slack."""
    history = [(-3600.0, start)]
    at = float(rules(hpa, direction)["stabilizationWindowSeconds"])
    while history[-1][1] != end and at < 3600:
        limit = step_limit(hpa, direction, history, at)
        if limit != history[-1][1]:
            history.append((at, min(limit, end) if direction == "up" else max(limit, end)))
        at += 1
    return history[-1][0] + SLACK_SECONDS


def check_steps(
    hpa: dict, direction: str, before: int, events: list[tuple[float, int]], changed: float
) -> None:
    """Each rescale no bigger than hpa's policies allow at that moment, the first after the window."""
    assert events, f"the HPA never rescaled ({direction})"
    window = rules(hpa, direction)["stabilizationWindowSeconds"]
    # lastScaleTime has whole seconds.
    assert events[0][0] >= math.floor(changed) + window - HPA_SYNC_SECONDS, (
        f"first scale-{direction} {events[0][0] - changed:.0f} s after the load changed, before the "
        f"{window} s stabilization window of hpa.yaml (less one {HPA_SYNC_SECONDS} s HPA sync) was over"
    )
    history = [(changed - 3600, before)]
    for when, replicas in events:
        limit = step_limit(hpa, direction, history, when)
        previous = history[-1][1]
        within = replicas <= limit if direction == "up" else replicas >= limit
        assert within, (
            f"scale-{direction} {previous} -> {replicas} at +{when - changed:.0f} s; "
            f"hpa.yaml's behavior allows {limit} then (the replicas one policy period earlier: "
            f"{[(p['type'], p['value'], p['periodSeconds']) for p in rules(hpa, direction)['policies']]})"
        )
        history.append((when, replicas))


def test_hpa_scales_2_to_8_and_back_by_the_behavior_in_hpa_yaml(live: Live, bootstrap) -> None:
    if not simulated(live):
        pytest.skip(
            "pod CPU is kwok's simulated usage; on a real cluster the CI job's load test scales the HPA"
        )
    hpa = yaml.safe_load(HPA_FILE.read_text())
    name = hpa["metadata"]["name"]
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    deployment = live.get("deployment", hpa["spec"]["scaleTargetRef"]["name"], "-n", NAMESPACE)
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    containers = deployment["spec"]["template"]["spec"]["containers"]
    request = sum(cpu_millis(c["resources"]["requests"]["cpu"]) for c in containers)
    # kwok applies the annotation to each container; together they use LOAD_FACTOR x the target.
    per_container = LOAD_FACTOR * target(hpa) / 100 * request / len(containers)
    watch = ScaleWatch(live, NAMESPACE, name)

    def replicas() -> tuple[int, int]:
        status = live.get("deployment", deployment["metadata"]["name"], "-n", NAMESPACE)["status"]
        return status.get("replicas", 0), status.get("readyReplicas", 0)

    def explain() -> str:
        current = watch.poll()
        return f"HPA status: {current.get('status')}\nrescales so far: {watch.events}\npods: {replicas()}"

    poll("the HPA computing from metrics at minReplicas",
         lambda: scaling_active(watch.poll()) and replicas() == (low, low), 120, 1, explain)  # fmt: skip

    with Load(live, NAMESPACE, selector) as load:
        began = time.time()
        load.set(f"{per_container:.0f}m")
        poll(f"{high} Ready replicas at {LOAD_FACTOR}x the target",
             lambda: (watch.poll(), replicas())[1] == (high, high), duration(hpa, "up", low, high), 1,
             explain)  # fmt: skip
        up_seconds = time.time() - began
        up_events = watch.since(began)
        check_steps(hpa, "up", low, up_events, began)
        # Until a new pod reports, the HPA counts it at the target when scaling down: the first step
        # would follow from that, not from the behavior. A user lowering the load meets all pods warm.
        poll(f"metrics from all {high} pods", lambda: len(pods_reporting(live, NAMESPACE, selector)) == high,
             SLACK_SECONDS, 1, explain)  # fmt: skip

        fell = time.time()
        load.set(None)
        poll(f"back to {low} replicas once usage fell",
             lambda: (watch.poll(), replicas())[1] == (low, low), duration(hpa, "down", high, low), 1,
             explain)  # fmt: skip
        down_seconds = time.time() - fell
        down_events = watch.since(fell)
        check_steps(hpa, "down", high, down_events, fell)
        assert not load.errors, f"setting the simulated usage failed: {load.errors}"

    record_timing("hpa_2_to_8_s", up_seconds)
    record_timing("hpa_8_to_2_s", down_seconds)
    print(f"scale-up steps (s after the load, replicas): {[(round(t - began), r) for t, r in up_events]}")
    print(f"scale-down steps (s after the fall, replicas): {[(round(t - fell), r) for t, r in down_events]}")


def scaling_active(hpa: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in hpa.get("status", {}).get("conditions", [])}
    return conditions.get("ScalingActive") == "True"
