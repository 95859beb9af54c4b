"""Run the hand-in's load test from Argo CD and watch the backend's HPA scale on real CPU, then back.

    python -m tools.k3d.hpa_load --kubeconfig KUBECONFIG [--up-timeout 420] [--down-timeout 420]

What only a cluster with real nodes shows (kwok's nodes run nothing): the `loadtest` Application is synced
the way a person presses Sync (`argocd app sync --core`), its Job sends 120 rounds of 200 parallel
requests to the backend Service, K3s's metrics-server reports the pods' CPU, and the HPA in
apps/stock-app/backend/hpa.yaml adds pods. The backend answers a repeated query from its cache, so one run
may be over before the HPA's next look; until the HPA has scaled up, each finished run is followed by
another sync (scenario 5 of tests/live shows a sync always runs the Job again). It passes when the
Deployment has more Ready pods than the HPA's minimum, and then (unless --no-down) when it is back at the
minimum after the load ended. Every 5 s one line: seconds since the first sync, CPU utilisation,
desired/current/Ready replicas. The timeline is written to .out/live/k3d-hpa.json. Exit 0 passed,
1 failed (what was seen last is printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.gotools import Builder, ToolError

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "stock-app"
HPA = "stock-backend"
LOADTEST_APP = "loadtest"
ARGOCD_NAMESPACE = "argocd"
POLL_S = 5
TIMELINE = REPO / ".out" / "live" / "k3d-hpa.json"


class LoadError(Exception):
    """A command failed or the cluster lacks what the load test needs."""


@dataclass
class Sample:
    seconds: float
    cpu_percent: int | None  # None until metrics-server has reported the pods
    desired: int
    current: int
    ready: int


def sample(seconds: float, hpa: dict, deployment: dict) -> Sample:
    """One point of the timeline from the HPA's and the Deployment's status."""
    status = hpa.get("status", {})
    cpu = None
    for metric in status.get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            cpu = resource.get("current", {}).get("averageUtilization")
    return Sample(
        seconds=round(seconds, 1),
        cpu_percent=cpu,
        desired=status.get("desiredReplicas", 0),
        current=status.get("currentReplicas", 0),
        ready=deployment.get("status", {}).get("readyReplicas", 0),
    )


def run_finished(app: dict, after: str | None) -> bool:
    """Has a sync that started after `after` (the last known operation's startedAt) ended?"""
    operation = app.get("status", {}).get("operationState") or {}
    started = operation.get("startedAt")
    return (
        started is not None
        and started != after
        and operation.get("phase") in {"Succeeded", "Failed", "Error"}
    )


def last_started(app: dict) -> str | None:
    return (app.get("status", {}).get("operationState") or {}).get("startedAt")


def scaled_up(point: Sample, minimum: int) -> bool:
    return point.ready > minimum


def back_down(point: Sample, minimum: int) -> bool:
    return point.desired == minimum and point.current == minimum


class Cluster:
    def __init__(self, kubeconfig: Path, kubectl: str, argocd: str) -> None:
        self.kubeconfig, self.kubectl_bin, self.argocd_bin = kubeconfig, kubectl, argocd

    def run(self, command: list[str], env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise LoadError(f"{' '.join(command[:4])} ... failed: {result.stderr.strip() or result.stdout}")
        return result.stdout

    def get(self, *args: str) -> dict:
        return json.loads(
            self.run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", "get", "-o", "json", *args])
        )

    def sync_loadtest(self) -> None:
        """`argocd app sync --core`, as the scenarios call Argo CD: through the Kubernetes API alone.

        Core mode takes Argo CD's namespace from the kubeconfig's context, so it gets a copy whose context
        names it; the scenarios' kubeconfig stays as it is.
        """
        with tempfile.TemporaryDirectory(prefix="hpa-load-") as scratch:
            config = Path(scratch) / "kubeconfig"
            shutil.copyfile(self.kubeconfig, config)
            self.run([self.kubectl_bin, f"--kubeconfig={config}", "config", "set-context", "--current",
                      f"--namespace={ARGOCD_NAMESPACE}"])  # fmt: skip
            # Argo CD's one binary picks its component by name; the module builds it as `cmd`.
            env = {"KUBECONFIG": str(config), "ARGOCD_BINARY_NAME": "argocd"}
            self.run([self.argocd_bin, "app", "sync", LOADTEST_APP, "--core", "--async"], env)


def watch(cluster: Cluster, up_timeout: float, down_timeout: float | None) -> tuple[list[Sample], str | None]:
    """The timeline, and None if the HPA scaled up (and down, if asked) in time, else what went wrong."""
    minimum = cluster.get("hpa", HPA, "-n", NAMESPACE)["spec"].get("minReplicas", 1)
    timeline: list[Sample] = []
    previous = last_started(cluster.get("application", LOADTEST_APP, "-n", ARGOCD_NAMESPACE))
    cluster.sync_loadtest()
    syncs = 1
    started = time.monotonic()
    phases = [("scale up above", minimum, up_timeout, lambda p: scaled_up(p, minimum))]
    if down_timeout is not None:
        phases.append(("scale back down to", minimum, down_timeout, lambda p: back_down(p, minimum)))
    for what, replicas, timeout, reached in phases:
        deadline = time.monotonic() + timeout
        while True:
            point = sample(
                time.monotonic() - started,
                cluster.get("hpa", HPA, "-n", NAMESPACE),
                cluster.get("deployment", HPA, "-n", NAMESPACE),
            )
            timeline.append(point)
            cpu = "-" if point.cpu_percent is None else f"{point.cpu_percent}%"
            print(f"{point.seconds:7.1f} s  cpu {cpu:>5}  desired {point.desired}  current {point.current}"
                  f"  ready {point.ready}", flush=True)  # fmt: skip
            if reached(point):
                print(f"hpa-load: {what} {replicas} replicas after {point.seconds:.0f} s", flush=True)
                break
            if what.startswith("scale up"):
                app = cluster.get("application", LOADTEST_APP, "-n", ARGOCD_NAMESPACE)
                if run_finished(app, previous):
                    previous = last_started(app)
                    cluster.sync_loadtest()
                    syncs += 1
                    print(f"hpa-load: the load test ended before the HPA scaled up; sync {syncs}", flush=True)
            if time.monotonic() >= deadline:
                return timeline, f"the HPA did not {what} {replicas} replicas within {timeout:.0f} s"
            # Polling the HPA's status: it changes on the controller's 15 s cycle, nothing to wait on.
            time.sleep(POLL_S)
    return timeline, None


def tool(module: str, binary: str) -> str:
    """A pinned binary built from tools/go (the scenarios use the same), or an error naming the problem."""
    try:
        bin_dir, _ = Builder().build(module)
    except ToolError as error:
        raise LoadError(str(error)) from error
    return str(bin_dir / binary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kubeconfig", type=Path, default=os.environ.get("LIVE_KUBECONFIG"))
    parser.add_argument("--up-timeout", type=float, default=420)
    parser.add_argument("--down-timeout", type=float, default=420)
    parser.add_argument("--no-down", action="store_true", help="stop once the HPA has scaled up")
    args = parser.parse_args(argv)
    if args.kubeconfig is None or not Path(args.kubeconfig).is_file():
        parser.error(f"--kubeconfig (or LIVE_KUBECONFIG) must name a kubeconfig file, not {args.kubeconfig}")
    try:
        cluster = Cluster(Path(args.kubeconfig), tool("kubernetes", "kubectl"), tool("argocd", "cmd"))
        timeline, problem = watch(cluster, args.up_timeout, None if args.no_down else args.down_timeout)
    except (LoadError, subprocess.TimeoutExpired) as error:
        print(f"hpa-load: {error}", file=sys.stderr)
        return 1
    TIMELINE.parent.mkdir(parents=True, exist_ok=True)
    TIMELINE.write_text(json.dumps([asdict(point) for point in timeline], indent=1))
    if problem:
        print(f"hpa-load: {problem}; timeline in {TIMELINE}", file=sys.stderr)
        return 1
    print(f"hpa-load: passed; timeline in {TIMELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
