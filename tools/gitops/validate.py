"""Validate everything Argo CD would apply for a cluster, without a cluster.

1. Render the cluster (tools.gitops.render).
2. Built-in kinds: `kubernetes-validate --strict` against the Kubernetes minor of our pinned K3s, read
   from the default of `k3s_version` in terraform/variables.tf (its one home).
3. CRD kinds (Application, AppProject, HelmChartConfig, Middleware): the strict JSON schemas in
   tools/gitops/schemas/<group>/<kind>_<version>.json; a CRD kind without a schema is an error. The
   Traefik HelmChartConfig's values are checked against schemas/values/traefik.json.
4. The cross-reference checks (tools.gitops.checks).
5. kubeconform, built from tools/go/kubeconform (tools/gotools.py), with the flags given (make passes
   KUBECONFORM_FLAGS from mk/gitops.mk), over one rendered file per Application. Built-in kinds are
   checked against standalone schemas generated offline from kubernetes-validate's
   (tools.gitops.kube_schemas), CRD kinds against tools/gitops/schemas through the flags' own
   -schema-location; a kind found in neither fails.

    python -m tools.gitops.validate --cluster prod --kubeconform-flags "..." [--repo-root DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from tools.gitops.checks import run_checks
from tools.gitops.kube_schemas import TEMPLATE, SchemaError, schema_root
from tools.gitops.render import RenderError, Rendering, describe, render_cluster, write_apps
from tools.gotools import Builder, ToolError
from tools.pins import ROOT_VARIABLES, HclError, pinned

SCHEMA_DIR = Path(__file__).parent / "schemas"
# kubeconform resolves the relative CRD -schema-location (tools/gitops/schemas/...) from here: the
# checkout this validator belongs to, whichever tree it validates.
TOOL_ROOT = SCHEMA_DIR.parents[2]
K3S_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s\d+$")
# HelmChartConfigs whose valuesContent has a schema: (namespace, name) -> schema file under schemas/.
VALUES_SCHEMAS = {("kube-system", "traefik"): "values/traefik.json"}


def kubernetes_version(repo_root: Path) -> str:
    """`X.Y.0` from `k3s_version`'s default `vX.Y.Z+k3sN`: validate against the cluster's minor."""
    try:
        default = pinned("k3s_version", repo_root)
    except HclError as error:
        raise RenderError(str(error)) from error
    match = K3S_VERSION.match(default)
    if not match:
        path = repo_root / ROOT_VARIABLES
        raise RenderError(f"{path}: k3s_version default {default!r} is not like vX.Y.Z+k3sN")
    return f"{match[1]}.{match[2]}.0"


@cache
def load_schema(relative: str) -> dict:
    return json.loads((SCHEMA_DIR / relative).read_text())


def crd_schema_path(resource: dict) -> str:
    """schemas/<group>/<kind>_<version>.json, the layout kubeconform's -schema-location templates use."""
    group, _, version = resource.get("apiVersion", "").rpartition("/")
    return f"{group}/{resource.get('kind', '').lower()}_{version}.json"


def schema_errors(instance: object, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    ]


def validate_crd(resource: dict) -> list[str]:
    relative = crd_schema_path(resource)
    if not (SCHEMA_DIR / relative).is_file():
        return [
            f"{describe(resource)}: no Kubernetes schema and no CRD schema at tools/gitops/schemas/{relative}"
        ]
    problems = [f"{describe(resource)}: {error}" for error in schema_errors(resource, load_schema(relative))]
    metadata = resource.get("metadata") or {}
    values_schema = VALUES_SCHEMAS.get((metadata.get("namespace"), metadata.get("name")))
    if resource.get("kind") == "HelmChartConfig" and values_schema:
        try:
            values = yaml.safe_load((resource.get("spec") or {}).get("valuesContent") or "")
        except yaml.YAMLError as error:
            return [*problems, f"{describe(resource)}: valuesContent is not YAML: {error}"]
        problems += [
            f"{describe(resource)} valuesContent: {error}"
            for error in schema_errors(values, load_schema(values_schema))
        ]
    return problems


def validate_resource(resource: dict, version: str) -> list[str]:
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return validate_crd(resource)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "(top)"
        return [f"{describe(resource)}: {where}: {error.message} (Kubernetes {error.version})"]
    except kubernetes_validate.utils.VersionNotSupportedError as error:
        raise RenderError(f"{error.message}; upgrade kubernetes-validate in requirements-dev.txt") from error
    return []


def run_kubeconform(rendering: Rendering, version: str, flags: list[str]) -> list[str]:
    """kubeconform over one file per Application; its findings become problems."""
    try:
        binary = Builder().path("kubeconform")
        builtin = schema_root(version) / TEMPLATE
    except (ToolError, SchemaError) as error:
        raise RenderError(f"cannot set up kubeconform: {error}") from error
    with tempfile.TemporaryDirectory(prefix="kubeconform-") as directory:
        files = write_apps(rendering, Path(directory))
        command = [
            str(binary), *flags, "-kubernetes-version", version,
            "-schema-location", str(builtin), *map(str, files),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, cwd=TOOL_ROOT, check=False)
    print(result.stdout, end="")
    if result.returncode != 0:
        return [f"kubeconform failed ({shlex.join(command[: -len(files)])}):\n{result.stdout}{result.stderr}"]
    return []


def validate_cluster(
    repo_root: Path | str, cluster: str, kubeconform_flags: list[str] | None = None
) -> list[str]:
    """Every problem found in what Argo CD would apply for the cluster; empty when it would apply cleanly.

    Without kubeconform_flags kubeconform is not run: tests of the Python checks alone use that; the
    command line always runs it."""
    repo_root = Path(repo_root).resolve()
    version = kubernetes_version(repo_root)
    rendering = render_cluster(repo_root, cluster)
    problems = [
        problem for _, resource in rendering.resources() for problem in validate_resource(resource, version)
    ]
    problems += run_checks(rendering)
    if kubeconform_flags is not None:
        problems += run_kubeconform(rendering, version, kubeconform_flags)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cluster", required=True, help="folder under clusters/ (e.g. prod)")
    parser.add_argument(
        "--repo-root", type=Path, default=Path.cwd(), help="checkout to validate (default: .)"
    )
    parser.add_argument(
        "--kubeconform-flags",
        required=True,
        help="kubeconform's flags; `make validate` passes KUBECONFORM_FLAGS from mk/gitops.mk",
    )
    args = parser.parse_args(argv)
    flags = shlex.split(args.kubeconform_flags)
    try:
        problems = validate_cluster(args.repo_root, args.cluster, flags)
    except RenderError as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"validate: {len(problems)} problem(s) in cluster {args.cluster}", file=sys.stderr)
        return 1
    print(
        f"validate: cluster {args.cluster} OK (Kubernetes {kubernetes_version(args.repo_root.resolve())} "
        f"schemas, CRD schemas, cross-references; kubeconform {shlex.join(flags)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
