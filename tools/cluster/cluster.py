"""A local cluster shaped like the one Terraform builds, with Argo CD bootstrapped the way cloud-init does.

    python tools/cluster/cluster.py up      # start everything; prints how to use kubectl and argocd
    python tools/cluster/cluster.py down    # stop every process `up` started, remove the state
    python tools/cluster/cluster.py status  # which recorded processes still run

Real: etcd, kube-apiserver (Pod Security Admission, RBAC, strict field validation), kube-controller-manager,
kube-scheduler, metrics-server behind the aggregator (metrics.py), Argo CD's application-controller,
repo-server and API server, redis. Simulated: the nodes (kwok: no kubelet, no containers, no network; pods
become Ready and Job pods complete by kwok's stages; their CPU and memory are kwok's numbers), except that
the metrics-server check's Job pods have their command run on the host (pod_runner.py).
Every binary is built from source by tools/gotools.py from the modules in tools/go/. Everything binds
127.0.0.1 on free ports; the state (certificates, etcd data, the local Git repository, the kubeconfig)
lives in .out/cluster/, logs in .out/cluster-logs/.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tools"))
import argocd_core  # noqa: E402
import metrics  # noqa: E402
import pins  # noqa: E402
import pod_runner  # noqa: E402
from gotools import Builder, ToolError  # noqa: E402

OUT = REPO / ".out"
STATE = Path(os.environ.get("CLUSTER_STATE_DIR", OUT / "cluster"))
LOGS = Path(os.environ.get("CLUSTER_LOG_DIR", OUT / "cluster-logs"))
STATE_FILE = "state.json"
CLUSTER = os.environ.get("CLUSTER", "prod")
ARGOCD_NAMESPACE = "argocd"
# K3s's default ranges (terraform/variables.tf keeps the cluster network clear of them).
SERVICE_CIDR = "10.43.0.0/16"
POD_CIDR = "10.42.0.0/16"
# How often Argo CD re-reads Git here (the shipped default is minutes); the tests poll instead of waiting.
APP_RESYNC_SECONDS = 10
# OpenStack's default flavors (what `openstack flavor create` makes on a fresh DevStack/Kolla cloud);
# terraform.example.tfvars names two of them. Unknown names fail with a message instead of a guess.
OPENSTACK_FLAVORS = {
    "m1.tiny": ("1", "512Mi"),
    "m1.small": ("1", "2Gi"),
    "m1.medium": ("2", "4Gi"),
    "m1.large": ("4", "8Gi"),
    "m1.xlarge": ("8", "16Gi"),
}
GIT_SOURCE = "clusters/components/git-source/git-source.yaml"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# kwok's own stage definitions (module sigs.k8s.io/kwok, kustomize/stage/...): node heartbeat with
# leases, pods become Ready, Job pods complete, deleted pods go away.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


class ClusterError(Exception):
    """A problem `up` or `down` reports as one line, without a stack trace."""


def log(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, condition, timeout: float, interval: float = 0.5, process: Process | None = None):
    """Poll `condition` until it returns something truthy; fail naming `what` (and the log) on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if process is not None and process.popen is not None and process.popen.poll() is not None:
            raise ClusterError(
                f"{what}: {process.name} exited with {process.popen.returncode}; see {process.log}"
            )
        try:
            result = condition()
        except (OSError, requests.RequestException, subprocess.SubprocessError) as error:
            last_error, result = error, None
        if result:
            return result
        time.sleep(interval)
    hint = f"; see {process.log}" if process else ""
    detail = f" (last error: {last_error})" if last_error else ""
    raise ClusterError(f"{what} not ready after {timeout:.0f} s{detail}{hint}")


# --- state: what `down` needs to stop ---------------------------------------------------------------


def load_state(state_dir: Path | None = None) -> dict:
    path = (state_dir or STATE) / STATE_FILE
    if not path.exists():
        return {"processes": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ClusterError(f"{path} is not valid JSON ({error}); stop the processes by hand") from error


def save_state(state: dict, state_dir: Path | None = None) -> None:
    state_dir = state_dir or STATE
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))


@dataclass
class Process:
    name: str
    log: Path
    popen: subprocess.Popen | None = None


