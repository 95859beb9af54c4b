"""The argocd-cm health checks run by Argo CD itself, offline, on the same cases as the Lua 5.1 tests.

test_argocd_helmchart.py runs the scripts in lupa's Lua 5.1 with Argo CD's libraries; here the real
`argocd` (tools/go/argocd, the version the live cluster runs) evaluates them with its own gopher-lua VM:
`argocd admin settings resource-overrides health <resource> --argocd-cm-path <argocd-cm>` needs no
cluster. A script that only works in lupa, or a case whose status differs in Argo CD, fails here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from health_cases import APPLICATION_CASES, CRONJOB_CASES, argocd_values

from tools.gotools import Builder


@pytest.fixture(scope="module")
def argocd() -> Path:
    # tools/go/argocd builds Argo CD's single binary, `cmd`, which acts as the CLI under that name.
    return Builder().path("cmd")


@pytest.fixture(scope="module")
def argocd_cm(rendered: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """argocd-cm as the argo-cd chart renders it from the bootstrap HelmChart's configs.cm."""
    path = tmp_path_factory.mktemp("argocd-cm") / "argocd-cm.yaml"
    data = argocd_values(rendered)["configs"]["cm"]
    path.write_text(
        yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data}
        )
    )
    return path


def argocd_health(argocd: Path, argocd_cm: Path, resource: dict, work: Path) -> tuple[str, str]:
    manifest = work / "resource.yaml"
    manifest.write_text(yaml.safe_dump(resource))
    done = subprocess.run(
        [
            str(argocd),
            "admin",
            "settings",
            "resource-overrides",
            "health",
            str(manifest),
            "--argocd-cm-path",
            str(argocd_cm),
        ],
        env={**os.environ, "ARGOCD_BINARY_NAME": "argocd"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fields = dict(
        line.split(": ", 1) for line in done.stdout.splitlines() if line.startswith(("STATUS:", "MESSAGE:"))
    )
    assert "STATUS" in fields, done.stdout + done.stderr
    return fields["STATUS"], fields.get("MESSAGE", "")


@pytest.mark.parametrize(("resource", "status", "message_part"), APPLICATION_CASES + CRONJOB_CASES)
def test_argo_cd_itself_reaches_the_same_verdict(
    argocd: Path, argocd_cm: Path, tmp_path: Path, resource: dict, status: str, message_part: str
) -> None:
    got_status, got_message = argocd_health(argocd, argocd_cm, resource, tmp_path)
    assert got_status == status, got_message
    assert message_part in got_message
