"""The kubeconfig_command output, rendered by real Terraform and run against a fake ssh.

People run `eval "$(terraform output -raw kubeconfig_command)"` in the first minutes after apply, when the
server may refuse SSH and K3s may not have written k3s.yaml yet. The command must wait for it within a
bound, and otherwise fail with a message, write nothing and export nothing. The fake `ssh` on PATH runs
the real remote command (`sudo` dropped, the K3s path moved into a temporary folder), so the rewrite of
127.0.0.1 is tested too. Each scenario runs in bash and in dash (a plain POSIX sh).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from terraform_helpers import TERRAFORM_DIR, terraform

TEMPLATE = TERRAFORM_DIR / "files" / "fetch-kubeconfig.sh.tftpl"
PUBLIC_IP = "203.0.113.10"
TARGET = f"ubuntu@{PUBLIC_IP}"
KUBECONFIG = "kubeconfig-stock"
ATTEMPTS = 4
K3S_YAML = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://127.0.0.1:6443
  name: default
kind: Config
users:
- name: default
  user:
    client-certificate-data: LS0tLS1CRUdJTg==
"""
SHELLS = [shell for shell in ("bash", "dash", "zsh") if shutil.which(shell)]

# Stands in for OpenSSH: logs each call, refuses the first FAKE_SSH_REFUSE connections like a server that
# is still booting, answers the next FAKE_SSH_NOT_YET as a server whose K3s has not written k3s.yaml, and
# after that runs the remote command against FAKE_K3S_YAML (FAKE_SSH_CONTENT: "kubeconfig" or "empty").
FAKE_SSH = """#!{python}
import os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(repr(args) + "\\n")
with open(os.environ["FAKE_SSH_LOG"]) as log:
    calls = len(log.readlines())
remote = args[-1]
refuse = int(os.environ.get("FAKE_SSH_REFUSE", "0"))
not_yet = int(os.environ.get("FAKE_SSH_NOT_YET", "0"))
if calls <= refuse:
    sys.stderr.write("ssh: connect to host {ip} port 22: Connection refused\\n")
    sys.exit(255)
k3s_yaml = os.environ["FAKE_K3S_YAML"]
if calls > refuse + not_yet:
    with open(k3s_yaml, "w") as out:
        out.write(os.environ["FAKE_K3S_CONTENT"] if os.environ["FAKE_SSH_CONTENT"] == "kubeconfig" else "")
assert remote.startswith("sudo "), remote
command = remote.removeprefix("sudo ").replace("/etc/rancher/k3s/k3s.yaml", k3s_yaml)
sys.exit(subprocess.run(["sh", "-c", command]).returncode)
"""