def start(
    state: dict, name: str, argv: list[str], ports: list[int], env: dict | None = None, cwd=None
) -> Process:
    """Start one process in its own session (so `down` can stop its children too) and record it."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    with log_path.open("w") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    state["processes"].append({"name": name, "pid": popen.pid, "ports": ports, "argv0": argv[0]})
    save_state(state)
    return Process(name, log_path, popen)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child not yet reaped) is gone for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_recorded(state: dict, timeout: float = 20) -> list[str]:
    """SIGTERM each recorded process group, then SIGKILL what is left; return what still runs."""
    processes = state.get("processes", [])

    def left() -> list[str]:
        # The ports too: a child of a recorded process (same group) can hold one after its parent is
        # gone, and under load it may not have died yet when the parent has.
        alive = [f"{e['name']} (pid {e['pid']})" for e in processes if pid_alive(e["pid"])]
        return alive + [
            f"{e['name']} port {p}" for e in processes for p in e.get("ports", []) if port_open(p)
        ]

    for entry in reversed(processes):
        with_group(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and left():
        time.sleep(0.2)
    for entry in processes:
        # The group even when its leader is gone but a port is not: a child may ignore SIGTERM.
        if pid_alive(entry["pid"]) or any(port_open(p) for p in entry.get("ports", [])):
            with_group(entry["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and left():
        time.sleep(0.2)
    return left()


def with_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each process leads its own session, so its group id is its pid
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def down(state_dir: Path | None = None, timeout: float = 20) -> int:
    state_dir = state_dir or STATE
    state = load_state(state_dir)
    left = stop_recorded(state, timeout)
    if left:
        log("still running after SIGKILL: " + ", ".join(left))
        return 1
    shutil.rmtree(state_dir, ignore_errors=True)
    log(f"stopped {len(state['processes'])} processes, removed {state_dir}")
    return 0


# --- inputs derived from the repository ----------------------------------------------------------------


class Tools:
    """Binaries and module sources from tools/go, built or downloaded by tools/gotools.py."""

    def __init__(self) -> None:
        self.builder = Builder()
        self.bins: dict[str, Path] = {}

    def bin_dir(self, module: str) -> Path:
        if module not in self.bins:
            try:
                self.bins[module], built = self.builder.build(module)
            except ToolError as error:
                raise ClusterError(str(error)) from error
            if built:
                log(f"built tools/go/{module}")
        return self.bins[module]

    def module_dir(self, module_dir: Path, module: str) -> Path:
        """Where the Go module cache holds the source of `module` at the version module_dir/go.mod pins."""
        env = {**self.builder.env(), "GOFLAGS": "-mod=readonly"}
        result = subprocess.run(
            [self.builder.toolchain.go, "mod", "download", "-json", module],
            cwd=module_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"go mod download {module} in {module_dir}: {result.stderr.strip() or result.stdout}"
            )
        return Path(json.loads(result.stdout)["Dir"])


def terraform_outputs(repo: Path, git_source_text: str, work: Path) -> dict:
    """Plan terraform/modules/k3s-cloud-init with `repo`'s files, as the root module does; its outputs."""
    module = REPO / "terraform" / "modules" / "k3s-cloud-init"
    variables = variable_defaults()
    inputs = {
        "k3s_version": variables["k3s_version"],
        "argocd_chart_version": variables["argocd_chart_version"],
        # Addresses and tokens only end up in K3s's config file, which this cluster does not use.
        "server_private_ip": "192.168.42.10",
        "server_public_ip": "203.0.113.10",
        "cluster_token": "LiveClusterServerToken0123456789abcdefghij",
        "agent_token": "LiveClusterAgentToken0123456789abcdefghijk",
        "root_app_manifest": (repo / "clusters" / CLUSTER / "root-app.yaml").read_text(),
        "git_source_manifest": git_source_text,
    }
    var_file = work / "cloud-init.tfvars.json"
    var_file.write_text(json.dumps(inputs))
    plan = work / "cloud-init.tfplan"
    terraform = [sys.executable, str(REPO / "tools" / "terraform.py"), f"-chdir={module}"]
    # Terraform keeps its lock and plugin cache beside the module; a private data dir keeps runs apart.
    env = {**os.environ, "TF_DATA_DIR": str(work / "terraform-data")}
    planned = subprocess.run(
        [*terraform, "plan", "-no-color", f"-var-file={var_file}", f"-out={plan}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if planned.returncode != 0:
        raise ClusterError(f"terraform plan of {module.name} failed:\n{planned.stdout}{planned.stderr}")
    shown = subprocess.run(
        [*terraform, "show", "-json", str(plan)], capture_output=True, text=True, env=env, check=False
    )
    if shown.returncode != 0:
        raise ClusterError(f"terraform show failed: {shown.stderr}")
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    return {name: output["value"] for name, output in outputs.items()}


def variable_defaults() -> dict:
    """terraform/variables.tf's defaults, read by the repository's one HCL reader (tools/pins.py)."""
    try:
        return pins.variable_defaults(REPO / pins.ROOT_VARIABLES)
    except pins.HclError as error:
        raise ClusterError(str(error)) from error


def tfvars_example() -> dict:
    try:
        parsed = pins.load(REPO / "terraform" / "terraform.example.tfvars")
    except pins.HclError as error:
        raise ClusterError(str(error)) from error
    return {key: pins.string(value) for key, value in parsed.items()}


def flavor(name: str) -> tuple[str, str]:
    if name not in OPENSTACK_FLAVORS:
        raise ClusterError(f"flavor {name!r} is not one of OpenStack's defaults {sorted(OPENSTACK_FLAVORS)}")
    return OPENSTACK_FLAVORS[name]


# --- certificates -------------------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_certificates(pki: Path) -> None:
    """A throw-away CA, the API server's serving certificate, one client certificate per component."""
    if shutil.which("openssl") is None:
        raise ClusterError(
            "openssl is needed to make the cluster's certificates (Debian: apt-get install openssl)"
        )
    pki.mkdir(parents=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=stock-gitops-live-ca", cwd=pki)  # fmt: skip
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    certificates = {
        "apiserver": ("/CN=kube-apiserver", "serverAuth",
                      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                      "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.43.0.1"),
        "admin": ("/O=system:masters/CN=admin", "clientAuth", None),
        "controller-manager": ("/CN=system:kube-controller-manager", "clientAuth", None),
        "scheduler": ("/CN=system:kube-scheduler", "clientAuth", None),
        "apiserver-etcd-client": ("/CN=kube-apiserver-etcd-client", "clientAuth", None),
    }  # fmt: skip
    for name, (subject, usage, san) in certificates.items():
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki)
        extensions = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment"]
        if san:
            extensions.append(san)
        (pki / f"{name}.ext").write_text("\n".join(extensions) + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=pki)  # fmt: skip
    metrics.certificates(pki, openssl)


def kubeconfig(path: Path, pki: Path, server: str, user: str) -> None:
    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "live", "cluster": {"server": server, "certificate-authority-data": data("ca.crt")}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": data(f"{user}.crt"),
                    "client-key-data": data(f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": "live", "context": {"cluster": "live", "user": user}}],
        "current-context": "live",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


# --- the local Git repository: a clone of the working tree, pointed at itself like a fork ------------


def git(*args: str, cwd: Path, check: bool = True) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "live cluster",
        "GIT_AUTHOR_EMAIL": "live@127.0.0.1",
        "GIT_COMMITTER_NAME": "live cluster",
        "GIT_COMMITTER_EMAIL": "live@127.0.0.1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"git {' '.join(args)} in {cwd}: {result.stderr.strip()}")
    return result.stdout


def make_git_source(state_dir: Path) -> tuple[Path, Path, str]:
    """A bare repository with the working tree (uncommitted changes included) as its main branch.

    Returns the bare repository, a work clone the scenarios commit from, and the repoURL Argo CD uses.
    """
    bare = state_dir / "git" / "stock-gitops.git"
    work = state_dir / "git" / "work"
    repo_url = bare.as_uri()
    files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=REPO).split("\0")
    work.mkdir(parents=True)
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "The working tree the live cluster starts from", cwd=work)
    # What a fork does (README, "A fork"): point git-source at its own repository and revision.
    git_source = work / GIT_SOURCE
    document = yaml.safe_load(git_source.read_text())
    original = git_source.read_text()
    for key, value in (
        ("repoURL", document["data"]["repoURL"]),
        ("targetRevision", document["data"]["targetRevision"]),
    ):
        new = repo_url if key == "repoURL" else "main"
        original = original.replace(f"{key}: {value}", f"{key}: {new}", 1)
    git_source.write_text(original)
    if yaml.safe_load(git_source.read_text())["data"] != {"repoURL": repo_url, "targetRevision": "main"}:
        raise ClusterError(f"could not point {git_source} at {repo_url}: its layout changed")
    git("commit", "--quiet", "-am", "Point git-source at the local repository, as a fork does", cwd=work)
    try:
        shortened = pod_runner.shorten_schedules(work)
    except pod_runner.RunnerError as error:
        raise ClusterError(str(error)) from error
    if shortened:
        git(
            "commit", "--quiet", "-am", "Run the CronJobs the harness runs on the host every minute", cwd=work
        )
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=state_dir)
    git("remote", "add", "origin", repo_url, cwd=work)
    git("fetch", "--quiet", "origin", cwd=work)
    git("branch", "--quiet", "--set-upstream-to=origin/main", "main", cwd=work)
    return bare, work, repo_url


