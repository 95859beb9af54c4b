"""The k3d job (.github/workflows/live.yaml) and its scripts (tools/k3d), as far as they run without GitHub.

Docker and container registries are out of reach here, so the cluster itself is never created. What is
run: the bootstrap render (a real `terraform plan` of the cloud-init module) compared with cloud-init's
own output and k3d's own config schema; git daemon serving the Git source; the image and cluster scripts
against stubbed docker/k3d/kubectl; the smoke test against the app started as `make run` starts it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml
from tools_helpers import free_port, launched, listening, read_until

from tools import pins
from tools.k3d import bootstrap, hpa_load, smoke

REPO_ROOT = Path(__file__).resolve().parents[2]
K3D = REPO_ROOT / "tools" / "k3d"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "live.yaml"
cluster = bootstrap.cluster
GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("k3d") / "out"
    return out, bootstrap.prepare(out)


@pytest.fixture(scope="module")
def cloud_init(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The cloud-init module's outputs for this repository as it is, planned the way Terraform plans it."""
    upstream = (REPO_ROOT / cluster.GIT_SOURCE).read_text()
    return cluster.terraform_outputs(REPO_ROOT, upstream, tmp_path_factory.mktemp("cloud-init"))


def written_by_cloud_init(outputs: dict) -> dict[str, str]:
    config = yaml.safe_load(outputs["server_cloud_config"])
    return {
        entry["path"]: entry["content"]
        for entry in config["write_files"]
        if entry["path"].startswith(bootstrap.MANIFESTS_DIR + "/")
    }


# --- the bootstrap: cloud-init's manifests, in K3s's auto-deploy folder through k3d volumes --------------


def test_k3d_mounts_exactly_what_cloud_init_writes(prepared, cloud_init) -> None:
    out, _ = prepared
    config = yaml.safe_load((out / "k3d.yaml").read_text())
    mounted = {}
    for volume in config["volumes"]:
        source, target = volume["volume"].split(":")
        assert volume["nodeFilters"] == ["server:0"], "K3s applies the folder on the server"
        mounted[target] = Path(source).read_text()
    expected = written_by_cloud_init(cloud_init)
    assert len(expected) >= 2, "cloud-init writes the Argo CD HelmChart and the root Application"
    extra = {bootstrap.MANIFESTS_DIR + "/" + bootstrap.CI_TIMING_FILE}
    assert set(mounted) == set(expected) | extra
    git_url = f"git://{bootstrap.DEFAULT_GIT_HOST}:{bootstrap.DEFAULT_GIT_PORT}/stock-gitops.git"
    for path, content in expected.items():
        if yaml.safe_load(content)["kind"] == "Application":
            # The one difference: where the root pulls from, as a fork's git-source says.
            assert mounted[path] == content.replace(
                json.dumps(yaml.safe_load(content)["spec"]["source"]["repoURL"]), json.dumps(git_url)
            )
            assert yaml.safe_load(mounted[path])["spec"]["source"]["repoURL"] == git_url
        else:
            assert mounted[path] == content, f"{path} differs from cloud-init's"
    kinds = {yaml.safe_load(content)["kind"]: yaml.safe_load(content) for content in mounted.values()}
    assert kinds["HelmChart"]["spec"]["chart"] == "argo-cd"
    assert kinds["HelmChart"]["spec"]["version"] == pins.pinned("argocd_chart_version")
    assert kinds["Application"]["spec"]["source"]["path"] == "clusters/prod"


def test_the_ci_only_manifest_changes_nothing_but_argo_cds_polling(prepared, cloud_init) -> None:
    out, _ = prepared
    layer = yaml.safe_load((out / "manifests" / bootstrap.CI_TIMING_FILE).read_text())
    chart = cloud_init["argocd_helmchart"]["metadata"]
    assert layer["kind"] == "HelmChartConfig"
    assert layer["metadata"] == {"name": chart["name"], "namespace": chart["namespace"]}
    values = yaml.safe_load(layer["spec"]["valuesContent"])
    seconds = f"{cluster.APP_RESYNC_SECONDS}s"
    assert values == {
        "configs": {
            "cm": {"timeout.reconciliation": seconds},
            "params": {"reposerver.revision.cache.expiration": seconds},
        }
    }


