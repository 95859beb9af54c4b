#!/usr/bin/env bash
# Stop what cluster-up.sh and serve-git.sh started: the k3d cluster, and git daemon by its recorded PID.
#
#   tools/k3d/cluster-down.sh OUTDIR PIDFILE
#
# GitHub throws the runner away after the job; this is for a machine that stays (a self-hosted runner,
# or someone trying the job by hand).
set -euo pipefail
shopt -s inherit_errexit # a failed command inside $(...) fails the script too

[[ $# -eq 2 ]] || { echo "usage: $0 OUTDIR PIDFILE" >&2; exit 2; }
out=$1 pidfile=$2
status=0
if [[ -s $pidfile ]]; then
  pid=$(cat "$pidfile")
  # Only our daemon: the PID must still be a git daemon, not a recycled number.
  if [[ $(ps -o comm= -p "$pid" 2>/dev/null) == git* ]]; then
    kill "$pid" || status=1
  fi
  rm -f "$pidfile"
fi
if [[ -f $out/live.env ]]; then
  # shellcheck source=/dev/null
  source "$out/live.env"
  py=${PY:-.venv/bin/python}
  k3d=${K3D:-$("$py" tools/gotools.py path k3d)}
  "$k3d" cluster delete "$K3D_CLUSTER" || status=1
fi
exit "$status"