# --- up ---------------------------------------------------------------------------------------------


class Kubectl:
    def __init__(self, binary: Path, config: Path) -> None:
        self.binary, self.config = binary, config

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.config}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, documents: list[dict], *extra: str) -> None:
        self("apply", "--server-side", "--field-manager=live-cluster", *extra, "-f", "-",
             stdin=yaml.safe_dump_all(documents))  # fmt: skip


def up() -> int:
    if load_state()["processes"]:
        raise ClusterError(f"a cluster is already recorded in {STATE}; run `make cluster-down` first")
    if shutil.which("redis-server") is None:
        raise ClusterError("redis-server is needed by Argo CD (Debian: apt-get install redis-server)")
    if shutil.which("git") is None:
        raise ClusterError("git is needed for the local repository Argo CD pulls from")
    began = time.monotonic()
    tools = Tools()
    for module in ("kubernetes", "etcd", "kwok", "metrics-server", "argocd", "kustomize"):
        tools.bin_dir(module)
    log(f"tools ready in {time.monotonic() - began:.0f} s")
    shutil.rmtree(STATE, ignore_errors=True)
    shutil.rmtree(LOGS, ignore_errors=True)
    STATE.mkdir(parents=True)
    state = {"processes": [], "started": time.time()}
    save_state(state)
    try:
        info = bring_up(tools, state)
    except BaseException:
        log(f"bring-up failed; stopping what started (logs stay in {LOGS})")
        stop_recorded(load_state())
        raise
    state.update(info)
    save_state(state)
    log(f"cluster up in {time.monotonic() - began:.0f} s")
    print(usage(info))
    return 0