def test_the_nodes_are_shaped_as_terraform_shapes_them(prepared, cloud_init) -> None:
    out, _ = prepared
    config = yaml.safe_load((out / "k3d.yaml").read_text())
    assert config["image"] == "rancher/k3s:" + pins.pinned("k3s_version").replace("+", "-")
    variables = pins.variable_defaults(REPO_ROOT / pins.ROOT_VARIABLES)
    assert config["servers"] == 1
    assert config["agents"] == variables["agent_count"]
    server_args = {a["arg"]: a["nodeFilters"] for a in config["options"]["k3s"]["extraArgs"]}
    for taint in cloud_init["server_k3s_config"]["node-taint"]:
        assert server_args[f"--node-taint={taint}"] == ["server:*"]
    labels = {label["label"]: label["nodeFilters"] for label in config["options"]["k3s"]["nodeLabels"]}
    for label in cloud_init["agent_k3s_config"]["node-label"]:
        assert labels[label] == ["agent:*"]
    # Traefik is reached on loopback only.
    assert [port["port"] for port in config["ports"]] == [f"127.0.0.1:{bootstrap.DEFAULT_HTTP_PORT}:80"]


def test_the_k3d_config_is_valid_for_the_pinned_k3d(prepared) -> None:
    """k3d's own JSON schema, from the source of the version tools/go/k3d pins."""
    out, _ = prepared
    source = cluster.Tools().module_dir(REPO_ROOT / "tools" / "go" / "k3d", "github.com/k3d-io/k3d/v5")
    config = yaml.safe_load((out / "k3d.yaml").read_text())
    schema_file = source / "pkg" / "config" / config["apiVersion"].split("/")[1] / "schema.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(config, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "agents": "two"}, schema)


def test_the_pinned_k3d_reads_the_config_up_to_where_it_needs_docker(prepared, tmp_path: Path) -> None:
    """Past the schema: k3d's own processing (node filters, port and volume specs, the load balancer's
    config) of the config, stopped where it first asks Docker for something, on a socket that is not there."""
    out, _ = prepared
    k3d = cluster.Tools().bin_dir("k3d") / "k3d"
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    command = [str(k3d), "cluster", "create", "--config", str(out / "k3d.yaml"), "--verbose"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Merged Cluster Config" in log, log[-3000:]
    assert "Prep: Network" in log, log[-3000:]
    assert "no-docker.sock" in log


def test_the_git_source_is_this_tree_pointed_at_the_runner(prepared) -> None:
    _, environment = prepared
    work = Path(environment["LIVE_GIT_DIR"])
    bare = Path(environment["GIT_SERVE_DIR"]) / "stock-gitops.git"

    def git(cwd: Path, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert git(work, "rev-parse", "HEAD") == git(bare, "rev-parse", environment["LIVE_GIT_BRANCH"])
    source = yaml.safe_load(git(bare, "show", f"main:{cluster.GIT_SOURCE}"))["data"]
    assert source == {"repoURL": "git://host.k3d.internal:9418/stock-gitops.git", "targetRevision": "main"}
    # Everything else is the working tree: the kustomization the images are imported under, for one.
    kustomization = "apps/stock-app/kustomization.yaml"
    assert git(bare, "show", f"main:{kustomization}") == (REPO_ROOT / kustomization).read_text().strip()


def test_live_env_holds_the_scenarios_contract(prepared) -> None:
    out, environment = prepared
    lines = dict(line.split("=", 1) for line in (out / "live.env").read_text().splitlines())
    assert lines == environment
    assert {"LIVE_KUBECONFIG", "LIVE_GIT_DIR", "LIVE_GIT_BRANCH"} <= set(lines)
    assert Path(lines["LIVE_KUBECONFIG"]).parent == out.resolve()
    assert Path(lines["K3D_CONFIG"]).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--git-port", "0"], "--git-port 0 is not a TCP port"),
        (["--http-port", "70000"], "--http-port 70000 is not a TCP port"),
        (["--git-host", "a b"], "--git-host 'a b' is not a host name"),
    ],
)
def test_bad_input_is_named_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.k3d.bootstrap", str(tmp_path / "out"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(bootstrap.BootstrapError, match="exists already"):
        bootstrap.prepare(tmp_path)


# --- git daemon: what Argo CD inside k3d clones from --------------------------------------------------


