#!/usr/bin/env bash
# Create the k3d cluster that `python -m tools.k3d.bootstrap` described, write its kubeconfig, and record the
# address the cluster reaches this host by (host.k3d.internal) for serve-git.sh.
#
#   tools/k3d/cluster-up.sh OUTDIR        # OUTDIR as given to bootstrap.py; reads OUTDIR/live.env
#
# k3d and kubectl are the pinned ones built from tools/go (K3D / KUBECTL override them, e.g. in a test).
set -euo pipefail
shopt -s inherit_errexit # a failed command inside $(...) fails the script too

usage() { echo "usage: $0 OUTDIR (the folder tools/k3d/bootstrap.py wrote)" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
out=$1
[[ -f $out/live.env && -f $out/k3d.yaml ]] || { echo "cluster-up: $out holds no live.env/k3d.yaml: run tools/k3d/bootstrap.py first" >&2; exit 2; }
# shellcheck source=/dev/null
source "$out/live.env"
py=${PY:-.venv/bin/python}
k3d=${K3D:-$("$py" tools/gotools.py path k3d)}
kubectl=${KUBECTL:-$("$py" tools/gotools.py path kubectl)}

# k3d waits for the server to be ready, for ever unless told otherwise; a cluster that is not up in five
# minutes will not be, and k3d rolls it back.
"$k3d" cluster create --config "$K3D_CONFIG" --timeout 300s
"$k3d" kubeconfig get "$K3D_CLUSTER" >"$LIVE_KUBECONFIG"
chmod 600 "$LIVE_KUBECONFIG"
"$kubectl" --kubeconfig "$LIVE_KUBECONFIG" wait node --all --for=condition=Ready --timeout=180s

# k3d writes host.k3d.internal into CoreDNS's NodeHosts, which is what the pods (Argo CD's repo-server)
# resolve: serve Git on exactly that address, not on every interface of the runner.
nodehosts=$("$kubectl" --kubeconfig "$LIVE_KUBECONFIG" -n kube-system get configmap coredns \
  -o 'jsonpath={.data.NodeHosts}')
host_ip=$(awk '$2 == "host.k3d.internal" { print $1; exit }' <<<"$nodehosts")
[[ -n $host_ip ]] || { echo "cluster-up: CoreDNS's NodeHosts names no host.k3d.internal:" >&2; echo "$nodehosts" >&2; exit 1; }
echo "K3D_HOST_IP=$host_ip" >>"$out/live.env"
echo "cluster-up: $K3D_CLUSTER is up; kubeconfig $LIVE_KUBECONFIG; this host is $host_ip inside it"