def bring_up(tools: Tools, state: dict) -> dict:
    k8s = tools.bin_dir("kubernetes")
    pki = STATE / "pki"
    make_certificates(pki)
    names = ("etcd", "etcd-peer", "apiserver", "redis", "repo-server", "argocd-server", "controller-metrics",
             "repo-metrics", "server-metrics", "kwok", "metrics-server")  # fmt: skip
    ports = {name: free_port() for name in names}

    etcd = start(state, "etcd", [
        str(tools.bin_dir("etcd") / "server"), "--name=live", f"--data-dir={STATE / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
        f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
        f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
        f"--initial-cluster=live=http://127.0.0.1:{ports['etcd-peer']}",
        "--listen-metrics-urls=", "--unsafe-no-fsync", "--log-level=warn",
    ], [ports["etcd"], ports["etcd-peer"]])  # fmt: skip
    wait_for(
        "etcd",
        lambda: requests.get(f"http://127.0.0.1:{ports['etcd']}/health", timeout=2).ok,
        60,
        process=etcd,
    )

    server = f"https://127.0.0.1:{ports['apiserver']}"
    apiserver = start(state, "kube-apiserver", [
        str(k8s / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        # PodSecurity is in the default admission chain; naming it keeps that visible.
        "--enable-admission-plugins=NodeRestriction,PodSecurity",
        "--allow-privileged=true", "--profiling=false", "--endpoint-reconciler-type=none",
        f"--cert-dir={STATE / 'apiserver-certs'}",
        *metrics.apiserver_args(pki),
    ], [ports["apiserver"]])  # fmt: skip
    admin = STATE / "kubeconfig"
    kubeconfig(admin, pki, server, "admin")
    for component in ("controller-manager", "scheduler"):
        kubeconfig(STATE / f"{component}.kubeconfig", pki, server, component)
    cert = (str(pki / "admin.crt"), str(pki / "admin.key"))
    wait_for(
        "kube-apiserver /readyz",
        lambda: requests.get(f"{server}/readyz", cert=cert, verify=str(pki / "ca.crt"), timeout=5).ok,
        180,
        process=apiserver,
    )
    kubectl = Kubectl(k8s / "kubectl", admin)

    start(state, "kube-controller-manager", [
        str(k8s / "kube-controller-manager"), f"--kubeconfig={STATE / 'controller-manager.kubeconfig'}",
        f"--authentication-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
        f"--authorization-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
        "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--cluster-cidr={POD_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}",
    ], [])  # fmt: skip
    start(state, "kube-scheduler", [
        str(k8s / "kube-scheduler"), f"--kubeconfig={STATE / 'scheduler.kubeconfig'}",
        f"--authentication-kubeconfig={STATE / 'scheduler.kubeconfig'}",
        f"--authorization-kubeconfig={STATE / 'scheduler.kubeconfig'}",
        "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
    ], [])  # fmt: skip

    work = STATE / "terraform"
    work.mkdir()
    upstream_git_source = (REPO / GIT_SOURCE).read_text()
    bare, work_clone, repo_url = make_git_source(STATE)
    outputs = terraform_outputs(work_clone, upstream_git_source, work)

    kwok_dir = tools.module_dir(REPO / "tools" / "go" / "kwok", "sigs.k8s.io/kwok")
    # kwok watches its metrics CRDs from the start, so they come first.
    crd_sources = [*k3s_crds(tools), *metrics.kwok_crds(kwok_dir)]
    argocd_dir = tools.module_dir(REPO / "tools" / "go" / "argocd", "github.com/argoproj/argo-cd/v3")
    argocd_crds = sorted((argocd_dir / "manifests" / "crds").glob("*-crd.yaml"))
    crds = [
        doc for path in [*crd_sources, *argocd_crds] for doc in yaml.safe_load_all(path.read_text()) if doc
    ]
    kubectl.apply(crds)
    names = {doc["metadata"]["name"] for doc in crds}

    def established() -> bool:
        items = json.loads(kubectl("get", "crd", "-o", "json"))["items"]
        ready = {
            crd["metadata"]["name"]
            for crd in items
            if any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd["status"].get("conditions") or []
            )
        }
        return names <= ready

    wait_for("the CRDs established", established, 60)
    kubectl.apply(metrics.kwok_objects(kwok_dir))

    stage_files = [kwok_dir / stage for stage in KWOK_STAGES] + sorted((HERE / "stages").glob("*.yaml"))
    stages = "\n---\n".join(path.read_text() for path in stage_files)
    host_run = pod_runner.workloads(work_clone)
    stages += "\n---\n" + yaml.safe_dump_all(pod_runner.stages(host_run))
    stages += "\n---\n" + yaml.safe_dump_all(argocd_core.port_forwards(ports))  # for `argocd --core`
    (STATE / "kwok-stages.yaml").write_text(stages)
    start(state, "pod-runner", [
        sys.executable, str(HERE / "pod_runner.py"), f"--server={server}", f"--ca={pki / 'ca.crt'}",
        f"--cert={pki / 'admin.crt'}", f"--key={pki / 'admin.key'}", f"--work={STATE / 'pod-runner'}",
        *(f"--selector={','.join(f'{k}={v}' for k, v in sorted(labels.items()))}" for labels in host_run),
    ], [])  # fmt: skip
    kwok = start(state, "kwok", [
        str(tools.bin_dir("kwok") / "kwok"), f"--kubeconfig={admin}",
        f"--config={STATE / 'kwok-stages.yaml'}",
        "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        # The heartbeat-with-lease stage refreshes node status only every 10 min and leaves liveness to
        # the node leases; with --config kwok's default of 40 s is not applied, no lease was ever written,
        # the node controller marked every node NotReady after its 50 s grace period and with them every
        # pod NotReady (Deployments unavailable, stock-app Degraded), seen on the live cluster.
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}", "--node-ip=127.0.0.1", f"--server-address=127.0.0.1:{ports['kwok']}",
        *metrics.kwok_args(pki, ports["kwok"]),
    ], [ports["kwok"]])  # fmt: skip
    node_objects = nodes(outputs, kwok_dir)
    kubectl.apply(node_objects)
    node, resync = node_objects[0]["metadata"]["name"], [0]
    wait_for(
        "kwok serving the nodes' resource metrics",
        lambda: metrics.kwok_serves_metrics(kwok_dir, kubectl, ports["kwok"], node, pki / "ca.crt", resync),
        60,
        1,
        process=kwok,
    )
    metrics_server = start_metrics_server(tools, state, kubectl, server, pki, ports["metrics-server"])
    wait_for(
        "namespace default",
        lambda: kubectl("get", "serviceaccount", "default", "-n", "default", check=False),
        60,
    )

    kubectl.apply(argocd_objects(outputs))
    kubectl.apply(argocd_core.pods())
    argocd_bin = STATE / "bin"
    argocd_bin.mkdir()
    argocd_cmd = tools.bin_dir("argocd") / "cmd"
    for name in ("argocd", "argocd-server", "argocd-application-controller", "argocd-repo-server"):
        (argocd_bin / name).symlink_to(argocd_cmd)
    (argocd_bin / "kustomize").symlink_to(tools.bin_dir("kustomize") / "kustomize")
    (argocd_bin / "kubectl").symlink_to(k8s / "kubectl")
    # The helper scripts Argo CD's image puts on PATH (its Dockerfile); the repo-server runs them.
    for script in ("git-verify-wrapper.sh", "gpg-wrapper.sh", "git-ask-pass.sh"):
        shutil.copyfile(argocd_dir / "hack" / script, argocd_bin / script)
        (argocd_bin / script).chmod(0o755)
    data = STATE / "argocd"
    for sub in ("tls", "ssh", "gpg/keys", "gpg/source", "tmp", "home"):
        (data / sub).mkdir(parents=True)
    argocd_env = {
        "ARGOCD_FAKE_IN_CLUSTER": "true",
        "KUBECONFIG": str(admin),
        "ARGOCD_TLS_DATA_PATH": str(data / "tls"),
        "ARGOCD_SSH_DATA_PATH": str(data / "ssh"),
        "ARGOCD_GNUPGHOME": str(data / "gpg/keys"),
        "ARGOCD_GPG_DATA_PATH": str(data / "gpg/source"),
        "ARGOCD_GPG_ENABLED": "false",
        "TMPDIR": str(data / "tmp"),
        "HOME": str(data / "home"),
        "PATH": f"{argocd_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    redis = start(state, "redis", [
        "redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]), "--save", "",
        "--appendonly", "no",
        "--dir", str(data),
    ], [ports["redis"]])  # fmt: skip
    wait_for("redis", lambda: port_open(ports["redis"]), 30, process=redis)
    redis_address = f"127.0.0.1:{ports['redis']}"
    repo_server = start(state, "argocd-repo-server", [
        str(argocd_bin / "argocd-repo-server"), f"--port={ports['repo-server']}", f"--redis={redis_address}",
        # TLS with the self-signed certificate the repo-server makes itself, as the chart runs it: the
        # argocd CLI in core mode (tests/live) talks to it only that way (argo-cd headless.go).
        f"--metrics-port={ports['repo-metrics']}", "--client-ca-path=",
        "--address=127.0.0.1",
        # How long the repo-server trusts its last look at a branch; with the default (3 min) a push
        # would wait minutes whatever the controller's resync.
        f"--revision-cache-expiration={APP_RESYNC_SECONDS}s",
        "--metrics-address=127.0.0.1",
    ], [ports["repo-server"], ports["repo-metrics"]], env=argocd_env)  # fmt: skip
    wait_for("argocd-repo-server", lambda: port_open(ports["repo-server"]), 120, process=repo_server)
    repo_address = f"127.0.0.1:{ports['repo-server']}"
    api = start(state, "argocd-server", [
        str(argocd_bin / "argocd-server"), f"--namespace={ARGOCD_NAMESPACE}", "--insecure",
        f"--port={ports['argocd-server']}", "--address=127.0.0.1",
        f"--metrics-port={ports['server-metrics']}",
        "--metrics-address=127.0.0.1", f"--redis={redis_address}", f"--repo-server={repo_address}",
    ], [ports["argocd-server"], ports["server-metrics"]], env=argocd_env)  # fmt: skip
    controller = start(state, "argocd-application-controller", [
        str(argocd_bin / "argocd-application-controller"), f"--namespace={ARGOCD_NAMESPACE}",
        f"--redis={redis_address}", f"--repo-server={repo_address}",
        f"--metrics-port={ports['controller-metrics']}", f"--app-resync={APP_RESYNC_SECONDS}",
    ], [ports["controller-metrics"]], env=argocd_env)  # fmt: skip
    api_health = f"http://127.0.0.1:{ports['argocd-server']}/healthz"
    wait_for("argocd-server", lambda: requests.get(api_health, timeout=2).ok, 120, process=api)
    wait_for("argocd-application-controller",
             lambda: requests.get(f"http://127.0.0.1:{ports['controller-metrics']}/metrics", timeout=2).ok,
             120, process=controller)  # fmt: skip

    # The root Application exactly as cloud-init writes it into K3s's auto-deploy folder. Terraform only
    # accepts https:// and ssh:// sources (right for a real cluster), so it renders the upstream
    # git-source; the two fields it copied from there are then set from the fork's git-source.
    root = outputs["root_application"]
    upstream = yaml.safe_load(upstream_git_source)["data"]
    fork = yaml.safe_load((work_clone / GIT_SOURCE).read_text())["data"]
    for key in ("repoURL", "targetRevision"):
        if root["spec"]["source"][key] != upstream[key]:
            raise ClusterError(
                f"terraform's root Application has {key} {root['spec']['source'][key]!r}, not git-source's"
            )
        root["spec"]["source"][key] = fork[key]
    (STATE / "root-app.yaml").write_text(yaml.safe_dump(root))
    kubectl.apply([root])
    return {
        "kubeconfig": str(admin),
        "apiserver": server,
        "argocd_server": f"127.0.0.1:{ports['argocd-server']}",
        "repo_url": repo_url,
        "bare_repo": str(bare),
        "work_repo": str(work_clone),
        "kubectl": str(k8s / "kubectl"),
        "argocd": str(argocd_bin / "argocd"),
        "root_applied": time.time(),
        "ports": ports,
        "metrics_server": metrics_server,
    }


