"""The real tools over the Terraform code, offline: `terraform validate` and tflint must catch mistakes.

tools/terraform_root.py builds the providers into a filesystem mirror and runs init + validate in a copy;
here a copy of the module gets one planted mistake at a time, and validate must name it. tflint is built
from tools/go/tflint. (`make check-terraform` runs init, validate, the mock_provider tests and tflint on
the modules as they are.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from terraform_helpers import REPO_ROOT, TERRAFORM_DIR

from tools.gotools import Builder
from tools.terraform_root import REGISTRY, required_providers

# (file, pattern, replacement, what validate must say)
PLANTED = {
    "misspelled argument": (
        "main.tf",
        r'(resource "openstack_networking_network_v2" "cluster" \{.*?)admin_state_up(\s*=)',
        r"\1admin_state_upp\2",
        'An argument named "admin_state_upp" is not expected here',
    ),
    "wrong type (object for a bool)": (
        "main.tf",
        r'(resource "openstack_networking_network_v2" "cluster" \{.*?admin_state_up\s*=\s*)true',
        r"\1{ up = true }",
        "Incorrect attribute value type",
    ),
    "wrong type in the random provider": (
        "main.tf",
        r'(resource "random_password" "cluster_token" \{[^}]*?length\s*=\s*)48',
        r'\1"forty-eight"',
        "a number is required",
    ),
}


def copy_root_module(tmp_path: Path) -> Path:
    """terraform/ copied, with the clusters/ it reads (`${path.module}/../clusters`) beside it."""
    module = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, module, ignore=shutil.ignore_patterns(".terraform*"))
    (tmp_path / "clusters").symlink_to(REPO_ROOT / "clusters")
    return module


def validate(module: Path, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.terraform_root", "validate", str(module), "--work", str(work)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("planted", PLANTED, ids=list(PLANTED))
def test_validate_names_a_planted_mistake(tmp_path, planted):
    file, pattern, replacement, message = PLANTED[planted]
    module = copy_root_module(tmp_path)
    text = (module / file).read_text()
    broken, count = re.subn(pattern, replacement, text, count=1, flags=re.DOTALL)
    assert count == 1, f"the {planted} could not be planted: {pattern} is not in {file}"
    (module / file).write_text(broken)
    result = validate(module, tmp_path / "work")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert message in output
    assert "terraform validate` failed" in output  # init passed: validate itself caught it


def test_init_installs_from_the_mirror_only(tmp_path):
    result = validate(TERRAFORM_DIR, tmp_path / "work")
    assert result.returncode == 0, result.stdout + result.stderr
    lock = (tmp_path / "work" / "terraform" / ".terraform.lock.hcl").read_text()
    for source, version in required_providers(TERRAFORM_DIR).items():
        assert f'provider "{REGISTRY}/{source}"' in lock
        assert f'version     = "{version}"' in lock
    assert "Installing" in result.stdout
    assert not (TERRAFORM_DIR / ".terraform.lock.hcl").exists(), "a lock from local builds reached the repo"


def test_a_provider_without_a_module_is_named(tmp_path):
    module = tmp_path / "terraform"
    module.mkdir()
    (module / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
        '      version = "6.0.0"\n    }\n  }\n}\n'
    )
    result = validate(module, tmp_path / "work")
    assert result.returncode == 1
    assert "no Go module builds provider hashicorp/aws" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_version_range_is_refused(tmp_path):
    module = tmp_path / "terraform"
    module.mkdir()
    (module / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    random = {\n      source  = "hashicorp/random"\n'
        '      version = "~> 3.8"\n    }\n  }\n}\n'
    )
    result = validate(module, tmp_path / "work")
    assert result.returncode == 1
    assert "must pin one exact version" in result.stderr


def test_tflint_with_our_config_flags_an_unused_variable(tmp_path):
    module = copy_root_module(tmp_path)
    config = str(module / ".tflint.hcl")
    tflint = [str(Builder().path("tflint")), f"--chdir={module}", "--recursive", f"--config={config}"]
    clean = subprocess.run(tflint, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # In the local module too: --recursive must reach every module.
    (module / "modules" / "k3s-cloud-init" / "planted.tf").write_text(
        'variable "planted" {\n  type = string\n}\n'
    )
    planted = subprocess.run(tflint, capture_output=True, text=True, check=False)
    assert planted.returncode != 0
    assert "terraform_unused_declarations" in planted.stdout
    assert "terraform_documented_variables" in planted.stdout  # preset "all" of our config, not the default
