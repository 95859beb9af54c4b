"""What scenarios 6 and 7 share: kwok's simulated CPU usage, the HPA's scaling rules, metrics-server.

The scaling rules follow the HPA controller (k8s.io/kubernetes pkg/controller/podautoscaler, the
`behavior` part): a step may move the replicas at most as far as the policies allow from the count one
policy period earlier; `selectPolicy: Max` takes the policy that allows the bigger change. Missing fields
take the API server's defaults, so the rules are those of whatever hpa.yaml says.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import cluster
import metrics
from live_helpers import Live

# The API server's defaults for an HPA's behavior (autoscaling/v2, SetDefaults_HorizontalPodAutoscaler).
DEFAULT_RULES = {
    "up": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    "down": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]},
}  # fmt: skip


def rules(hpa: dict, direction: str) -> dict:
    """hpa's scaleUp ("up") or scaleDown ("down") rules with the API server's defaults filled in."""
    given = hpa["spec"].get("behavior", {}).get("scaleUp" if direction == "up" else "scaleDown") or {}
    return {**DEFAULT_RULES[direction], **given}


def replicas_at(history: list[tuple[float, int]], at: float) -> int:
    """The replica count in force at time `at`; history is [(time, replicas)] in time order."""
    count = history[0][1]
    for when, replicas in history:
        if when <= at:
            count = replicas
    return count


def step_limit(hpa: dict, direction: str, history: list[tuple[float, int]], at: float) -> int:
    """How far the HPA may scale at `at`, by hpa's policies, bounded by min/maxReplicas."""
    behavior = rules(hpa, direction)
    limits = []
    for policy in behavior["policies"]:
        start = replicas_at(history, at - policy["periodSeconds"])
        if direction == "up":
            limit = (
                start + policy["value"]
                if policy["type"] == "Pods"
                else math.ceil(start * (1 + policy["value"] / 100))
            )
        else:
            limit = (
                start - policy["value"]
                if policy["type"] == "Pods"
                else int(start * (1 - policy["value"] / 100))
            )
        limits.append(limit)
    select = behavior["selectPolicy"]
    if select == "Disabled":
        return replicas_at(history, at)
    biggest_change = (select == "Max") == (direction == "up")
    chosen = max(limits) if biggest_change else min(limits)
    return (
        min(chosen, hpa["spec"]["maxReplicas"])
        if direction == "up"
        else max(chosen, hpa["spec"].get("minReplicas", 1))
    )


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class ScaleWatch:
    """The HPA's rescales as it reports them: (status.lastScaleTime, status.desiredReplicas)."""

    live: Live
    namespace: str
    name: str
    events: list[tuple[float, int]] = field(default_factory=list)
    _last: str | None = None

    def poll(self) -> dict:
        hpa = self.live.get("hpa", self.name, "-n", self.namespace)
        status = hpa.get("status", {})
        last = status.get("lastScaleTime")
        if last and last != self._last:
            self._last = last
            self.events.append((timestamp(last), status["desiredReplicas"]))
        return hpa

    def since(self, began: float) -> list[tuple[float, int]]:
        return [event for event in self.events if event[0] >= math.floor(began)]


class Load:
    """Sets kwok's simulated CPU usage of every pod a selector matches, new pods included, until stopped.

    kwok's ClusterResourceUsage `usage-from-annotation` reads the annotation kwok.x-k8s.io/usage-cpu per
    container; without it a container uses 1m. A thread keeps the annotation on every matching pod, the
    way a load balancer spreads the load over the pods that come up.
    """

    def __init__(self, live: Live, namespace: str, selector: str) -> None:
        self.live, self.namespace, self.selector = live, namespace, selector
        self.cpu: str | None = None
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.set(None)
        self._apply()
        self._stop.set()
        self._thread.join(timeout=30)

    def set(self, cpu: str | None) -> None:
        self.cpu = cpu
        self._apply()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._apply()

    def _apply(self) -> None:
        cpu = self.cpu
        pods = self.live.get("pods", "-n", self.namespace, "-l", self.selector)["items"]
        for pod in pods:
            current = (pod["metadata"].get("annotations") or {}).get(metrics.USAGE_CPU_ANNOTATION)
            if current == cpu or pod["metadata"].get("deletionTimestamp"):
                continue
            value = f"{metrics.USAGE_CPU_ANNOTATION}={cpu}" if cpu else f"{metrics.USAGE_CPU_ANNOTATION}-"
            result = self.live.kubectl("annotate", "--overwrite", "pod", pod["metadata"]["name"], "-n",
                                       self.namespace, value, check=False)  # fmt: skip
            if result.returncode != 0 and "NotFound" not in result.stderr:
                self.errors.append(result.stderr.strip())


def simulated(live: Live) -> bool:
    """Whether the nodes are kwok's (the local harness), where pod usage is kwok's to set."""
    return any(
        cluster.KWOK_NODE_ANNOTATION in (node["metadata"].get("annotations") or {})
        for node in live.get("nodes")["items"]
    )


def cpu_millis(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


# --- stopping and restarting metrics-server -------------------------------------------------------------
# On the local harness it is a process `up` recorded; on a real cluster (K3s) the Deployment in kube-system.


def harness_metrics_server(live: Live) -> dict | None:
    """How the local harness started metrics-server, if the cluster under test is the harness's."""
    state = cluster.load_state()
    return state.get("metrics_server") if state.get("kubeconfig") == live.kubeconfig else None


def stop_metrics_server(live: Live) -> None:
    """Stop metrics-server: the harness's process, or a real cluster's Deployment scaled to 0."""
    if not harness_metrics_server(live):
        live.kubectl("scale", "deployment", "metrics-server", "-n", metrics.NAMESPACE, "--replicas=0")
        return
    state = cluster.load_state()
    running = [
        e
        for e in state["processes"]
        if e["name"].startswith("metrics-server") and cluster.pid_alive(e["pid"])
    ]
    assert running, f"no metrics-server process runs: {state['processes']}"
    for entry in running:
        cluster.with_group(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(cluster.pid_alive(e["pid"]) for e in running):
        assert time.monotonic() < deadline, f"metrics-server did not stop: {running}"
        time.sleep(0.2)


def restart_metrics_server(live: Live) -> None:
    """Start it again (as `up` did; `down` stops it like every recorded process) and wait until it serves."""
    kubectl = cluster.Kubectl(live.kubectl_bin, live.kubeconfig)
    recipe = harness_metrics_server(live)
    if not recipe:
        live.kubectl("scale", "deployment", "metrics-server", "-n", metrics.NAMESPACE, "--replicas=1")
        process = None
    else:
        state = cluster.load_state()
        process = cluster.start(state, "metrics-server-restarted", recipe["argv"], [recipe["port"]])
    try:
        cluster.wait_for(f"APIService {metrics.APISERVICE} Available again",
                         lambda: metrics.apiservice_available(kubectl), 180, 1, process=process)  # fmt: skip
    except cluster.ClusterError as error:
        raise AssertionError(str(error)) from error


def node_metrics(live: Live) -> list[str]:
    return metrics.nodes_reporting(lambda *args: live.kubectl(*args).stdout)


def pods_reporting(live: Live, namespace: str, selector: str) -> list[str]:
    """The pods matching selector that metrics-server reports CPU for (what `kubectl top pods` shows)."""
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector={selector}"
    listed = json.loads(live.kubectl("get", "--raw", path).stdout)
    return [
        item["metadata"]["name"]
        for item in listed.get("items", [])
        if all(c.get("usage", {}).get("cpu") for c in item.get("containers", [])) and item.get("containers")
    ]