def start_metrics_server(
    tools: Tools, state: dict, kubectl: Kubectl, server: str, pki: Path, port: int
) -> dict:
    """metrics-server as K3s bundles it (tools/cluster/metrics.py); returns how to start it again."""
    module_dir = tools.module_dir(REPO / "tools" / "go" / "metrics-server", metrics.MODULE)
    try:
        bundle = metrics.MetricsServer(module_dir, tools.bin_dir("kustomize") / "kustomize")
    except metrics.MetricsError as error:
        raise ClusterError(str(error)) from error
    kubectl.apply(bundle.objects(port))
    token = kubectl(
        "create", "token", bundle.service_account, "-n", metrics.NAMESPACE, "--duration=48h"
    ).strip()
    config = STATE / "metrics-server.kubeconfig"
    metrics.token_kubeconfig(config, server, pki / "ca.crt", token)
    argv = bundle.argv(tools.bin_dir("metrics-server") / "metrics-server", config, port,
                       STATE / "metrics-server-certs", pki / "ca.crt")  # fmt: skip
    process = start(state, "metrics-server", argv, [port])
    wait_for(f"APIService {metrics.APISERVICE} Available", lambda: metrics.apiservice_available(kubectl), 90,
             process=process)  # fmt: skip
    return {"argv": argv, "port": port}