def test_serve_git_serves_the_bare_repository(prepared, tmp_path: Path) -> None:
    _, environment = prepared
    port = free_port()
    pidfile = tmp_path / "git-daemon.pid"
    script = [str(K3D / "serve-git.sh"), "127.0.0.1", str(port), environment["GIT_SERVE_DIR"], str(pidfile)]
    started = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)
    try:
        assert started.returncode == 0, started.stderr
        clone = tmp_path / "clone"
        url = f"git://127.0.0.1:{port}/stock-gitops.git"
        subprocess.run(["git", "clone", "--quiet", url, str(clone)], env=GIT_ENV, check=True, timeout=60)
        source = yaml.safe_load((clone / cluster.GIT_SOURCE).read_text())["data"]
        assert source["repoURL"].endswith(f":{environment['GIT_PORT']}/stock-gitops.git")
        # Read-only: a push through the daemon is refused (the scenarios push to the path itself).
        pushed = subprocess.run(
            ["git", "push", url, "HEAD:refs/heads/intruder"], cwd=clone, env=GIT_ENV, capture_output=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert pushed.returncode != 0
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for the daemon's socket to close after SIGTERM
    assert not listening(port)


@pytest.mark.parametrize(
    ("args", "message"), [(["127.0.0.1", "0"], "PORT must be"), (["x", "1"], "not a folder")]
)
def test_serve_git_names_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    directory = str(tmp_path) if args[0] == "127.0.0.1" else str(tmp_path / "missing")
    script = [str(K3D / "serve-git.sh"), args[0], args[1], directory, str(tmp_path / "pid")]
    result = subprocess.run(script, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert message in result.stderr


# --- the image and cluster scripts, with docker, k3d and kubectl stubbed --------------------------------


def stub(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f'#!/usr/bin/env bash\necho "$(basename "$0") $*" >>{directory}/calls\n{body}\n')
    path.chmod(0o755)
    return path


def calls(directory: Path) -> list[str]:
    return (directory / "calls").read_text().splitlines()


def kustomization_ref(image: str) -> str:
    def tag_tool(*args: str) -> str:
        command = [sys.executable, "tools/set_image_tag.py", "--image", image, *args]
        return subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    return f"{tag_tool('--print-name')}:{tag_tool('--print-tag')}"


def run_images(tmp_path: Path, *args: str, tag: str = "sha-0123456789ab") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "PY": sys.executable,
        "DOCKER": str(stub(tmp_path, "docker", "")),
        "K3D": str(stub(tmp_path, "k3d", "")),
        "LIVE_ROLLOUT_TAG": tag,
    }
    command = [str(K3D / "images.sh"), *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_images_are_built_under_the_kustomizations_names(tmp_path: Path) -> None:
    result = run_images(tmp_path, "build")
    assert result.returncode == 0, result.stderr
    backend, frontend = kustomization_ref("stock-backend"), kustomization_ref("stock-frontend")
    rollout = backend.rsplit(":", 1)[0] + ":sha-0123456789ab"
    assert sorted(calls(tmp_path)) == sorted(
        [
            f"docker buildx build --load --tag {backend} --tag {rollout} images/backend",
            f"docker buildx build --load --tag {frontend} images/frontend",
        ]
    )


def test_images_are_imported_into_the_cluster(tmp_path: Path) -> None:
    result = run_images(tmp_path, "import", "stock-gitops")
    assert result.returncode == 0, result.stderr
    (call,) = calls(tmp_path)
    assert call.startswith("k3d image import --cluster stock-gitops ")
    backend = kustomization_ref("stock-backend")
    assert set(call.split()[5:]) == {
        backend,
        backend.rsplit(":", 1)[0] + ":sha-0123456789ab",
        kustomization_ref("stock-frontend"),
    }


def test_a_rollout_tag_the_release_would_not_make_is_refused(tmp_path: Path) -> None:
    result = run_images(tmp_path, "build", tag="latest")
    assert result.returncode == 2
    assert "LIVE_ROLLOUT_TAG must be sha-<12 hex>" in result.stderr
    assert not (tmp_path / "calls").exists()


def run_cluster_up(tmp_path: Path, out: Path, nodehosts: str) -> subprocess.CompletedProcess[str]:
    k3d = stub(tmp_path, "k3d", 'if [[ $1 == kubeconfig ]]; then echo "apiVersion: v1"; fi')
    (tmp_path / "nodehosts").write_text(nodehosts)
    kubectl = stub(tmp_path, "kubectl", f"if [[ $* == *coredns* ]]; then cat {tmp_path}/nodehosts; fi")
    env = {"PATH": os.environ["PATH"], "K3D": str(k3d), "KUBECTL": str(kubectl)}
    command = [str(K3D / "cluster-up.sh"), str(out)]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def copy_of_prepared(prepared, tmp_path: Path) -> Path:
    out, environment = prepared
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "k3d.yaml").write_text((out / "k3d.yaml").read_text())
    env = {**environment, "K3D_CONFIG": str(copy / "k3d.yaml"), "LIVE_KUBECONFIG": str(copy / "kubeconfig")}
    (copy / "live.env").write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    return copy


def test_cluster_up_creates_writes_the_kubeconfig_and_finds_the_host(prepared, tmp_path: Path) -> None:
    out = copy_of_prepared(prepared, tmp_path)
    nodehosts = "172.18.0.3 k3d-stock-gitops-server-0\n172.18.0.1 host.k3d.internal\n"
    result = run_cluster_up(tmp_path, out, nodehosts)
    assert result.returncode == 0, result.stderr
    made = calls(tmp_path)
    assert made[0] == f"k3d cluster create --config {out / 'k3d.yaml'} --timeout 300s"
    assert made[1] == "k3d kubeconfig get stock-gitops"
    assert (out / "kubeconfig").read_text() == "apiVersion: v1\n"
    assert (out / "kubeconfig").stat().st_mode & 0o077 == 0
    assert (out / "live.env").read_text().splitlines()[-1] == "K3D_HOST_IP=172.18.0.1"


def test_cluster_up_without_host_k3d_internal_fails_naming_it(prepared, tmp_path: Path) -> None:
    out = copy_of_prepared(prepared, tmp_path)
    result = run_cluster_up(tmp_path, out, "172.18.0.3 k3d-stock-gitops-server-0\n")
    assert result.returncode == 1
    assert "names no host.k3d.internal" in result.stderr


# --- the smoke test, against the app as `make run` starts it ---------------------------------------------


@pytest.fixture(scope="module")
def make_run() -> tuple[str, str]:
    """tools/run_local.py (`make run`) on free loopback ports with sample data; stopped by its PID."""
    with launched() as (process, backend, frontend):
        read_until(process)
        yield f"http://127.0.0.1:{backend}", f"http://127.0.0.1:{frontend}"
        process.send_signal(signal.SIGTERM)  # run_local stops both tiers on SIGTERM
        process.wait(timeout=30)
        assert not any(listening(port) for port in (backend, frontend)), "make run left a server behind"


def test_smoke_passes_against_the_app(make_run) -> None:
    backend, frontend = make_run
    results = smoke.run(frontend, backend, wait=30)
    assert [result.name for result in results if not result.ok] == []
    assert [result.name for result in results] == [
        "dashboard at /",
        "JSON at /api/stock",
        "no metrics at /metrics",
        "no metrics at /api/metrics",
    ]


def test_smoke_catches_exposed_metrics(make_run) -> None:
    """Served where users arrive, the backend's /metrics must fail the check (an ingress routing it would)."""
    backend, _ = make_run
    result = smoke.check_no_metrics(backend, "/metrics")
    assert not result.ok
    assert "Prometheus metrics are served" in result.detail


def test_smoke_catches_the_wrong_tier_behind_a_path(make_run) -> None:
    """An ingress routing `/` to the backend, or `/api` to the frontend, fails the check."""
    backend, frontend = make_run
    assert not smoke.check_dashboard(backend).ok
    html = smoke.check_api(frontend)
    assert not html.ok
    assert "not JSON" in html.detail


def test_smoke_cli_names_a_bad_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.k3d.smoke", "--url", "127.0.0.1:8080"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--url must be an http:// or https:// URL" in result.stderr


def test_smoke_gives_up_when_nothing_answers() -> None:
    port = free_port()
    results = smoke.run(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", wait=1)
    assert [(result.name, result.ok) for result in results] == [("dashboard at /", False)]
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)


# --- the HPA watch: how it reads the HPA's and the Deployment's status ----------------------------------


def test_hpa_samples_read_cpu_and_replicas() -> None:
    hpa = {
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 6,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 180}}}
            ],
        }
    }
    point = hpa_load.sample(12.34, hpa, {"status": {"readyReplicas": 3}})
    assert point == hpa_load.Sample(seconds=12.3, cpu_percent=180, desired=6, current=2, ready=3)
    assert hpa_load.scaled_up(point, 2)
    assert not hpa_load.back_down(point, 2)
    fresh = hpa_load.sample(0, {"status": {"currentReplicas": 2, "desiredReplicas": 2}}, {"status": {}})
    assert fresh.cpu_percent is None
    assert not hpa_load.scaled_up(fresh, 2)
    assert hpa_load.back_down(fresh, 2)


