"""Issue 13, scenarios 1 and 2: a merged tag bump rolls out, its `git revert` rolls back, and Argo CD's own
Rollback is refused while the app syncs automatically.

The bump is the release workflow's own step (.github/scripts/bump-image-tag.sh) run on the scenario's
clone. The rollout is watched through the ReplicaSets: with maxSurge 1 / maxUnavailable 0 the number of
Ready backend pods never drops below what ran before, and never more than one extra pod exists.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time

import pytest
from live_helpers import Live, Timeline, pod_ready, poll, record_timing, wait_synced

APP = "stock-app"
NAMESPACE = "stock-app"
DEPLOYMENT = "stock-backend"
IMAGE = "stock-backend"
SELECTOR = "app.kubernetes.io/name=stock-backend"
BUMP = ".github/scripts/bump-image-tag.sh"
ROLLOUT_TIMEOUT = 180


def backend_image(live: Live) -> str:
    deployment = live.get("deployment", DEPLOYMENT, "-n", NAMESPACE)
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


class ReplicaSetWatch:
    """Every change of the backend's ReplicaSets as the API server streams it (`kubectl get --watch`).
    Polling would miss a dip in Ready pods: kwok's pods are Ready within milliseconds of starting."""

    def __init__(self, live: Live) -> None:
        self.expected = {rs["metadata"]["name"] for rs in live.get("replicasets", "-n", NAMESPACE, "-l",
                                                                   SELECTOR)["items"]}  # fmt: skip
        self.state: dict[str, tuple[int, int]] = {}
        self.fewest_ready: int | None = None
        self.most_pods = 0
        self.rolled: set[str] = set()
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            [live.kubectl_bin, f"--kubeconfig={live.kubeconfig}", "get", "replicasets", "-n", NAMESPACE,
             "-l", SELECTOR, "--watch", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.process.stdout:
            buffer += line
            while buffer.strip():
                try:
                    replica_set, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                self._observe(replica_set)

    def _observe(self, replica_set: dict) -> None:
        with self.lock:
            replicas = replica_set["spec"].get("replicas", 0)
            ready = replica_set.get("status", {}).get("readyReplicas", 0)
            self.state[replica_set["metadata"]["name"]] = (replicas, ready)
            if replicas:
                self.rolled.add(replica_set["metadata"]["name"])
            if not self.expected <= set(self.state):
                return  # the initial listing is not complete yet
            total_ready = sum(r for _, r in self.state.values())
            self.fewest_ready = (
                total_ready if self.fewest_ready is None else min(self.fewest_ready, total_ready)
            )
            self.most_pods = max(self.most_pods, sum(s for s, _ in self.state.values()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.thread.join(timeout=10)


def watch_rollout(live: Live, image: str, what: str) -> None:
    """Poll the backend until the Deployment has rolled out `image` and every pod runs it."""

    def complete():
        pods = live.get("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
        deployment = live.get("deployment", DEPLOYMENT, "-n", NAMESPACE)
        status = deployment.get("status", {})
        wanted = deployment["spec"]["replicas"]
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return (
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == wanted
            and status.get("readyReplicas") == wanted
            and status.get("replicas") == wanted
            and len(running) == wanted
            and all(c["image"] == image for p in running for c in p["spec"]["containers"])
            and all(map(pod_ready, running))
        )

    def explain() -> str:
        pods = live.get("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
        lines = [
            f"{p['metadata']['name']}: {[c['image'] for c in p['spec']['containers']]} ready={pod_ready(p)}"
            for p in pods
        ]
        status = live.get("deployment", DEPLOYMENT, "-n", NAMESPACE)["status"]
        return "\n".join([f"deployment status: {status}", *lines])

    poll(what, complete, ROLLOUT_TIMEOUT, 0.25, explain)


def check_rollout(watch: ReplicaSetWatch, ready_before: int, wanted: int) -> None:
    watch.stop()
    assert watch.fewest_ready is not None, "the ReplicaSet watch saw nothing"
    assert watch.fewest_ready >= ready_before, (
        f"Ready backend pods fell to {watch.fewest_ready} during the rollout (before: {ready_before}); "
        "maxUnavailable 0 must keep them all"
    )
    assert watch.most_pods <= wanted + 1, (
        f"the ReplicaSets asked for {watch.most_pods} pods at once; maxSurge 1 allows {wanted + 1}"
    )
    assert len(watch.rolled) >= 2, f"only {sorted(watch.rolled)} seen with replicas: nothing rolled out"


def ready_count(live: Live) -> int:
    return sum(map(pod_ready, live.get("pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]))


@pytest.fixture(scope="module")
def bumped(live: Live, bootstrap: Timeline) -> dict:
    """Run the release workflow's bump step for the backend; what ran before and the commit it pushed."""
    previous = backend_image(live)
    ready_before = ready_count(live)
    assert ready_before >= 2, f"only {ready_before} Ready backend pods before the rollout"
    tag = os.environ.get("LIVE_ROLLOUT_TAG") or f"sha-{secrets.token_hex(6)}"
    live.git("fetch", "--quiet", "origin", live.branch)
    live.git("checkout", "--quiet", "--detach", "FETCH_HEAD")
    env = {**os.environ, "PYTHON": sys.executable, "GIT_AUTHOR_NAME": "live test",
           "GIT_AUTHOR_EMAIL": "live@127.0.0.1", "GIT_COMMITTER_NAME": "live test",
           "GIT_COMMITTER_EMAIL": "live@127.0.0.1"}  # fmt: skip
    if live.local:
        env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    watch = ReplicaSetWatch(live)
    result = subprocess.run(
        ["bash", BUMP, "--image", IMAGE, "--tag", tag, "--branch", live.branch],
        cwd=live.work, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{BUMP} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    pushed = time.monotonic()
    live.notify()
    commit = live.git("rev-parse", "HEAD")
    remote = live.git("ls-remote", "origin", f"refs/heads/{live.branch}").split()[0]
    assert remote == commit, f"{BUMP} did not push: origin has {remote[:12]}, the clone {commit[:12]}"
    return {"previous": previous, "tag": tag, "commit": commit, "pushed": pushed, "ready": ready_before,
            "watch": watch}  # fmt: skip


def test_a_merged_tag_bump_rolls_out_without_losing_a_ready_pod(live: Live, bumped: dict) -> None:
    new_image = bumped["previous"].rsplit(":", 1)[0] + ":" + bumped["tag"]
    watch_rollout(live, new_image, f"every backend pod on {bumped['tag']}")
    record_timing("merge_to_rollout_complete_s", time.monotonic() - bumped["pushed"])
    # Healthy can take half a minute more: the HPA has no metrics for the new pods until metrics-server
    # scraped them, and Argo CD calls it (and the app) Degraded meanwhile.
    wait_synced(live, APP, bumped["commit"], ROLLOUT_TIMEOUT)
    wanted = live.get("deployment", DEPLOYMENT, "-n", NAMESPACE)["spec"]["replicas"]
    check_rollout(bumped["watch"], bumped["ready"], wanted)
    assert backend_image(live) == new_image


def test_argocd_rollback_is_refused_under_auto_sync(live: Live, bumped: dict) -> None:
    """The README's promise: the UI's (and CLI's) Rollback refuses while automated sync is on."""
    history = live.application(APP).get("status", {}).get("history", [])
    assert len(history) >= 2, f"{APP} has {len(history)} sync(s) in its history; a rollback needs two"
    result = live.argocd("app", "rollback", APP, str(history[-2]["id"]), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"argocd app rollback was accepted under auto-sync:\n{output}"
    assert "rollback cannot be initiated when auto-sync is enabled" in output, output
    assert backend_image(live).endswith(":" + bumped["tag"]), "the refused rollback changed the image"


def test_git_revert_of_the_bump_rolls_back(live: Live, bumped: dict) -> None:
    ready_before = ready_count(live)
    watch = ReplicaSetWatch(live)
    commit = live.revert(bumped["commit"])
    reverted = time.monotonic()
    watch_rollout(live, bumped["previous"], f"every backend pod back on {bumped['previous']}")
    record_timing("revert_to_rollback_complete_s", time.monotonic() - reverted)
    wait_synced(live, APP, commit, ROLLOUT_TIMEOUT)
    wanted = live.get("deployment", DEPLOYMENT, "-n", NAMESPACE)["spec"]["replicas"]
    check_rollout(watch, ready_before, wanted)