def nodes(outputs: dict, kwok_dir: Path) -> list[dict]:
    """One server node tainted as K3s's server is, `agent_count` agents labelled as cloud-init does."""
    variables = variable_defaults()
    example = tfvars_example()
    agent_count = int(variables["agent_count"])
    taints = []
    for taint in outputs["server_k3s_config"]["node-taint"]:
        key_value, effect = taint.rsplit(":", 1)
        key, _, value = key_value.partition("=")
        taints.append({"key": key, "effect": effect, **({"value": value} if value else {})})
    agent_labels = dict(label.split("=", 1) for label in outputs["agent_k3s_config"]["node-label"])
    # The labels K3s itself puts on a server node.
    server_labels = {
        "node-role.kubernetes.io/control-plane": "true",
        "node-role.kubernetes.io/master": "true",
        "node.kubernetes.io/instance-type": "k3s",
    }
    specs = [("stock-server", server_labels, taints, flavor(example["server_flavor"]))]
    specs += [
        (
            f"stock-agent-{index}",
            {**agent_labels, "node.kubernetes.io/instance-type": "k3s"},
            [],
            flavor(example["agent_flavor"]),
        )
        for index in range(1, agent_count + 1)
    ]
    documents = []
    for name, labels, node_taints, (cpu, memory) in specs:
        resources = {"cpu": cpu, "memory": memory, "pods": "110"}
        documents.append({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", **metrics.node_annotations(kwok_dir, name)},
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": "amd64",
                           "type": "kwok", **labels},
            },
            "spec": {"taints": node_taints},
            "status": {"capacity": dict(resources), "allocatable": dict(resources)},
        })  # fmt: skip
    return documents