# --- the workflow: every step a script above, every version from its one home --------------------------


def workflow_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["live"]["steps"]


def step(name: str) -> dict:
    return next(s for s in workflow_steps() if s.get("name") == name)


def test_every_tools_k3d_script_is_a_step_and_exists() -> None:
    scripts = "\n".join(s.get("run", "") for s in workflow_steps())
    called = set(re.findall(r"tools/k3d/([\w-]+\.sh)", scripts)) | {
        f"{name}.py" for name in re.findall(r"-m tools\.k3d\.(\w+)", scripts)
    }
    present = {path.name for path in K3D.iterdir() if path.suffix in {".sh", ".py"}}
    assert called == present, "a script the workflow calls is missing, or one in tools/k3d is never called"


def test_k3d_is_built_from_its_one_pin_never_downloaded() -> None:
    go_mod = (REPO_ROOT / "tools" / "go" / "k3d" / "go.mod").read_text()
    version = re.search(r"^\s*github\.com/k3d-io/k3d/v5 (v\S+)", go_mod, re.M)
    assert version, "tools/go/k3d/go.mod requires no k3d"
    # k3d names its helper images (load balancer, tools) after its own version: it must be the pinned one.
    ldflags = json.loads((REPO_ROOT / "tools" / "go" / "k3d" / "build.json").read_text())["ldflags"]
    assert f"-X github.com/k3d-io/k3d/v5/version.Version={version.group(1)}" in ldflags
    text = WORKFLOW.read_text()
    assert not re.search(r"\b(curl|wget)\b|releases/download", text)
    assert "gotools.py build k3d" in step("Build k3d, kubectl and argocd from tools/go")["run"]


