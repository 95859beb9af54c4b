"""Resource metrics on the local cluster: metrics-server as K3s bundles it, fed by kwok's simulated kubelets.

K3s runs metrics-server in kube-system behind the APIService `v1beta1.metrics.k8s.io`; the HPA controller
reads pod CPU through it. Here:
- metrics-server is built from source (tools/go/metrics-server) and runs as a process on 127.0.0.1 with the
  arguments of its own Deployment (the module's manifests/base), as the ServiceAccount that manifest
  declares (a TokenRequest, as a pod would get). Its RBAC, Service and APIService come from the same
  manifests, changed the way `kwokctl create cluster --enable metrics-server` changes them for a process:
  no Deployment, the Service an ExternalName for 127.0.0.1, the APIService on the process's port.
- The API server's aggregator proxies to it with a front-proxy client certificate and passes the user in
  request headers (the requestheader flags, as K3s sets them), so metrics-server authorizes the real caller.
- kwok plays the kubelet's /metrics/resource: kwok's own Metric `metrics-resource` and ClusterResourceUsage
  `usage-from-annotation` (the kwok module's kustomize/metrics) are applied as objects and watched
  (--enable-crds, so a test can add a ResourceUsage). Each node carries metrics-server's annotation for the
  path kwok serves it under; kwok puts its port into status.daemonEndpoints (--kubelet-use-node-status-port).
  kwok serves TLS with a certificate of the cluster CA, which metrics-server verifies.
A pod's usage is kwok's: the annotation `kwok.x-k8s.io/usage-cpu` (and `-memory`) if set, else 1m CPU, 1Mi.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import requests
import yaml

MODULE = "sigs.k8s.io/metrics-server"
APISERVICE = "v1beta1.metrics.k8s.io"
NAMESPACE = "kube-system"
# metrics-server's pkg/scraper/client/resource: a node annotation that overrides /metrics/resource.
RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
# kwok's annotations read by its ClusterResourceUsage `usage-from-annotation`.
USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
KWOK_CRDS = {
    "Metric": "kustomize/crd/bases/kwok.x-k8s.io_metrics.yaml",
    "ClusterResourceUsage": "kustomize/crd/bases/kwok.x-k8s.io_clusterresourceusages.yaml",
    "ResourceUsage": "kustomize/crd/bases/kwok.x-k8s.io_resourceusages.yaml",
}
KWOK_METRIC = "kustomize/metrics/resource/metrics-resource.yaml"
KWOK_USAGE = "kustomize/metrics/usage/usage-from-annotation.yaml"
# The front proxy's name the API server presents to aggregated servers (K3s: system:auth-proxy; the name
# is checked against --requestheader-allowed-names, so it only has to agree with itself).
FRONT_PROXY_CN = "front-proxy-client"


class MetricsError(Exception):
    """metrics-server or kwok's metrics cannot be set up; the message says which part."""


# --- certificates and flags ------------------------------------------------------------------------


def certificates(pki: Path, openssl: Callable[..., None]) -> None:
    """The front proxy's own CA and client certificate, and the serving certificate of kwok's kubelets."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt", "-days", "2",
            "-subj", "/CN=stock-gitops-live-front-proxy-ca", cwd=pki)  # fmt: skip
    signed = {
        "front-proxy-client": ("front-proxy-ca", f"/CN={FRONT_PROXY_CN}", "clientAuth", None),
        # One certificate for every kwok node: they all answer on 127.0.0.1.
        "kwok-kubelet": ("ca", "/O=system:nodes/CN=system:node:kwok", "serverAuth",
                         "subjectAltName=IP:127.0.0.1"),
    }  # fmt: skip
    for name, (ca, subject, usage, san) in signed.items():
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki)
        extensions = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment"]
        if san:
            extensions.append(san)
        (pki / f"{name}.ext").write_text("\n".join(extensions) + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
                cwd=pki)  # fmt: skip


def apiserver_args(pki: Path) -> list[str]:
    """The aggregator's flags: who may send user headers, and the certificate it proxies with."""
    return [
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        f"--requestheader-allowed-names={FRONT_PROXY_CN}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
    ]


# --- kwok's side: the kubelets' resource metrics ---------------------------------------------------------


def kwok_crds(kwok_dir: Path) -> list[Path]:
    return [kwok_dir / path for path in KWOK_CRDS.values()]


def kwok_args(pki: Path, port: int) -> list[str]:
    return [
        f"--enable-crds={','.join(KWOK_CRDS)}",
        # Into every node's status.daemonEndpoints.kubeletEndpoint (kwok's node-initialize stage).
        f"--node-port={port}",
        f"--tls-cert-file={pki / 'kwok-kubelet.crt'}",
        f"--tls-private-key-file={pki / 'kwok-kubelet.key'}",
    ]