@pytest.fixture(scope="module")
def command(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The template rendered by real Terraform's templatefile(), with a small bound and no delay."""
    work = tmp_path_factory.mktemp("kubeconfig-command")
    (work / "main.tf").write_text(
        'variable "template" {\n  type = string\n}\n'
        'variable "values" {\n  type = any\n}\n'
        'output "command" {\n  value = templatefile(var.template, var.values)\n}\n'
    )
    values = {
        "ssh_target": TARGET,
        "public_ip": PUBLIC_IP,
        "kubeconfig": KUBECONFIG,
        "attempts": ATTEMPTS,
        "interval_seconds": 0,
    }
    (work / "inputs.tfvars.json").write_text(json.dumps({"template": str(TEMPLATE), "values": values}))
    planned = terraform(
        f"-chdir={work}", "plan", "-no-color", "-var-file=inputs.tfvars.json", "-out=out.tfplan"
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    shown = terraform(f"-chdir={work}", "show", "-json", "out.tfplan")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["planned_values"]["outputs"]["command"]["value"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    ssh_calls: list[str]
    cwd: Path

    def exported(self) -> str:
        (line,) = [line for line in self.stdout.splitlines() if line.startswith("KUBECONFIG=")]
        return line.removeprefix("KUBECONFIG=")


def run(
    command: str,
    shell: str,
    tmp_path: Path,
    *,
    refuse: int = 0,
    not_yet: int = 0,
    content: str = "kubeconfig",
    existing: str | None = None,
) -> Run:
    """eval the command in `shell` as a user would, with the fake ssh first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(FAKE_SSH.format(python=sys.executable, ip=PUBLIC_IP))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    cwd = tmp_path / "work"
    cwd.mkdir()
    if existing is not None:
        (cwd / KUBECONFIG).write_text(existing)
    log = tmp_path / "ssh.log"
    log.touch()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "KCMD": command,
        "FAKE_SSH_LOG": str(log),
        "FAKE_SSH_REFUSE": str(refuse),
        "FAKE_SSH_NOT_YET": str(not_yet),
        "FAKE_SSH_CONTENT": content,
        "FAKE_K3S_YAML": str(tmp_path / "k3s.yaml"),
        "FAKE_K3S_CONTENT": K3S_YAML,
    }
    # After the eval the caller's shell must still be alive, with its own umask and KUBECONFIG.
    script = 'umask 022; eval "$KCMD"; echo "status=$?"; echo "KUBECONFIG=${KUBECONFIG-unset}"; umask'
    done = subprocess.run(
        [shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr, log.read_text().splitlines(), cwd)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_ready_server_gives_a_kubeconfig_for_the_floating_ip(
    command: str, shell: str, tmp_path: Path
) -> None:
    result = run(command, shell, tmp_path)
    assert "status=0" in result.stdout, result.stderr
    kubeconfig = result.cwd / KUBECONFIG
    assert kubeconfig.read_text() == K3S_YAML.replace("127.0.0.1", PUBLIC_IP)
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600, "the kubeconfig holds cluster-admin credentials"
    assert result.exported() == str(kubeconfig)
    assert result.stdout.splitlines()[-1] == "0022", "the caller's umask must not change"
    assert len(result.ssh_calls) == 1
    assert TARGET in result.ssh_calls[0]
    assert "'-n'" in result.ssh_calls[0], "ssh must not read the caller's stdin"
    assert sorted(p.name for p in result.cwd.iterdir()) == [KUBECONFIG], "no temporary file may be left"


@pytest.mark.parametrize("shell", SHELLS)
def test_it_waits_for_ssh_and_for_k3s_within_the_bound(command: str, shell: str, tmp_path: Path) -> None:
    result = run(command, shell, tmp_path, refuse=1, not_yet=ATTEMPTS - 2)
    assert "status=0" in result.stdout, result.stderr
    assert len(result.ssh_calls) == ATTEMPTS
    assert f"attempt 1 of {ATTEMPTS}" in result.stderr
    assert f"attempt {ATTEMPTS - 1} of {ATTEMPTS}" in result.stderr
    assert (result.cwd / KUBECONFIG).read_text() == K3S_YAML.replace("127.0.0.1", PUBLIC_IP)
    assert result.exported() == str(result.cwd / KUBECONFIG)


@pytest.mark.parametrize(
    ("scenario", "options"),
    [
        ("ssh-refused", {"refuse": 100}),
        ("k3s-yaml-never-appears", {"not_yet": 100}),
        ("k3s-yaml-empty", {"content": "empty"}),
    ],
)
@pytest.mark.parametrize("shell", SHELLS)
def test_it_gives_up_loudly_writing_and_exporting_nothing(
    command: str, shell: str, tmp_path: Path, scenario: str, options: dict
) -> None:
    result = run(command, shell, tmp_path, **options)
    assert "status=1" in result.stdout, scenario
    assert f"gave up after {ATTEMPTS} attempts" in result.stderr
    assert len(result.ssh_calls) == ATTEMPTS, "the bound is a number of attempts"
    assert result.exported() == "unset"
    assert list(result.cwd.iterdir()) == [], "nothing written, no temporary file left"
    assert result.stdout.splitlines()[-1] == "0022"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failure_keeps_an_earlier_kubeconfig(command: str, shell: str, tmp_path: Path) -> None:
    result = run(command, shell, tmp_path, refuse=100, existing="an earlier cluster's kubeconfig\n")
    assert "status=1" in result.stdout
    assert (result.cwd / KUBECONFIG).read_text() == "an earlier cluster's kubeconfig\n"
    assert [p.name for p in result.cwd.iterdir()] == [KUBECONFIG]


def test_the_rendered_command_passes_shellcheck_as_posix_sh(command: str) -> None:
    checked = subprocess.run(
        ["shellcheck", "--shell=sh", "--severity=style", "-"],
        input=command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
