"""Fixtures for the Terraform checks (helpers and paths live in terraform_helpers.py)."""

from __future__ import annotations

import pytest
from terraform_helpers import make_server_ca, plan_cloud_init, planned_outputs


@pytest.fixture(scope="session")
def server_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(certificate PEM, key PEM) of a throwaway server CA, as the root module's tls resources make one."""
    return make_server_ca(tmp_path_factory.mktemp("server-ca"))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory, server_ca: tuple[str, str]) -> dict[str, str]:
    """The cloud-init module's outputs, planned by real Terraform from the repository's files and a CA."""
    work = tmp_path_factory.mktemp("render")
    cert, key = server_ca
    planned = plan_cloud_init(work, server_ca_cert_pem=cert, server_ca_key_pem=key)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return planned_outputs(work)
