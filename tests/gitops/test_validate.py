"""Schema validation of the rendered tree: Kubernetes kinds, our CRD schemas, Traefik values, kubeconform."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from gitops_helpers import REPO_ROOT, edit, resource

from tools.gitops.render import RenderError
from tools.gitops.validate import (
    SCHEMA_DIR,
    crd_schema_path,
    kubernetes_version,
    main,
    run_kubeconform,
    validate_cluster,
    validate_resource,
)
from tools.pins import pinned

# The Kubernetes minor the manifests are validated against, worked out here from the K3s pin independently of
# kubernetes_version() (vX.Y.Z+k3sN -> X.Y.0).
VERSION = ".".join(pinned("k3s_version").removeprefix("v").split(".")[:2]) + ".0"
SCHEMA_FILES = sorted(SCHEMA_DIR.rglob("*.json"))


def values(helmchartconfig: dict) -> dict:
    return yaml.safe_load(helmchartconfig["spec"]["valuesContent"])


def set_values(helmchartconfig: dict, change) -> None:
    content = values(helmchartconfig)
    change(content)
    helmchartconfig["spec"]["valuesContent"] = yaml.safe_dump(content)


# (kind, name, how to break it, what the error must say): typos and old keys must never pass silently.
TYPOS = {
    "Application automated typo": (
        "Application",
        "stock-app",
        lambda r: r["spec"]["syncPolicy"]["automated"].update(prunee=True),
        "'prunee' was unexpected",
    ),
    "Application source typo": (
        "Application",
        "platform",
        lambda r: r["spec"]["source"].update(pth="platform"),
        "'pth' was unexpected",
    ),
    "Application metadata typo": (
        "Application",
        "platform",
        lambda r: r["metadata"].update(annotation={}),
        "'annotation' was unexpected",
    ),
    "Application without destination server": (
        "Application",
        "platform",
        lambda r: r["spec"]["destination"].pop("server"),
        "spec/destination",
    ),
    "Application backoff not a duration": (
        "Application",
        "platform",
        lambda r: r["spec"]["syncPolicy"]["retry"]["backoff"].update(duration="10 seconds"),
        "does not match",
    ),
    "AppProject destination typo": (
        "AppProject",
        "stock",
        lambda r: r["spec"]["destinations"][0].update(namspace="x"),
        "'namspace' was unexpected",
    ),
    "AppProject whitelist typo": (
        "AppProject",
        "stock",
        lambda r: r["spec"]["clusterResourceWhitelist"][0].update(knd="Namespace"),
        "'knd' was unexpected",
    ),
    "HelmChartConfig spec typo": (
        "HelmChartConfig",
        "traefik",
        lambda r: r["spec"].update(valueContent="x"),
        "'valueContent' was unexpected",
    ),
    "Traefik values: pre-v28 globalArguments": (
        "HelmChartConfig",
        "traefik",
        lambda r: set_values(r, lambda v: v.update(globalArguments=["--global.checknewversion=false"])),
        "'globalArguments' was unexpected",
    ),
    "Traefik values: old redirectTo": (
        "HelmChartConfig",
        "traefik",
        lambda r: set_values(r, lambda v: v["ports"]["web"].update(redirectTo={"port": "websecure"})),
        "'redirectTo' was unexpected",
    ),
    "Traefik values: lower-case log level": (
        "HelmChartConfig",
        "traefik",
        lambda r: set_values(r, lambda v: v["logs"]["general"].update(level="info")),
        "'info' is not one of",
    ),
    "Traefik values: not YAML": (
        "HelmChartConfig",
        "traefik",
        lambda r: r["spec"].update(valuesContent="logs: [unclosed"),
        "valuesContent is not YAML",
    ),
    "Middleware rate limit typo": (
        "Middleware",
        "api-ratelimit",
        lambda r: r["spec"]["rateLimit"].update(avrage=10),
        "'avrage' was unexpected",
    ),
    "Middleware headers typo": (
        "Middleware",
        "security-headers",
        lambda r: r["spec"]["headers"].update(frameDenny=True),
        "'frameDenny' was unexpected",
    ),
    "Middleware with two types": (
        "Middleware",
        "security-headers",
        lambda r: r["spec"].update(rateLimit={"average": 1}),
        "spec",
    ),
    "Deployment container typo (kubernetes-validate)": (
        "Deployment",
        "stock-backend",
        lambda r: r["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicyy="Always"),
        "'imagePullPolicyy' was unexpected",
    ),
    "Service typo (kubernetes-validate)": (
        "Service",
        "stock-frontend",
        lambda r: r["spec"].update(sessionAffinty="ClientIP"),
        "'sessionAffinty' was unexpected",
    ),
    "CRD kind without a schema": (
        "Middleware",
        "api-ratelimit",
        lambda r: r.update(apiVersion="traefik.io/v1beta9"),
        "no CRD schema at tools/gitops/schemas/traefik.io/middleware_v1beta9.json",
    ),
}


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(SCHEMA_DIR)))
def test_schemas_are_valid_draft_2020_12(path: Path):
    jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_kinds_kubernetes_validate_skips_are_exactly_our_crd_schemas(prod):
    skipped = set()
    for _, r in prod.resources():
        try:
            kubernetes_validate.validate(r, VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add(crd_schema_path(r))
    assert skipped == {
        "argoproj.io/application_v1alpha1.json",
        "argoproj.io/appproject_v1alpha1.json",
        "helm.cattle.io/helmchartconfig_v1.json",
        "traefik.io/middleware_v1alpha1.json",
    }
    assert all((SCHEMA_DIR / relative).is_file() for relative in skipped)


def test_every_rendered_resource_is_valid(prod):
    assert [problem for _, r in prod.resources() for problem in validate_resource(r, VERSION)] == []


@pytest.mark.parametrize("typo", TYPOS)
def test_typos_and_renamed_keys_are_rejected(prod, typo):
    kind, name, breaks, expected = TYPOS[typo]
    broken = copy.deepcopy(resource(prod, kind, name))
    breaks(broken)
    problems = validate_resource(broken, VERSION)
    assert any(expected in problem for problem in problems), problems


def test_kubernetes_version_comes_from_the_k3s_pin():
    assert kubernetes_version(REPO_ROOT) == VERSION


def pinned_default(tree: Path) -> str:
    return f'default     = "{pinned("k3s_version", tree)}"'


def test_kubernetes_version_follows_a_k3s_upgrade(tree):
    major, minor, _ = kubernetes_version(tree).split(".")
    edit(
        tree / "terraform/variables.tf",
        pinned_default(tree),
        f'default     = "v{major}.{int(minor) + 1}.2+k3s1"',
    )
    assert kubernetes_version(tree) == f"{major}.{int(minor) + 1}.0"


@pytest.mark.parametrize(
    ("default", "message"),
    [('"stable"', "is not like vX\\.Y\\.Z\\+k3sN"), ('"v1.35.8"', "is not like vX\\.Y\\.Z\\+k3sN")],
)
def test_a_k3s_channel_instead_of_a_version_is_refused(tree, default, message):
    edit(tree / "terraform/variables.tf", pinned_default(tree), f"default     = {default}")
    with pytest.raises(RenderError, match=message):
        kubernetes_version(tree)


def test_missing_k3s_variable_is_an_error(tree):
    (tree / "terraform/variables.tf").write_text('variable "other" {\n  type = string\n}\n')
    with pytest.raises(RenderError, match="declares no variable k3s_version"):
        kubernetes_version(tree)


def test_the_prod_cluster_validates():
    assert validate_cluster(REPO_ROOT, "prod") == []


def test_a_typo_in_a_manifest_file_fails_validate(tree, capsys):
    edit(
        tree / "apps/stock-app/frontend/service.yaml", "sessionAffinity: ClientIP", "sessionAffinty: ClientIP"
    )
    flags = shlex.join(make_flags())
    assert main(["--cluster", "prod", "--repo-root", str(tree), "--kubeconform-flags", flags]) == 1
    output = capsys.readouterr()
    assert "FAIL Service stock-app/stock-frontend" in output.out
    assert "additional properties 'sessionAffinty' not allowed" in output.out  # kubeconform's words too
    assert "problem(s) in cluster prod" in output.err


def make_flags() -> list[str]:
    printed = subprocess.run(
        ["make", "-s", "--no-print-directory", "print-kubeconform-flags"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return shlex.split(printed)


def test_kubeconform_passes_the_prod_cluster(capsys):
    assert validate_cluster(REPO_ROOT, "prod", make_flags()) == []
    summary = capsys.readouterr().out
    assert "Invalid: 0, Errors: 0, Skipped: 0" in summary
    assert "Valid: 0," not in summary


# Planted into a rendered Application, each must fail kubeconform itself (its Python twin is bypassed by
# calling run_kubeconform directly): (change, what kubeconform must say).
PLANTED = {
    "unknown field": (
        lambda r: r["Service"]["spec"].update(sessionAffinty="ClientIP"),
        "additional properties 'sessionAffinty' not allowed",
    ),
    "wrong type": (
        lambda r: r["Service"]["spec"]["ports"][0].update(port="eighty"),
        "got string, want integer",
    ),
    "kind without a schema": (
        lambda r: r["Service"].update(apiVersion="example.com/v1", kind="Widget"),
        "could not find schema for Widget",
    ),
    "unknown field in a CRD kind": (
        lambda r: r["Application"]["spec"].update(projectt="default"),
        "additional properties 'projectt' not allowed",
    ),
}


@pytest.mark.parametrize("planted", PLANTED, ids=list(PLANTED))
def test_kubeconform_rejects_planted_errors(rendering, planted):
    change, message = PLANTED[planted]
    first = {}
    for _, item in rendering.resources():
        first.setdefault(item["kind"], item)
    change(first)
    problems = run_kubeconform(rendering, VERSION, make_flags())
    assert len(problems) == 1
    assert problems[0].startswith("kubeconform failed")
    assert message in problems[0]


def test_the_command_line_always_runs_kubeconform():
    result = subprocess.run(
        [sys.executable, "-m", "tools.gitops.validate", "--cluster", "prod"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--kubeconform-flags" in result.stderr


def test_kubeconform_flags_are_strict_and_find_our_schemas():
    flags = make_flags()
    assert "-strict" in flags
    assert "-ignore-missing-schemas" not in flags
    locations = [flags[i + 1] for i, flag in enumerate(flags) if flag == "-schema-location"]
    # Offline: no catalog on the network, no kubeconform default (which downloads).
    assert not [location for location in locations if "://" in location or location == "default"]
    local = [location for location in locations if location.startswith("tools/gitops/schemas/")]
    assert len(local) == 1, locations
    for path in SCHEMA_FILES:
        if path.parent.name == "values":
            continue
        group, (kind, version) = path.parent.name, path.stem.split("_")
        filled = local[0].replace("{{.Group}}", group).replace("{{.ResourceKind}}", kind)
        assert (REPO_ROOT / filled.replace("{{.ResourceAPIVersion}}", version)).is_file()
