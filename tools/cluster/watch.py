"""The hand-in's observation command (docs: the seed, "Apply & beobachten"), against any cluster:

    watch -n 10 'kubectl -n $NS get hpa; kubectl -n $NS get deploy; kubectl -n $NS get pods -o wide;
                 kubectl -n $NS top pods'

    make watch                          # every 10 s until Ctrl-C; KUBECONFIG as kubectl reads it
    make watch WATCH_ARGS="--once"      # one screen, exit status 1 if a section failed

Without KUBECONFIG it uses the local cluster's (.out/cluster/kubeconfig, `make cluster-up`). kubectl is
$KUBECTL, else the one on PATH, else the one built for the local cluster (tools/go/kubernetes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOCAL_KUBECONFIG = REPO / ".out" / "cluster" / "kubeconfig"
SECTIONS = (
    ("HPA", ["get", "hpa"]),
    ("DEP", ["get", "deploy"]),
    ("PODS", ["get", "pods", "-o", "wide"]),
    ("TOP", ["top", "pods"]),
)


class WatchError(Exception):
    """No kubectl or no kubeconfig: said in one line."""


def find_kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if found:
        return found
    sys.path.insert(0, str(REPO / "tools"))
    from gotools import Builder, ToolError

    try:
        bin_dir, _ = Builder().build("kubernetes")
    except ToolError as error:
        raise WatchError(f"no kubectl on PATH and the local build failed: {error}") from error
    return str(bin_dir / "kubectl")


def kubeconfig() -> str | None:
    if os.environ.get("KUBECONFIG"):
        return None  # kubectl reads it itself
    if LOCAL_KUBECONFIG.exists():
        return str(LOCAL_KUBECONFIG)
    raise WatchError("KUBECONFIG is not set and no local cluster runs (`make cluster-up` writes one)")


def screen(kubectl: str, config: str | None, namespace: str) -> tuple[str, bool]:
    """One screen: each section's output, or kubectl's own error; and whether every section worked."""
    prefix = [kubectl, *([f"--kubeconfig={config}"] if config else []), "-n", namespace]
    parts, ok = [], True
    for title, args in SECTIONS:
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60, check=False)
        body = result.stdout.rstrip() or result.stderr.rstrip()
        if result.returncode != 0:
            ok = False
            body = f"kubectl {' '.join(args)} failed: {result.stderr.strip()}"
        parts.append(f"=== {title} ===\n{body}")
    return "\n\n".join(parts) + "\n", ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="watch.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--namespace", "-n", default="stock-app")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between screens (default 10)")
    parser.add_argument("--once", action="store_true", help="print one screen and exit")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval must be positive, not {args.interval}")
    try:
        kubectl, config = find_kubectl(), kubeconfig()
    except WatchError as error:
        print(f"watch: {error}", file=sys.stderr)
        return 2
    try:
        while True:
            text, ok = screen(kubectl, config, args.namespace)
            if args.once:
                sys.stdout.write(text)
                return 0 if ok else 1
            # Clear and redraw, as watch(1) does; the interval is the display's, not a synchronisation.
            sys.stdout.write(f"\033[H\033[2J{time.strftime('%H:%M:%S')}  every {args.interval:g} s\n\n{text}")
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
