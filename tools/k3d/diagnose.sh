#!/usr/bin/env bash
# What a failed k3d job leaves to read: nodes, every pod, Argo CD's Applications and the cluster's events,
# and the logs of Argo CD's repo-server and controller, into DEST (uploaded as an artifact).
#
#   tools/k3d/diagnose.sh OUTDIR DEST      # OUTDIR as given to bootstrap.py
#
# Best effort: a cluster that never came up still leaves whatever could be read, and this never fails.
set -uo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 OUTDIR DEST" >&2; exit 2; }
out=$1 dest=$2
mkdir -p "$dest"
kubeconfig=$out/kubeconfig
[[ -f $kubeconfig ]] || { echo "diagnose: no kubeconfig in $out: the cluster was never created" >&2; exit 0; }
py=${PY:-.venv/bin/python}
kubectl=${KUBECTL:-$("$py" tools/gotools.py path kubectl)}
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

k get nodes -o wide >"$dest/nodes.txt" 2>&1
k get pods --all-namespaces -o wide >"$dest/pods.txt" 2>&1
k get applications -n argocd -o yaml >"$dest/applications.yaml" 2>&1
k get helmcharts,helmchartconfigs -n kube-system -o yaml >"$dest/helmcharts.yaml" 2>&1
k get events --all-namespaces --sort-by=.lastTimestamp >"$dest/events.txt" 2>&1
k get hpa,deployments,replicasets -n stock-app -o wide >"$dest/stock-app.txt" 2>&1
for workload in deployment/argocd-repo-server statefulset/argocd-application-controller; do
  k logs -n argocd "$workload" --tail=500 >"$dest/${workload#*/}.log" 2>&1
done
echo "diagnose: wrote $dest"
