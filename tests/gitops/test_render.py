"""The renderer follows the app-of-apps the way Argo CD does, and refuses what it cannot render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gitops_helpers import REPO_ROOT, app_named, edit, resource

from tools.gitops.render import RenderError, load_git_source, main, render_cluster

NEW_URL = "https://github.com/a-fork/stock-gitops.git"


def images(rendering) -> dict[str, str]:
    return {
        container["name"]: container["image"]
        for _, r in rendering.resources()
        if r["kind"] == "Deployment"
        for container in r["spec"]["template"]["spec"]["containers"]
    }


def test_renders_the_root_and_every_child_application(prod):
    assert {app.name: app.path for app in prod.apps} == {
        "root": "clusters/prod",
        "platform": "platform",
        "stock-app": "apps/stock-app",
        "loadtest": "apps/loadtest",
    }
    assert {r["kind"] for r in app_named(prod, "stock-app").resources} >= {
        "Namespace",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
    }


def test_every_application_and_the_project_get_the_one_git_source(prod):
    source = load_git_source(REPO_ROOT)
    applications = [r for _, r in prod.resources() if r["kind"] == "Application"]
    assert len(applications) == 4
    for application in [*applications, app_named(prod, "root").application]:
        assert application["spec"]["source"]["repoURL"] == source.repo_url
        assert application["spec"]["source"]["targetRevision"] == source.target_revision
    assert resource(prod, "AppProject", "stock")["spec"]["sourceRepos"] == [source.repo_url]


def test_a_fork_changes_the_repo_url_in_one_file(tree):
    edit(
        tree / "clusters/components/git-source/git-source.yaml",
        "https://github.com/stock-gitops/stock-gitops.git",
        NEW_URL,
    )
    rendering = render_cluster(tree, "prod")
    urls = {r["spec"]["source"]["repoURL"] for _, r in rendering.resources() if r["kind"] == "Application"}
    assert urls == {NEW_URL}
    assert resource(rendering, "AppProject", "stock")["spec"]["sourceRepos"] == [NEW_URL]


def test_a_tag_bump_changes_only_that_image(tree, prod):
    edit(tree / "apps/stock-app/kustomization.yaml", "newTag: 0.1.0", "newTag: sha-0123456789ab")
    bumped = render_cluster(tree, "prod")
    assert images(bumped) == {
        "backend": "ghcr.io/stock-gitops/stock-backend:sha-0123456789ab",
        "frontend": "ghcr.io/stock-gitops/stock-frontend:0.1.0",
    }
    before = [r for _, r in prod.resources()]
    after = [r for _, r in bumped.resources()]
    changed = [b for a, b in zip(before, after, strict=True) if a != b]
    assert [(r["kind"], r["metadata"]["name"]) for r in changed] == [("Deployment", "stock-backend")]


def test_resources_without_a_namespace_go_to_the_destination_namespace(prod):
    assert resource(prod, "Job", "stock-loadtest")["metadata"]["namespace"] == "stock-app"
    assert resource(prod, "CronJob", "metrics-server-check")["metadata"]["namespace"] == "kube-system"
    assert "namespace" not in resource(prod, "ClusterRole", "metrics-server-check")["metadata"]


def test_a_dangling_path_is_an_error(tree):
    edit(tree / "clusters/prod/platform.yaml", "path: platform", "path: platfrom")
    with pytest.raises(RenderError, match=r"Application argocd/platform: .*'platfrom'.*dangling"):
        render_cluster(tree, "prod")


def test_a_child_application_from_another_repository_is_an_error(tree):
    (tree / "apps/stock-app/extra-app.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "sneaky", "namespace": "argocd"},
                "spec": {
                    "project": "stock",
                    "source": {"repoURL": NEW_URL, "targetRevision": "main", "path": "apps"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "stock-app"},
                },
            }
        )
    )
    edit(
        tree / "apps/stock-app/kustomization.yaml",
        "  - ingress.yaml\n",
        "  - ingress.yaml\n  - extra-app.yaml\n",
    )
    with pytest.raises(RenderError, match=r"sneaky points at .*a-fork.*not this repository"):
        render_cluster(tree, "prod")


def test_an_application_without_a_source_is_an_error(tree):
    edit(tree / "clusters/prod/loadtest.yaml", "  source:\n    path: apps/loadtest\n", "")
    # The git-source component would create spec.source.repoURL; without a path it is still unrenderable.
    with pytest.raises(RenderError, match=r"loadtest: spec\.source\.path must be"):
        render_cluster(tree, "prod")


def test_an_unbuildable_kustomization_names_the_folder(tree):
    edit(tree / "platform/kustomization.yaml", "  - traefik\n", "  - traefik\n  - missing-folder\n")
    with pytest.raises(RenderError, match=r"kustomize build .*platform failed"):
        render_cluster(tree, "prod")


def test_an_unknown_cluster_lists_the_known_ones(tree):
    with pytest.raises(RenderError, match=r"no cluster 'staging'.*known: prod"):
        render_cluster(tree, "staging")


def test_cli_prints_every_app_and_writes_one_file_each(tree, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["--cluster", "prod", "--repo-root", str(tree), "--out-dir", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("# Application ") == 4
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "loadtest.yaml",
        "platform.yaml",
        "root.yaml",
        "stock-app.yaml",
    ]
    kinds = [d["kind"] for d in yaml.safe_load_all((out_dir / "stock-app.yaml").read_text())]
    assert "Deployment" in kinds


def test_cli_reports_errors_without_a_traceback(tree):
    edit(tree / "clusters/prod/platform.yaml", "path: platform", "path: nowhere")
    result = subprocess.run(
        [sys.executable, "-m", "tools.gitops.render", "--cluster", "prod", "--repo-root", str(tree)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("render: error: Application argocd/platform")
    assert "Traceback" not in result.stderr


def test_cli_help_documents_the_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "tools.gitops.render", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--cluster" in result.stdout
    assert "render_cluster" in result.stdout


def test_works_from_any_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert render_cluster(REPO_ROOT, "prod").apps[0].name == "root"