def k3s_crds(tools: Tools) -> list[Path]:
    """The CRDs K3s installs for the kinds this repository uses, from the Go modules' own sources."""
    crd_module = HERE / "crds"
    helm = tools.module_dir(crd_module, "github.com/k3s-io/helm-controller")
    traefik = tools.module_dir(crd_module, "github.com/traefik/traefik/v3")
    return [
        *sorted((helm / "pkg/crds/yaml/generated").glob("helm.cattle.io_*.yaml")),
        traefik / "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",
    ]


def argocd_objects(outputs: dict) -> list[dict]:
    """The argocd namespace and the ConfigMaps and Secret the argo-cd chart renders from its values."""
    values = yaml.safe_load(outputs["argocd_helmchart"]["spec"]["valuesContent"]) or {}
    configs = values.get("configs", {})
    labels = {"app.kubernetes.io/part-of": "argocd"}

    def config_map(name: str, data: dict) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE, "labels": labels},
            "data": {key: str(value) for key, value in data.items()},
        }

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD_NAMESPACE}},
        config_map("argocd-cm", configs.get("cm", {})),
        config_map("argocd-cmd-params-cm", configs.get("params", {})),
        config_map("argocd-rbac-cm", configs.get("rbac", {})),
        config_map("argocd-ssh-known-hosts-cm", {}),
        config_map("argocd-tls-certs-cm", {}),
        config_map("argocd-gpg-keys-cm", {}),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "argocd-secret", "namespace": ARGOCD_NAMESPACE, "labels": labels},
            "type": "Opaque",
        },
    ]


def usage(info: dict) -> str:
    return f"""
The cluster runs. Use it with:

  export KUBECONFIG={info["kubeconfig"]}
  {info["kubectl"]} get nodes,applications -A
  {info["argocd"]} login {info["argocd_server"]} --plaintext --username admin \\
      --password "$({info["kubectl"]} -n argocd get secret argocd-initial-admin-secret \\
      -o jsonpath='{{.data.password}}' | base64 -d)"
  {info["argocd"]} app list

Argo CD pulls from {info["repo_url"]}; commit in {info["work_repo"]} and `git push` to change the cluster.
Stop everything with `make cluster-down`.
"""


def status() -> int:
    state = load_state()
    if not state["processes"]:
        print("no cluster recorded")
        return 0
    for entry in state["processes"]:
        print(
            f"{entry['name']:32} pid {entry['pid']:>7}  {'running' if pid_alive(entry['pid']) else 'stopped'}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up()
        if args.command == "down":
            return down()
        return status()
    except ClusterError as error:
        print(f"cluster: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