def test_no_second_home_of_the_k3s_version() -> None:
    k3s = pins.pinned("k3s_version")
    for path in [WORKFLOW, *K3D.iterdir()]:
        if path.is_file():
            text = path.read_text()
            assert k3s not in text
            assert k3s.replace("+", "-") not in text, f"{path.name} names the K3s version"


def test_the_tools_cache_covers_every_module_the_job_builds() -> None:
    modules = step("Build k3d, kubectl and argocd from tools/go")["run"].split("build", 1)[1].split()
    assert set(modules) == {"k3d", "kubernetes", "argocd"}
    restore = next(s for s in workflow_steps() if s.get("id") == "tools-cache")
    patterns = re.findall(r"'([^']+)'", restore["with"]["key"])
    assert "tools/go/go-version" in patterns
    for module in modules:
        assert f"tools/go/{module}/*" in patterns, f"the cache key misses tools/go/{module}"
    save = step("Keep the built tools")
    assert save["with"]["path"] == restore["with"]["path"]
    assert "!cancelled()" in save["if"]


def test_the_scenarios_get_the_contract_before_they_run() -> None:
    names = [s.get("name", s.get("uses", "")) for s in workflow_steps()]
    render = step("Render the bootstrap and the Git source")["run"]
    assert '>>"$GITHUB_ENV"' in render
    assert "live.env" in render
    assert "LIVE_ROLLOUT_TAG=sha-${GITHUB_SHA:0:12}" in render
    order = [
        "Render the bootstrap and the Git source",
        "Create the k3d cluster",
        # No pod of the app may try to pull before its image is on the nodes: Git is served only then.
        "Import the images under the kustomization's names",
        "Serve the Git source to Argo CD",
        "Live scenarios (make check-live)",
    ]
    assert [names.index(name) for name in order] == sorted(names.index(name) for name in order)
    assert step("Live scenarios (make check-live)")["run"] == "make check-live"


def test_what_kwok_cannot_show_runs_even_after_a_failed_scenario() -> None:
    for name in ("HTTP through Traefik", "HPA on real CPU (the loadtest Application)"):
        assert step(name)["if"] == "${{ !cancelled() && steps.cluster.outcome == 'success' }}"
    assert step("Stop the cluster and git daemon")["if"] == "always()"


