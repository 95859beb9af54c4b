"""The live cluster runs the versions the real one would: each pinned once, the others checked against it."""

from __future__ import annotations

import json
import re
import subprocess

import cluster

GO = cluster.REPO / "tools" / "go"


def go_mod(name: str) -> dict:
    builder = cluster.Tools().builder
    result = subprocess.run(
        [builder.toolchain.go, "mod", "edit", "-json"], cwd=GO / name, env=builder.env(), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def required(module: dict, path: str) -> str:
    versions = [r["Version"] for r in module.get("Require", []) if r["Path"] == path]
    assert versions, f"go.mod does not require {path}"
    return versions[0]


def ldflags(name: str) -> str:
    return json.loads((GO / name / "build.json").read_text())["ldflags"]


def test_control_plane_is_the_kubernetes_release_k3s_pins() -> None:
    k3s = cluster.pins.pinned("k3s_version")
    kubernetes = k3s.split("+")[0]  # v1.35.8+k3s1 -> v1.35.8
    minor = kubernetes.split(".")[1]
    module = go_mod("kubernetes")
    assert required(module, "k8s.io/kubernetes") == kubernetes, (
        f"tools/go/kubernetes must build {kubernetes} ({k3s})"
    )
    staging = {r["Old"]["Path"]: r["New"].get("Version") for r in module.get("Replace", [])}
    wrong = {
        path: version
        for path, version in staging.items()
        if version != f"v0.{minor}.{kubernetes.split('.')[2]}"
    }
    assert staging, "tools/go/kubernetes replaces no staging module"
    assert not wrong, f"staging modules not at the release of {kubernetes}: {wrong}"
    flags = ldflags("kubernetes").split()
    assert f"k8s.io/component-base/version.gitVersion={kubernetes}" in flags, flags
    assert f"k8s.io/component-base/version.gitMinor={minor}" in flags, flags


def test_argocd_reports_the_version_it_is_built_from() -> None:
    version = required(go_mod("argocd"), "github.com/argoproj/argo-cd/v3")
    assert re.search(rf"common\.version={re.escape(version.removeprefix('v'))}( |$)", ldflags("argocd")), (
        version
    )


def test_kustomize_is_the_one_argocd_bundles() -> None:
    tools = cluster.Tools()
    argocd = tools.module_dir(GO / "argocd", "github.com/argoproj/argo-cd/v3")
    bundled = re.search(r"^kustomize5_version=(\S+)$", (argocd / "hack/tool-versions.sh").read_text(), re.M)
    assert bundled, "Argo CD's hack/tool-versions.sh no longer names kustomize5_version"
    assert required(go_mod("kustomize"), "sigs.k8s.io/kustomize/kustomize/v5") == f"v{bundled[1]}"


def test_the_state_directory_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", str(cluster.STATE)], cwd=cluster.REPO, check=False)
    assert ignored.returncode == 0, f"{cluster.STATE} must be git-ignored"
