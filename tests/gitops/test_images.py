"""Each tier's image and its Deployment agree: user, port, probe paths, writable paths, environment.

The image is the one home of a tier's defaults (user, port, address, worker counts, HOME); the Deployment
sets only what the cluster changes. These tests read both, so a change on one side that the other does not
follow fails here instead of in a crash-looping pod.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from gitops_helpers import REPO_ROOT, resource


@dataclass(frozen=True)
class Tier:
    deployment: str
    folder: str
    # The paths the server answers a probe on; the backend's come from its OpenAPI document.
    health_paths: frozenset[str]


def _openapi_paths() -> frozenset[str]:
    document = yaml.safe_load((REPO_ROOT / "images/backend/stockapi/openapi.yaml").read_text())
    return frozenset(document["paths"])


TIERS = {
    "backend": Tier("stock-backend", "images/backend", _openapi_paths()),
    "frontend": Tier("stock-frontend", "images/frontend", frozenset({"/_stcore/health"})),
}


@dataclass(frozen=True)
class Image:
    uid: int
    gid: int
    port: int
    env: dict[str, str]
    healthcheck_path: str


def read_image(folder: str) -> Image:
    dockerfile = DockerfileParser(str(REPO_ROOT / folder / "Dockerfile"))
    last = {item["instruction"]: item["value"] for item in dockerfile.structure}
    uid, _, gid = last["USER"].partition(":")
    # Numeric uid:gid, so that the kubelet can check runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit(), last["USER"]
    assert gid.isdigit(), last["USER"]
    (port,) = last["EXPOSE"].split()
    # The path at the end of the URL the check opens (its port may be an f-string of $PORT).
    (path,) = re.findall(r"http://\S*?(/[\w./-]+)['\"]", last["HEALTHCHECK"])
    return Image(int(uid), int(gid), int(port), dockerfile.envs, path)


def container_of(prod, tier: Tier) -> tuple[dict, dict]:
    pod = resource(prod, "Deployment", tier.deployment)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def probe_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == port)


@pytest.fixture(params=sorted(TIERS))
def tier(request) -> Tier:
    return TIERS[request.param]


def test_the_pod_runs_as_the_images_user(prod, tier):
    image = read_image(tier.folder)
    pod, container = container_of(prod, tier)
    context = pod["securityContext"] | container.get("securityContext", {})
    assert (context["runAsUser"], context["runAsGroup"]) == (image.uid, image.gid)
    assert context["runAsNonRoot"] is True


def test_ports_and_probes_match_what_the_image_serves(prod, tier):
    image = read_image(tier.folder)
    _, container = container_of(prod, tier)
    assert [p["containerPort"] for p in container["ports"]] == [image.port]
    kinds = ("startupProbe", "livenessProbe", "readinessProbe")
    probes = {kind: container[kind]["httpGet"] for kind in kinds}
    for kind, probe in probes.items():
        assert probe_port(container, probe["port"]) == image.port, kind
        assert probe["path"] in tier.health_paths, f"{kind}: the server does not serve {probe['path']}"
    # `docker run` (HEALTHCHECK) and the kubelet judge liveness by the same endpoint.
    assert probes["livenessProbe"]["path"] == image.healthcheck_path


def test_the_deployment_sets_only_what_the_cluster_changes(prod, tier):
    image = read_image(tier.folder)
    _, container = container_of(prod, tier)
    repeated = {e["name"] for e in container.get("env", []) if image.env.get(e["name"]) == e.get("value")}
    assert not repeated, f"the image already sets {sorted(repeated)} to the same values"


def test_the_backend_in_the_cluster_serves_yahoo_data(prod):
    """The effective setting (image default, then the Deployment's env) is Yahoo, never sample data."""
    image = read_image(TIERS["backend"].folder)
    _, container = container_of(prod, TIERS["backend"])
    effective = image.env | {e["name"]: e["value"] for e in container.get("env", [])}
    assert effective["STOCK_DATA_SOURCE"] == "yahoo"


def test_everything_the_image_writes_to_is_a_writable_mount(prod, tier):
    image = read_image(tier.folder)
    _, container = container_of(prod, tier)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = [PurePosixPath(m["mountPath"]) for m in container["volumeMounts"] if not m.get("readOnly")]
    assert PurePosixPath("/tmp") in mounts, "Python, gunicorn and Streamlit write temporary files to /tmp"
    writable_settings = ("TMPDIR", "HOME", "PROMETHEUS_MULTIPROC_DIR", "YFINANCE_CACHE_DIR")
    for name in writable_settings:
        if name in image.env:
            path = PurePosixPath(image.env[name])
            assert any(path.is_relative_to(mount) for mount in mounts), f"{name}={path} is not writable"


def _pod_images(resource: dict) -> list[str]:
    """Container images of a Deployment, Job or CronJob (whatever holds a pod template)."""
    spec = resource.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    pod = template.get("spec", {})
    return [c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])]


def test_every_python_base_is_the_same_pinned_release(prod):
    """The images and the cluster's Python Jobs (load test, metrics-server check) share one base release.

    Several pins of "Python 3.13" would drift apart: a fix in one would leave the others behind.
    """
    references = {
        folder: DockerfileParser(str(REPO_ROOT / folder / "Dockerfile")).baseimage
        for folder in (tier.folder for tier in TIERS.values())
    }
    for _, manifest in prod.resources():
        for image in _pod_images(manifest):
            if image.removeprefix("docker.io/library/").startswith("python:"):
                references[f"{manifest['kind']}/{manifest['metadata']['name']}"] = image
    bases = {reference.removeprefix("docker.io/library/") for reference in references.values()}
    assert len(references) >= 4, references
    assert len(bases) == 1, references
    (base,) = bases
    assert re.fullmatch(r"python:3\.13\.\d+-slim@sha256:[0-9a-f]{64}", base), base
