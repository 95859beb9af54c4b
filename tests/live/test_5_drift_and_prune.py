"""Issue 13, scenarios 3 and 4: Argo CD undoes hand-made drift (selfHeal) but leaves the replicas the HPA
owns (ignoreDifferences), and a commit that adds or removes a manifest creates or deletes the object (prune).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from live_helpers import Live, Timeline, app_summary, poll, record_timing, wait_synced

APP = "stock-app"
NAMESPACE = "stock-app"
HEAL_TIMEOUT = 120
SYNC_TIMEOUT = 180
PROBE = "apps/stock-app/live-prune-probe.yaml"
PROBE_NAME = "live-prune-probe"


def test_a_hand_changed_service_target_port_is_restored(live: Live, bootstrap: Timeline) -> None:
    """selfHeal restores a managed field changed by hand. Not `port` itself: it is the merge key of a
    Service's ports, so kubectl's (and Argo CD's) patch adds a second port named `http` beside the
    hand-made one and the API server refuses the duplicate name; the sync then fails until someone fixes
    the Service by hand (seen on this cluster). targetPort is an ordinary field of the same entry."""
    before = live.get("service", "stock-backend", "-n", NAMESPACE)["spec"]["ports"][0]["targetPort"]
    live.kubectl("patch", "service", "stock-backend", "-n", NAMESPACE, "--type=json",
                 "-p", '[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 8081}]')  # fmt: skip
    changed = time.monotonic()

    def restored():
        ports = live.get("service", "stock-backend", "-n", NAMESPACE)["spec"]["ports"]
        return [p["targetPort"] for p in ports] == [before]

    poll(
        f"Argo CD restores Service stock-backend's targetPort {before!r} (changed by hand to 8081)",
        restored,
        HEAL_TIMEOUT,
        0.5,
        lambda: app_summary(live.application(APP)),
    )
    record_timing("drift_service_target_port_restored_s", time.monotonic() - changed)


def test_a_deleted_ingress_is_recreated(live: Live, bootstrap: Timeline) -> None:
    ingresses = live.get("ingress", "-n", NAMESPACE)["items"]
    assert ingresses, "no Ingress in stock-app to delete"
    name, uid = ingresses[0]["metadata"]["name"], ingresses[0]["metadata"]["uid"]
    live.kubectl("delete", "ingress", name, "-n", NAMESPACE, "--wait=true")

    def recreated():
        ingress = live.try_get("ingress", name, "-n", NAMESPACE)
        return ingress is not None and ingress["metadata"]["uid"] != uid

    poll(f"Argo CD recreates Ingress {name} (deleted by hand)", recreated, HEAL_TIMEOUT, 0.5,
         lambda: app_summary(live.application(APP)))  # fmt: skip


def test_hand_set_backend_replicas_are_left_alone(live: Live, bootstrap: Timeline) -> None:
    """The HPA owns /spec/replicas: Argo CD compares after the change, calls it Synced, starts no sync."""
    deployment = live.get("deployment", "stock-backend", "-n", NAMESPACE)
    before = deployment["spec"]["replicas"]
    operation_before = live.application(APP).get("status", {}).get("operationState", {}).get("startedAt")
    wanted = before + 1
    live.kubectl("scale", "deployment", "stock-backend", "-n", NAMESPACE, f"--replicas={wanted}")
    # reconciledAt has one-second resolution: a comparison stamped after this second saw the change.
    changed = datetime.now(UTC).replace(microsecond=0)

    def compared_after_the_change():
        app = live.application(APP)
        reconciled = app.get("status", {}).get("reconciledAt")
        if not reconciled or datetime.fromisoformat(reconciled.replace("Z", "+00:00")) <= changed:
            return None
        return app

    app = poll(
        f"Argo CD compares {APP} after stock-backend was scaled to {wanted} by hand",
        compared_after_the_change,
        HEAL_TIMEOUT,
        0.5,
        lambda: app_summary(live.application(APP)),
    )
    status = app["status"]
    drift = [
        f"{r['kind']}/{r['name']}" for r in status.get("resources", []) if r.get("status") == "OutOfSync"
    ]
    assert status["sync"]["status"] == "Synced", (
        f"Argo CD counts the hand-set replicas as drift: {APP} is {status['sync']['status']} ({drift})"
    )
    assert status.get("operationState", {}).get("startedAt") == operation_before, (
        f"Argo CD started a sync after the replicas changed: {app_summary(app)}"
    )
    # kubectl leaves managedFields out of what it prints unless asked.
    deployment = live.get("deployment", "stock-backend", "-n", NAMESPACE, "--show-managed-fields")
    replicas = deployment["spec"]["replicas"]
    # The HPA may bring them back towards its own count (its scale-down window is 30 s): that is the HPA's
    # right. Argo CD must not: whoever last wrote /spec/replicas is named in the managed fields (the HPA as
    # kube-controller-manager through the scale subresource).
    writers = [
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields", [])
        if "f:replicas" in entry.get("fieldsV1", {}).get("f:spec", {})
    ]
    assert replicas == wanted or (writers and not any("argocd" in writer for writer in writers)), (
        f"stock-backend's replicas went from {wanted} (set by hand) to {replicas}, written by {writers}"
    )
    live.kubectl("scale", "deployment", "stock-backend", "-n", NAMESPACE, f"--replicas={before}")


def test_a_commit_adds_and_a_commit_removes_an_object(live: Live, bootstrap: Timeline) -> None:
    live.git("fetch", "--quiet", "origin", live.branch)
    live.git("checkout", "--quiet", "--detach", "FETCH_HEAD")
    (live.work / PROBE).write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {PROBE_NAME}\ndata:\n  purpose: tests/live prune scenario\n"
    )
    kustomization = live.work / "apps/stock-app/kustomization.yaml"
    text = kustomization.read_text()
    assert "  - ingress.yaml\n" in text, "apps/stock-app/kustomization.yaml no longer lists ingress.yaml"
    kustomization.write_text(
        text.replace("  - ingress.yaml\n", "  - ingress.yaml\n  - live-prune-probe.yaml\n")
    )
    added = live.push("Add a ConfigMap: the live prune scenario")
    wait_synced(live, APP, added, SYNC_TIMEOUT)
    probe = live.try_get("configmap", PROBE_NAME, "-n", NAMESPACE)
    assert probe is not None, f"ConfigMap {PROBE_NAME} not created although {APP} is Synced at {added[:12]}"

    removed = live.revert(added)
    started = time.monotonic()
    wait_synced(live, APP, removed, SYNC_TIMEOUT)
    poll(
        f"ConfigMap {PROBE_NAME} pruned after its manifest was removed in {removed[:12]}",
        lambda: live.try_get("configmap", PROBE_NAME, "-n", NAMESPACE) is None,
        SYNC_TIMEOUT,
        0.5,
        lambda: app_summary(live.application(APP)),
    )
    record_timing("prune_commit_to_object_gone_s", time.monotonic() - started)