def test_a_finished_load_test_run_is_told_from_the_one_before() -> None:
    def app(started: str | None, phase: str | None) -> dict:
        return (
            {"status": {"operationState": {"startedAt": started, "phase": phase}}}
            if started
            else {"status": {}}
        )

    before = hpa_load.last_started(app("2026-11-30T10:00:00Z", "Succeeded"))
    # The sync just asked for has not started yet: the old run's result must not count as its end.
    assert not hpa_load.run_finished(app("2026-11-30T10:00:00Z", "Succeeded"), before)
    assert not hpa_load.run_finished(app("2026-11-30T10:05:00Z", "Running"), before)
    assert hpa_load.run_finished(app("2026-11-30T10:05:00Z", "Succeeded"), before)
    assert hpa_load.run_finished(app("2026-11-30T10:05:00Z", "Failed"), before)
    assert not hpa_load.run_finished(app(None, None), None)


class FakeCluster:
    """The HPA, Deployment and loadtest Application a real cluster would show, one status per poll."""

    def __init__(self, replicas: list[tuple[int, int]], runs: list[tuple[str | None, str | None]]) -> None:
        self.replicas, self.runs, self.syncs = replicas, runs, 0

    def get(self, kind: str, *_: str) -> dict:
        if kind == "application":
            started, phase = self.runs.pop(0) if len(self.runs) > 1 else self.runs[0]
            return {"status": {"operationState": {"startedAt": started, "phase": phase}}}
        desired, ready = self.replicas[0] if kind == "hpa" else self.replicas.pop(0)
        if kind == "hpa":
            return {
                "spec": {"minReplicas": 2},
                "status": {"desiredReplicas": desired, "currentReplicas": desired},
            }
        return {"status": {"readyReplicas": ready}}

    def sync_loadtest(self) -> None:
        self.syncs += 1


def test_the_watch_syncs_again_until_the_hpa_scales_then_waits_for_it_to_return(monkeypatch) -> None:
    monkeypatch.setattr(hpa_load, "POLL_S", 0)
    # min 2; the first run ends before the HPA reacts, the second one scales it to 4 and back.
    replicas = [(2, 2), (2, 2), (4, 2), (4, 4), (3, 3), (2, 2)]
    runs = [("t0", "Succeeded"), ("t0", "Succeeded"), ("t1", "Succeeded"), ("t2", "Running")]
    fake = FakeCluster(replicas, runs)
    timeline, problem = hpa_load.watch(fake, up_timeout=60, down_timeout=60)  # type: ignore[arg-type]
    assert problem is None
    assert fake.syncs == 2
    assert [point.ready for point in timeline] == [2, 2, 2, 4, 3, 2]


def test_the_watch_names_an_hpa_that_never_scales(monkeypatch) -> None:
    monkeypatch.setattr(hpa_load, "POLL_S", 0)
    fake = FakeCluster([(2, 2)] * 10_000, [("t0", "Running")])
    timeline, problem = hpa_load.watch(fake, up_timeout=0.2, down_timeout=None)  # type: ignore[arg-type]
    assert problem == "the HPA did not scale up above 2 replicas within 0 s"
    assert timeline
    assert fake.syncs == 1


def test_the_load_test_is_synced_through_a_copy_of_the_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    kubectl = stub(tmp_path, "kubectl", "")
    argocd = stub(
        tmp_path,
        "argocd",
        'echo "env $ARGOCD_BINARY_NAME $(basename "$KUBECONFIG")" >>"$(dirname "$0")/calls"',
    )
    hpa_load.Cluster(kubeconfig, str(kubectl), str(argocd)).sync_loadtest()
    set_context, sync, env = calls(tmp_path)
    assert set_context.startswith("kubectl --kubeconfig=")
    assert str(kubeconfig) not in set_context, "the scenarios' kubeconfig must stay as it is"
    assert set_context.endswith("config set-context --current --namespace=argocd")
    assert sync == "argocd app sync loadtest --core --async"
    assert env == "env argocd kubeconfig"
    assert kubeconfig.read_text() == "apiVersion: v1\n"


def test_a_failed_render_leaves_no_half_written_folder(tmp_path: Path, monkeypatch) -> None:
    def refuse(*_: object) -> dict:
        raise cluster.ClusterError("terraform plan of k3s-cloud-init failed: a test says so")

    monkeypatch.setattr(cluster, "terraform_outputs", refuse)
    with pytest.raises(cluster.ClusterError, match="a test says so"):
        bootstrap.prepare(tmp_path / "out")
    assert not (tmp_path / "out").exists()
