"""Scenario 1: from the root Application alone, the whole tree comes up, in wave order, on the agents."""

from __future__ import annotations

import itertools

from live_helpers import Live, Timeline, app_summary

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
NAMESPACE = "stock-app"


def waves(live: Live) -> dict[str, int]:
    return {
        name: int(app["metadata"].get("annotations", {}).get(WAVE_ANNOTATION, "0"))
        for name, app in live.applications().items()
        if name != "root"
    }


def test_every_automated_application_is_synced_and_healthy(live: Live, bootstrap: Timeline) -> None:
    for app in live.applications().values():
        if app["spec"].get("syncPolicy", {}).get("automated") is None:
            continue
        status = app["status"]
        state = (status["sync"]["status"], status["health"]["status"])
        assert state == ("Synced", "Healthy"), app_summary(app)


def test_children_come_up_in_wave_order(live: Live, bootstrap: Timeline) -> None:
    """A later wave's Application is created only once every earlier wave is Healthy (the health check)."""
    order = sorted(waves(live).items(), key=lambda item: item[1])
    assert [name for name, _ in order][:3] == ["platform", "stock-app", "loadtest"], order
    for (earlier, earlier_wave), (later, later_wave) in itertools.pairwise(order):
        if earlier_wave == later_wave or earlier not in bootstrap.healthy:
            continue
        # Polled every 0.5 s: the later one appears no earlier than the poll that saw the earlier one healthy.
        early = bootstrap.healthy[earlier] - bootstrap.created[later]
        assert early <= 0.5, (
            f"{later} (wave {later_wave}) was created {early:.1f} s before {earlier} was Healthy"
        )


def test_the_project_exists_before_its_applications(live: Live, bootstrap: Timeline) -> None:
    project = live.get("appproject", "stock", "-n", "argocd")
    for name, app in live.applications().items():
        if app["spec"]["project"] == "stock":
            assert project["metadata"]["creationTimestamp"] <= app["metadata"]["creationTimestamp"], name


def test_loadtest_stays_manual(live: Live, bootstrap: Timeline) -> None:
    app = live.applications()["loadtest"]
    assert app["spec"].get("syncPolicy", {}).get("automated") is None, app["spec"].get("syncPolicy")
    assert "operationState" not in app.get("status", {}), (
        f"loadtest was synced without anyone asking: {app_summary(app)}"
    )
    assert not live.get("jobs", "-n", NAMESPACE)["items"], "the load test Job ran without a manual sync"


def test_stock_app_pods_run_on_agents_only(live: Live, bootstrap: Timeline) -> None:
    nodes = live.get("nodes")["items"]
    agents = {n["metadata"]["name"] for n in nodes if n["metadata"]["labels"].get("nodepool") == "worker"}
    server = {
        n["metadata"]["name"]
        for n in nodes
        if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]
    }
    assert agents, f"no agent node (nodepool=worker): {[n['metadata']['labels'] for n in nodes]}"
    assert server, f"no server node: {[n['metadata']['labels'] for n in nodes]}"
    pods = live.get("pods", "-n", NAMESPACE)["items"]
    assert pods, "no pod in stock-app"
    for pod in pods:
        name, node = pod["metadata"]["name"], pod["spec"].get("nodeName")
        assert node in agents, f"pod {name} is on {node!r}, not on an agent ({sorted(agents)})"
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}.get("Ready")
        assert ready == "True", f"pod {name} on {node} is not Ready: {pod['status']}"


def test_pod_security_admission_is_enforced(live: Live, bootstrap: Timeline) -> None:
    """Every running pod was admitted at the namespace's level; the API server refuses a privileged one."""
    labels = live.get("namespace", NAMESPACE)["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    privileged = """
apiVersion: v1
kind: Pod
metadata: {name: psa-probe, namespace: stock-app}
spec:
  containers:
    - name: probe
      image: registry.k8s.io/pause:3.10
      securityContext: {privileged: true}
"""
    result = live.kubectl("create", "--dry-run=server", "-f", "-", stdin=privileged, check=False)
    assert result.returncode != 0, "the API server admitted a privileged pod into stock-app"
    assert "violates PodSecurity" in result.stderr, result.stderr
