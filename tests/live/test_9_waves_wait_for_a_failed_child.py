"""Issue 20: a child Application whose sync failed holds the root's next wave back.

Argo CD's own health of an Application skips resources that are missing, so a child whose sync failed on
one resource can look Healthy. Our health check (terraform/modules/k3s-cloud-init/files/
application-health.lua) also requires the child to be Synced with no failed operation. Here `platform`
(wave 0) gets a manifest the API server refuses; then a change to the `stock-app` Application (wave 1) is
pushed. The root's sync must stop at wave 0, naming platform, and never apply the stock-app change.
"""

from __future__ import annotations

import secrets

from live_helpers import ARGOCD_NAMESPACE, Live, Timeline, app_summary, poll, wait_synced

BROKEN = "platform/live-wave-probe.yaml"
STOCK_APP = "clusters/prod/stock-app.yaml"
PROBE_ANNOTATION = "stock-gitops.test/wave-probe"
TIMEOUT = 240


def probe(live: Live) -> str | None:
    return live.application("stock-app")["metadata"].get("annotations", {}).get(PROBE_ANNOTATION)


def test_a_failed_child_holds_the_next_wave_back(live: Live, bootstrap: Timeline) -> None:
    live.git("fetch", "--quiet", "origin", live.branch)
    live.git("checkout", "--quiet", "--detach", "FETCH_HEAD")
    # 1. platform gets a Service the API server refuses (a port that is a string).
    (live.work / BROKEN).write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: live-wave-probe\nspec:\n"
        '  selector:\n    app: none\n  ports:\n    - name: http\n      port: "eighty"\n'
    )
    kustomization = live.work / "platform/kustomization.yaml"
    text = kustomization.read_text()
    assert "  - metrics-server-check\n" in text, (
        "platform/kustomization.yaml no longer lists metrics-server-check"
    )
    listed = "  - metrics-server-check\n"
    kustomization.write_text(text.replace(listed, f"{listed}  - live-wave-probe.yaml\n"))
    broken = live.push("platform: a Service the API server refuses (live wave scenario)")

    def platform_failed():
        # While a failed sync waits for its retry, Argo CD has dropped its per-resource results; the
        # operation's message keeps the API server's refusal.
        operation = live.application("platform").get("status", {}).get("operationState", {})
        message = operation.get("message", "")
        return operation.get("operation", {}).get("sync", {}).get("revision") == broken and (
            operation.get("phase") in ("Failed", "Error") or "Retrying attempt" in message
        )

    poll(f"platform's sync of {broken[:12]} fails (Service live-wave-probe)", platform_failed, TIMEOUT, 0.5,
         lambda: app_summary(live.application("platform")))  # fmt: skip

    # 2. A change of wave 1: an annotation on the stock-app Application.
    value = secrets.token_hex(6)
    manifest = live.work / STOCK_APP
    text = manifest.read_text()
    anchor = '    argocd.argoproj.io/sync-wave: "1"\n'
    assert anchor in text, f"{STOCK_APP} no longer carries sync-wave 1"
    manifest.write_text(text.replace(anchor, f'{anchor}    {PROBE_ANNOTATION}: "{value}"\n'))
    annotated = live.push("stock-app: an annotation the root must not apply while platform failed")

    def root_holds():
        root = live.application("root")
        status = root.get("status", {})
        operation = status.get("operationState", {})
        if operation.get("operation", {}).get("sync", {}).get("revision") != annotated:
            return None
        # Argo CD does not keep child Applications' health in the root's status; its sync says whom it
        # waits for ("waiting for healthy state of argoproj.io/Application/platform") or that it failed.
        message = operation.get("message", "")
        if "Application/platform" in message or operation.get("phase") in ("Failed", "Error"):
            return f"root: {operation.get('phase')}: {message}"
        return None

    reason = poll(f"the root's sync of {annotated[:12]} stops at wave 0 (platform)", root_holds, TIMEOUT, 0.5,
                  lambda: app_summary(live.application("root")))  # fmt: skip
    print(reason)

    # Every wave waits a moment for its resources' health, so seeing the root wait proves little. Held
    # back means: platform fails once more (its next retry) and the root still has not applied wave 1.
    def platform_attempts() -> int:
        return live.application("platform").get("status", {}).get("operationState", {}).get("retryCount", 0)

    attempts = platform_attempts()
    poll(f"platform retries its failed sync once more (after attempt {attempts})",
         lambda: platform_attempts() > attempts, TIMEOUT, 0.5,
         lambda: app_summary(live.application("platform")))  # fmt: skip
    assert probe(live) != value, (
        f"the root applied wave 1 (stock-app's annotation) although platform failed: "
        f"{app_summary(live.application('root'))}"
    )
    still = root_holds()
    assert still, f"the root no longer waits for platform: {app_summary(live.application('root'))}"
    assert live.kubectl("get", "application", "stock-app", "-n", ARGOCD_NAMESPACE).returncode == 0

    # 3. Revert both: the tree heals, and wave 1 goes through.
    live.git("revert", "--no-edit", annotated)
    live.git("revert", "--no-edit", broken)
    healed = live.push_head()
    wait_synced(live, "platform", healed, TIMEOUT)
    poll(
        f"no Service live-wave-probe at {healed[:12]}",
        lambda: live.try_get("service", "live-wave-probe", "-n", "kube-system") is None,
        TIMEOUT,
        0.5,
    )

    # The held sync resumes at its own revision once platform heals (applying the annotation after all),
    # then the root syncs the revert, which removes it again.
    def root_synced():
        status = live.application("root").get("status", {})
        return (
            status.get("sync", {}).get("revision") == healed
            and status.get("sync", {}).get("status") == "Synced"
            and status.get("health", {}).get("status") == "Healthy"
            and status.get("operationState", {}).get("phase") == "Succeeded"
            and probe(live) is None
        )

    poll(f"root Synced and Healthy at {healed[:12]}, stock-app without the annotation", root_synced, TIMEOUT,
         0.5, lambda: f"{app_summary(live.application('root'))}; annotation {probe(live)!r}")  # fmt: skip
