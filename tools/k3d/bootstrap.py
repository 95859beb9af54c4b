"""Prepare a k3d cluster that boots like the Terraform one: the same K3s, the same cloud-init manifests.

    python -m tools.k3d.bootstrap OUTDIR [--git-host host.k3d.internal] [--git-port 9418] [--http-port 8080]

writes into OUTDIR (which must not exist yet):

    git/stock-gitops.git  a bare repository: the working tree, then one commit pointing git-source at
                          git://HOST:PORT/stock-gitops.git (what a fork does); serve-git.sh serves it
    git/work              a clone of it, the scenarios' LIVE_GIT_DIR (they push to its origin)
    manifests/            what cloud-init writes into K3s's auto-deploy folder, rendered by a real
                          `terraform plan` of terraform/modules/k3s-cloud-init (tools/cluster/cluster.py plans
                          it): the same bytes but for the root's repoURL, plus one CI-only HelmChartConfig
                          that shortens Argo CD's polling to the local harness's
    k3d.yaml              the k3d cluster: the pinned K3s image, one tainted server and `agent_count` agents
                          labelled as Terraform labels them, each manifest mounted at cloud-init's path
    live.env              NAME=value lines for the scenarios' contract (LIVE_KUBECONFIG, LIVE_GIT_DIR, ...)

Everything here runs without Docker, so `make check-workflows` renders it and compares it with the
cloud-init output; only creating the cluster from k3d.yaml needs GitHub's runner.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from tools import pins

# The local harness is a script that imports its sibling modules by bare name (its folder is sys.path[0]
# when it runs); imported from here, it needs that folder on the path as well.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
import cluster

# K3s's auto-deploy folder: a fixed path of K3s's, not a setting of ours (terraform/modules/k3s-cloud-init
# writes into it, and K3s applies whatever lands there).
MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests"
# The HelmChart's name and namespace in the cloud-init output; a HelmChartConfig of the same name is how
# K3s's helm-controller lets values be layered over a chart without touching its HelmChart.
CI_TIMING_FILE = "argocd-ci-timing.yaml"
CLUSTER_NAME = "stock-gitops"
# Host ports of the k3d load balancer (Traefik's web entrypoint) and of the Kubernetes API, on loopback.
DEFAULT_HTTP_PORT = 8080
# How the cluster's pods reach the runner: k3d puts this name into CoreDNS (cluster-up.sh serves Git there).
DEFAULT_GIT_HOST = "host.k3d.internal"
DEFAULT_GIT_PORT = 9418  # git daemon's own


class BootstrapError(Exception):
    """The input or the rendered cloud-init is not what this script can turn into a k3d cluster."""


def k3s_image(k3s_version: str) -> str:
    """v1.2.3+k3s1 -> rancher/k3s:v1.2.3-k3s1 (image tags cannot hold `+`; K3s publishes with `-`)."""
    if not re.fullmatch(r"v\d+\.\d+\.\d+\+k3s\d+", k3s_version):
        raise BootstrapError(f"k3s_version {k3s_version!r} is not of the form v1.2.3+k3s1")
    return f"rancher/k3s:{k3s_version.replace('+', '-')}"


def cloud_init_manifests(outputs: dict) -> dict[str, str]:
    """{file name: content} of what the server's cloud-config writes into K3s's auto-deploy folder."""
    config = yaml.safe_load(outputs["server_cloud_config"])
    files = {
        Path(entry["path"]).name: entry["content"]
        for entry in config.get("write_files", [])
        if str(Path(entry["path"]).parent) == MANIFESTS_DIR
    }
    if not files:
        raise BootstrapError(f"the server's cloud-config writes nothing into {MANIFESTS_DIR}")
    return files


def repoint_root(text: str, upstream: dict, fork: dict) -> str:
    """Cloud-init's root Application with repoURL and targetRevision set from the fork's git-source.

    The cloud-init module accepts only https://, ssh:// and git@ sources (right for a real cluster, which
    must not pull over plain git://), so the module is planned with the upstream git-source and these two
    values, which it copies from there unchanged, are swapped for the fork's in place: every other byte
    stays what cloud-init writes (the local harness, tools/cluster/cluster.py, does the same).
    """
    for key in ("repoURL", "targetRevision"):
        old, new = f'"{key}": {json.dumps(upstream[key])}', f'"{key}": {json.dumps(fork[key])}'
        if text.count(old) != 1:
            raise BootstrapError(
                f"cloud-init's root Application does not hold {old} once: its layout changed"
            )
        text = text.replace(old, new)
    source = yaml.safe_load(text)["spec"]["source"]
    if {key: source[key] for key in ("repoURL", "targetRevision")} != fork:
        raise BootstrapError(f"could not point the root Application at {fork}")
    return text


def ci_timing(outputs: dict) -> dict:
    """Argo CD's Git polling shortened to the local harness's (cluster.APP_RESYNC_SECONDS).

    The chart's default is 3 minutes between looks at the branch, and the repo-server trusts its last
    look for another 3: each pushed commit of a scenario would wait that long. This layers two values over
    the cloud-init HelmChart (a HelmChartConfig, merged by K3s's helm-controller); the HelmChart and the
    root Application stay exactly cloud-init's.
    """
    chart = outputs["argocd_helmchart"]["metadata"]
    seconds = f"{cluster.APP_RESYNC_SECONDS}s"
    values = {
        "configs": {
            "cm": {"timeout.reconciliation": seconds},
            "params": {"reposerver.revision.cache.expiration": seconds},
        }
    }
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": chart["name"], "namespace": chart["namespace"]},
        "spec": {"valuesContent": yaml.safe_dump(values, sort_keys=False)},
    }


def k3d_config(outputs: dict, manifests: Path, agents: int, http_port: int) -> dict:
    """k3d's Simple config: K3s as terraform/variables.tf pins it, nodes as cloud-init configures them."""
    server, agent = outputs["server_k3s_config"], outputs["agent_k3s_config"]
    # Only what shapes scheduling and secrets: the rest of K3s's config file (tokens, addresses, TLS SANs)
    # is k3d's to choose for its own containers.
    server_args = [f"--node-taint={taint}" for taint in server.get("node-taint", [])]
    if server.get("secrets-encryption"):
        server_args.append("--secrets-encryption")
    return {
        "apiVersion": "k3d.io/v1alpha5",
        "kind": "Simple",
        "metadata": {"name": CLUSTER_NAME},
        "servers": 1,
        "agents": agents,
        "image": k3s_image(pins.pinned("k3s_version")),
        "volumes": [
            {"volume": f"{path}:{MANIFESTS_DIR}/{path.name}", "nodeFilters": ["server:0"]}
            for path in sorted(manifests.iterdir())
        ],
        # Traefik's web entrypoint through k3d's load balancer, on loopback only: the smoke test's "outside".
        "ports": [{"port": f"127.0.0.1:{http_port}:80", "nodeFilters": ["loadbalancer"]}],
        "options": {
            "k3d": {"wait": True},
            "k3s": {
                "extraArgs": [{"arg": arg, "nodeFilters": ["server:*"]} for arg in server_args],
                "nodeLabels": [
                    {"label": label, "nodeFilters": ["agent:*"]} for label in agent.get("node-label", [])
                ],
            },
            "kubeconfig": {"updateDefaultKubeconfig": False, "switchCurrentContext": False},
        },
    }


def point_git_source(work: Path, repo_url: str, revision: str) -> None:
    """Set git-source's repoURL and targetRevision, as a fork does, and commit it."""
    path = work / cluster.GIT_SOURCE
    text = path.read_text()
    data = yaml.safe_load(text)["data"]
    for key, value in (("repoURL", repo_url), ("targetRevision", revision)):
        text = text.replace(f"{key}: {data[key]}", f"{key}: {value}", 1)
    path.write_text(text)
    if yaml.safe_load(path.read_text())["data"] != {"repoURL": repo_url, "targetRevision": revision}:
        raise BootstrapError(f"could not point {path} at {repo_url}: its layout changed")
    cluster.git("commit", "--quiet", "-am", f"Point git-source at {repo_url}, as a fork does", cwd=work)
    cluster.git("push", "--quiet", "origin", f"HEAD:{revision}", cwd=work)


def prepare(
    out: Path,
    git_host: str = DEFAULT_GIT_HOST,
    git_port: int = DEFAULT_GIT_PORT,
    http_port: int = DEFAULT_HTTP_PORT,
) -> dict[str, str]:
    """Write OUTDIR (see the module's docstring); return the environment for the scenarios."""
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", git_host):
        raise BootstrapError(f"--git-host {git_host!r} is not a host name or IPv4 address")
    for name, port in (("--git-port", git_port), ("--http-port", http_port)):
        if not 0 < port < 65536:
            raise BootstrapError(f"{name} {port} is not a TCP port (1-65535)")
    if out.exists():
        raise BootstrapError(f"{out} exists already; remove it or choose another folder")
    out.mkdir(parents=True)
    out = out.resolve()
    try:
        bare, work, _ = cluster.make_git_source(out)
        git_url = f"git://{git_host}:{git_port}/{bare.name}"
        branch = "main"
        point_git_source(work, git_url, branch)
        upstream = (cluster.REPO / cluster.GIT_SOURCE).read_text()
        with tempfile.TemporaryDirectory(prefix="k3d-cloud-init-") as scratch:
            outputs = cluster.terraform_outputs(work, upstream, Path(scratch))
        manifests = out / "manifests"
        manifests.mkdir()
        fork = yaml.safe_load((work / cluster.GIT_SOURCE).read_text())["data"]
        for name, content in cloud_init_manifests(outputs).items():
            if yaml.safe_load(content) == outputs["root_application"]:
                content = repoint_root(content, yaml.safe_load(upstream)["data"], fork)
            (manifests / name).write_text(content)
        (manifests / CI_TIMING_FILE).write_text(yaml.safe_dump(ci_timing(outputs), sort_keys=False))
        agents = pins.variable_defaults(pins.REPO / pins.ROOT_VARIABLES).get("agent_count")
        if not isinstance(agents, int) or agents < 1:
            raise BootstrapError(f"terraform/variables.tf: agent_count has no positive default ({agents!r})")
        config = k3d_config(outputs, manifests, agents, http_port)
        (out / "k3d.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        environment = {
            "K3D_CONFIG": str(out / "k3d.yaml"),
            "K3D_CLUSTER": CLUSTER_NAME,
            "GIT_SERVE_DIR": str(bare.parent),
            "GIT_PORT": str(git_port),
            "LIVE_KUBECONFIG": str(out / "kubeconfig"),
            "LIVE_GIT_DIR": str(work),
            "LIVE_GIT_BRANCH": branch,
            "LIVE_HTTP_URL": f"http://127.0.0.1:{http_port}",
        }
        (out / "live.env").write_text("".join(f"{name}={value}\n" for name, value in environment.items()))
        return environment
    except BaseException:
        # A half-written folder would make the next run refuse ("exists already") for no reason.
        shutil.rmtree(out, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--git-host", default=DEFAULT_GIT_HOST, help="the runner as the pods reach it")
    parser.add_argument("--git-port", type=int, default=DEFAULT_GIT_PORT, help="git daemon's port")
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="host port of Traefik's web")
    args = parser.parse_args(argv)
    try:
        environment = prepare(args.out, args.git_host, args.git_port, args.http_port)
    except (BootstrapError, cluster.ClusterError, pins.HclError) as error:
        print(f"k3d bootstrap: {error}", file=sys.stderr)
        return 1
    print(f"k3d bootstrap: wrote {args.out} (k3d.yaml, manifests/, git/, live.env)")
    for name, value in environment.items():
        print(f"  {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
