"""What `argocd --core` needs on the local cluster: pods to port-forward to.

The argocd CLI in core mode (no Argo CD API server, only the kubeconfig: what tests/live and a user with
cluster access run) starts an API server in-process and reaches the repo-server and redis by a
Kubernetes port-forward to the first Ready pod labelled `app.kubernetes.io/name=argocd-repo-server` /
`argocd-redis` (argo-cd cmd/argocd/commands/headless). Here both are host processes, so:
- a pod of each name, with the chart's labels, stands in on a kwok node (kwok makes it Ready; nothing runs);
- a kwok PortForward of the same name (kwok's --config) sends that pod's port to the process on 127.0.0.1.
The API server reaches kwok as the nodes' kubelet (status.daemonEndpoints, kwok's --node-port).
"""

from __future__ import annotations

NAMESPACE = "argocd"
# pod name = the chart's app.kubernetes.io/name label, the port inside "the pod", the harness's port key.
STAND_INS = (
    ("argocd-repo-server", 8081, "repo-server"),
    ("argocd-redis", 6379, "redis"),
)


def port_forwards(ports: dict[str, int]) -> list[dict]:
    """kwok PortForward objects: each stand-in pod's port to its process's port on 127.0.0.1."""
    return [
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "PortForward",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"forwards": [{"ports": [port], "target": {"port": ports[key], "address": "127.0.0.1"}}]},
        }
        for name, port, key in STAND_INS
    ]


def pods() -> list[dict]:
    """The stand-in pods. The image is never pulled (kwok runs nothing); it names what really serves."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"},
            },
            "spec": {
                "containers": [
                    {"name": key, "image": f"host-process/{name}", "ports": [{"containerPort": port}]}
                ],
                # Argo CD runs wherever it fits; here that includes the tainted server node.
                "tolerations": [{"operator": "Exists"}],
            },
        }
        for name, port, key in STAND_INS
    ]
