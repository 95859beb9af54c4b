"""The root module's variable validations, run by real Terraform offline.

The root module needs the OpenStack provider, which cannot be downloaded here, but variables need no
provider: terraform/variables.tf alone, copied into an empty module, is planned with each input.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from terraform_helpers import TERRAFORM_DIR, terraform

GOOD = {
    "image_name": "Ubuntu 24.04",
    "server_flavor": "m1.medium",
    "agent_flavor": "m1.large",
    "external_network": "public",
    "admin_cidrs": ["198.51.100.7/32"],
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample you@laptop",
}


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module = tmp_path_factory.mktemp("variables")
    shutil.copy(TERRAFORM_DIR / "variables.tf", module)
    return module


def plan(module: Path, **overrides: object) -> tuple[int, str]:
    inputs = {**GOOD, **overrides}
    var_file = module / "inputs.tfvars.json"
    var_file.write_text(json.dumps({k: v for k, v in inputs.items() if v is not ...}))
    result = terraform(f"-chdir={module}", "plan", "-no-color", "-input=false", f"-var-file={var_file}")
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def test_example_inputs_pass(variables_only: Path) -> None:
    code, output = plan(variables_only)
    assert code == 0, output


@pytest.mark.parametrize(
    "overrides",
    [
        # The defaults: the cloud's own resolver, image boot.
        {"dns_nameservers": ..., "boot_volume_size": ...},
        {"dns_nameservers": None, "boot_volume_size": None},
        {"dns_nameservers": ["192.0.2.53"]},
        {"dns_nameservers": [f"192.0.2.{n}" for n in range(1, 6)]},
        {"boot_volume_size": 20},
        {"boot_volume_size": 1024},
    ],
)
def test_optional_inputs_accept_what_they_document(
    variables_only: Path, overrides: dict[str, object]
) -> None:
    code, output = plan(variables_only, **overrides)
    assert code == 0, output


def test_the_example_tfvars_passes(variables_only: Path) -> None:
    shutil.copy(TERRAFORM_DIR / "terraform.example.tfvars", variables_only / "example.tfvars")
    result = terraform(
        f"-chdir={variables_only}", "plan", "-no-color", "-input=false", "-var-file=example.tfvars"
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"admin_cidrs": ["0.0.0.0/0"]}, "must not contain 0.0.0.0/0"),
        ({"admin_cidrs": ["198.51.100.7/32", "0.0.0.0/0"]}, "must not contain 0.0.0.0/0"),
        ({"admin_cidrs": []}, "must list at least one IPv4 network"),
        ({"admin_cidrs": ["my-laptop"]}, "must list at least one IPv4 network"),
        ({"agent_count": 0}, "agent_count must be a whole number from 1 to 20"),
        ({"agent_count": 1.5}, "agent_count must be a whole number from 1 to 20"),
        ({"k3s_version": "latest"}, "k3s_version must be an exact K3s release tag"),
        ({"k3s_version": "v1.35.8"}, "k3s_version must be an exact K3s release tag"),
        ({"argocd_chart_version": "10.x"}, "argocd_chart_version must be an exact chart version"),
        ({"key_pair_name": "team-key"}, "Set exactly one of key_pair_name"),
        ({"ssh_public_key": ...}, "Set exactly one of key_pair_name"),
        ({"ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "must be an OpenSSH public key line"),
        ({"subnet_cidr": "10.42.8.0/24"}, "overlaps K3s's pod"),
        ({"subnet_cidr": "10.0.0.0/8"}, "between /16 and /26"),
        ({"subnet_cidr": "192.168.42.0/28"}, "between /16 and /26"),
        ({"cluster_name": "Stock_Prod"}, "cluster_name must be 1-20 lowercase"),
        ({"cluster_path": "../etc"}, "cluster_path must be a folder directly under clusters/"),
        ({"dns_nameservers": ["dns.google"]}, "dns_nameservers must be IPv4 addresses"),
        ({"dns_nameservers": ["2606:4700:4700::1111"]}, "dns_nameservers must be IPv4 addresses"),
        ({"dns_nameservers": ["192.0.2.53", "192.0.2.53"]}, "must list each resolver once, at most 5"),
        (
            {"dns_nameservers": [f"192.0.2.{n}" for n in range(1, 7)]},
            "must list each resolver once, at most 5",
        ),
        ({"boot_volume_size": 10}, "boot_volume_size must be a whole number of GiB from 20 to 1024"),
        ({"boot_volume_size": 40.5}, "boot_volume_size must be a whole number of GiB from 20 to 1024"),
        ({"boot_volume_size": 4096}, "boot_volume_size must be a whole number of GiB from 20 to 1024"),
        ({"image_name": " "}, "image_name must name an image"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(
    variables_only: Path, overrides: dict[str, object], message: str
) -> None:
    code, output = plan(variables_only, **overrides)
    assert code != 0
    assert message in output
