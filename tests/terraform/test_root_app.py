"""The root Application the server installs, and git-source.yaml as the single home of its Git source.

The root app is part of clusters/prod, so Argo CD manages its own root: what Terraform installs must be
exactly what Argo CD renders for itself, or Argo CD's first sync of the root would change it back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from terraform_helpers import CLOUD_INIT_MODULE, GIT_SOURCE, REPO_ROOT, TERRAFORM_DIR, plan_cloud_init

from tools.gitops.render import render_cluster
from tools.gitops.validate import validate_crd
from tools.pins import declared_variables


@pytest.fixture(scope="module")
def root_as_argocd_renders_it() -> dict:
    rendering = render_cluster(REPO_ROOT, "prod")
    (root,) = [
        resource
        for resource in rendering.apps[0].resources
        if resource["kind"] == "Application" and resource["metadata"]["name"] == "root"
    ]
    return root


def test_root_app_is_what_argo_cds_first_self_sync_applies(
    rendered: dict, root_as_argocd_renders_it: dict
) -> None:
    # If these differed, Argo CD would "fix" the root to git's version on its first sync.
    assert rendered["root_application"] == root_as_argocd_renders_it
    assert validate_crd(rendered["root_application"]) == []


def test_root_app_pulls_from_git_source(rendered: dict) -> None:
    data = yaml.safe_load(GIT_SOURCE.read_text())["data"]
    source = rendered["root_application"]["spec"]["source"]
    assert (source["repoURL"], source["targetRevision"]) == (data["repoURL"], data["targetRevision"])


@pytest.mark.parametrize("variables_tf", [TERRAFORM_DIR / "variables.tf", CLOUD_INIT_MODULE / "variables.tf"])
def test_no_variable_competes_with_git_source(variables_tf: Path) -> None:
    # A repo URL or revision variable would be a trap: Argo CD's self-sync would revert it.
    competing = {v for v in declared_variables(variables_tf) if re.search(r"repo|revision", v)}
    assert not competing, f"{variables_tf.relative_to(REPO_ROOT)}: {competing}; git-source.yaml is their home"


GIT_SOURCE_HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: git-source\n"


@pytest.mark.parametrize(
    ("git_source", "message"),
    [
        (GIT_SOURCE_HEAD, "must set data.repoURL"),
        (GIT_SOURCE_HEAD + "data:\n  targetRevision: main\n", "must set data.repoURL"),
        (
            GIT_SOURCE_HEAD + "data:\n  repoURL: github.com/you/x\n  targetRevision: main\n",
            "must set data.repoURL",
        ),
        (
            GIT_SOURCE_HEAD + "data:\n  repoURL: https://github.com/you/x.git\n",
            "must set data.targetRevision",
        ),
        ("kind: ConfigMap\nmetadata:\n  name: other\n", "must be the ConfigMap named git-source"),
    ],
)
def test_incomplete_git_source_fails_the_plan_naming_the_file(
    tmp_path: Path, git_source: str, message: str
) -> None:
    planned = plan_cloud_init(tmp_path, git_source_manifest=git_source)
    output = " ".join((planned.stdout + planned.stderr).split())
    assert planned.returncode != 0
    assert message in output, output
    assert "clusters/components/git-source/git-source.yaml" in output