def kwok_objects(kwok_dir: Path) -> list[dict]:
    """kwok's Metric (the kubelet's /metrics/resource) and its default ClusterResourceUsage, unchanged."""
    return [_one_document(kwok_dir / KWOK_METRIC), _one_document(kwok_dir / KWOK_USAGE)]


def node_annotations(kwok_dir: Path, node: str) -> dict[str, str]:
    """Tell metrics-server where kwok serves this node's resource metrics (kwok's Metric spec.path)."""
    path = _one_document(kwok_dir / KWOK_METRIC)["spec"]["path"]
    return {RESOURCE_METRICS_PATH_ANNOTATION: path.replace("{nodeName}", node)}


def kwok_serves_metrics(kwok_dir: Path, kubectl, port: int, node: str, ca: Path, attempt: list[int]) -> bool:
    """Whether kwok answers the node's resource-metrics path; if not, touch the Metric so kwok reads it again.

    kwok adds the Metric's route when its informer signals a change. One clean-clone run got 404 for every
    node for seven minutes (metrics-server saw no metrics, the HPAs and stock-app stayed Degraded), as if
    that signal had been lost; another change to the object makes kwok rebuild its routes.
    """
    path = node_annotations(kwok_dir, node)[RESOURCE_METRICS_PATH_ANNOTATION]
    status = requests.get(f"https://127.0.0.1:{port}{path}", verify=str(ca), timeout=5).status_code
    if status != 404:
        return True
    attempt[0] += 1
    name = _one_document(kwok_dir / KWOK_METRIC)["metadata"]["name"]
    kubectl("annotate", "--overwrite", "metrics.kwok.x-k8s.io", name, f"stock-gitops/resync={attempt[0]}")
    return False


def _one_document(path: Path) -> dict:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    if len(documents) != 1:
        raise MetricsError(f"{path}: expected one document, found {len(documents)}")
    return documents[0]


# --- metrics-server ------------------------------------------------------------------------------------


class MetricsServer:
    """metrics-server's manifests from its module, and the process that stands in for its Deployment."""

    def __init__(self, module_dir: Path, kustomize: Path) -> None:
        self.module_dir = module_dir
        base = module_dir / "manifests" / "base"
        built = subprocess.run([str(kustomize), "build", str(base)], capture_output=True, text=True,
                               check=False)  # fmt: skip
        if built.returncode != 0:
            raise MetricsError(f"kustomize build {base}: {built.stderr.strip()}")
        self.manifests = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
        deployments = [doc for doc in self.manifests if doc["kind"] == "Deployment"]
        if len(deployments) != 1:
            raise MetricsError(f"{base} renders {len(deployments)} Deployments, expected one")
        self.deployment = deployments[0]

    def objects(self, port: int) -> list[dict]:
        """What K3s applies from its manifests, minus the Deployment this process replaces (as kwokctl)."""
        result = []
        for doc in self.manifests:
            if doc["kind"] == "Deployment":
                continue
            if doc["kind"] == "Service":
                doc = {**doc, "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}}
            if doc["kind"] == "APIService":
                doc = {**doc, "spec": {**doc["spec"], "service": {**doc["spec"]["service"], "port": port}}}
            result.append(doc)
        return result

    @property
    def service_account(self) -> str:
        return self.deployment["spec"]["template"]["spec"]["serviceAccountName"]

    def argv(self, binary: Path, kubeconfig: Path, port: int, cert_dir: Path, kubelet_ca: Path) -> list[str]:
        """The Deployment's own arguments, with the places a process differs from a pod replaced."""
        (container,) = self.deployment["spec"]["template"]["spec"]["containers"]
        replaced = {"--cert-dir", "--secure-port"}
        args = [arg for arg in container["args"] if arg.split("=", 1)[0] not in replaced]
        return [
            str(binary), *args,
            f"--cert-dir={cert_dir}", f"--secure-port={port}", "--bind-address=127.0.0.1",
            # In a pod these come from the in-cluster config; here from a kubeconfig with the same token.
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            # kwok's kubelets serve a certificate of the cluster CA, as K3s's kubelets do.
            f"--kubelet-certificate-authority={kubelet_ca}",
        ]  # fmt: skip


def token_kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "live", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()}}],
        "users": [{"name": "metrics-server", "user": {"token": token}}],
        "contexts": [{"name": "live", "context": {"cluster": "live", "user": "metrics-server"}}],
        "current-context": "live",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def apiservice_available(kubectl: Callable[..., str]) -> bool:
    apiservice = json.loads(kubectl("get", "apiservice", APISERVICE, "-o", "json"))
    return any(
        c["type"] == "Available" and c["status"] == "True"
        for c in apiservice.get("status", {}).get("conditions", [])
    )


def nodes_reporting(kubectl: Callable[..., str]) -> list[str]:
    """The nodes metrics-server reports CPU for (what `kubectl top nodes` shows)."""
    listed = json.loads(kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))
    return [item["metadata"]["name"] for item in listed.get("items", []) if item.get("usage", {}).get("cpu")]
