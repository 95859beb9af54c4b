"""The runner turns a Deployment into podman arguments faithfully, and refuses what it cannot express."""

from __future__ import annotations

import copy
import itertools

import pod
import pytest
from podman import ImagesError


def deployment(**container_extra) -> dict:
    container = {
        "name": "backend",
        "image": "ghcr.io/example/stock-backend:sha-0123456789ab",
        "ports": [{"name": "http", "containerPort": 5000}],
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "resources": {"limits": {"cpu": "500m", "memory": "800Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **container_extra,
    }
    return {
        "kind": "Deployment",
        "metadata": {"name": "stock-backend"},
        "spec": {
            "template": {
                "spec": {
                    "terminationGracePeriodSeconds": 50,
                    "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                }
            }
        },
    }


def pairs(args: list[str]) -> list[tuple[str, str]]:
    return [(flag, value) for flag, value in itertools.pairwise(args) if flag.startswith("--")]


def test_the_deployments_settings_become_podman_flags():
    spec = pod.pod_spec([deployment(env=[{"name": "A", "value": "1"}])], "backend")
    flags = pairs(spec.args)
    assert ("--user", "10001:10001") in flags
    assert ("--group-add", "10001") in flags
    assert "--read-only" in spec.args
    assert "--read-only-tmpfs=false" in spec.args
    assert ("--security-opt", "no-new-privileges") in flags
    assert ("--cap-drop", "all") in flags
    assert ("--tmpfs", f"/tmp:rw,exec,nosuid,nodev,mode=1777,size={256 * 2**20}") in flags
    assert ("--memory", str(800 * 2**20)) in flags
    assert ("--cpus", "0.5") in flags
    assert ("--env", "A=1") in flags
    assert ("--stop-timeout", "50") in flags
    assert spec.image == "localhost/stock-backend:dev"
    assert spec.probes["startupProbe"].budget_s == 60
    assert spec.probes["startupProbe"].port == 5000


def test_env_overrides_replace_the_deployments_value():
    spec = pod.pod_spec([deployment(env=[{"name": "A", "value": "1"}])], "backend", env_overrides={"A": "2"})
    assert spec.env == {"A": "2"}
    assert ("--env", "A=1") not in pairs(spec.args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                env=[{"name": "A", "valueFrom": {}}]
            ),
            "not a plain value",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["volumes"][0].update(
                emptyDir=None, configMap={"name": "x"}
            ),
            "not an emptyDir",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"}),
            "exactly one container",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1"),
            "not an image of images/backend",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                memory="lots"
            ),
            "memory quantity",
        ),
    ],
)
def test_what_podman_cannot_express_is_refused_by_name(change, message):
    broken = copy.deepcopy(deployment())
    change(broken)
    if broken["spec"]["template"]["spec"]["volumes"][0].get("emptyDir") is None:
        del broken["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]
    with pytest.raises(ImagesError, match=message):
        pod.pod_spec([broken], "backend")


def test_a_missing_deployment_is_named():
    with pytest.raises(ImagesError, match="no Deployment stock-frontend"):
        pod.pod_spec([deployment()], "frontend")


def test_a_services_named_target_port_resolves_to_the_containers_port():
    spec = pod.pod_spec([deployment()], "backend")
    service = {
        "kind": "Service",
        "metadata": {"name": "stock-backend"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}]},
    }
    assert pod.service_ports([service], "stock-backend", spec) == [(80, 5000)]
    service["spec"]["ports"][0]["targetPort"] = "metrics"
    with pytest.raises(ImagesError, match="targetPort 'metrics'"):
        pod.service_ports([service], "stock-backend", spec)


@pytest.mark.parametrize(
    ("value", "expected"), [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("1G", 10**9), (512, 512)]
)
def test_memory_quantities(value, expected):
    assert pod.quantity_bytes(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("1000m", 1.0), ("250m", 0.25), ("2", 2.0), (1, 1.0)])
def test_cpu_quantities(value, expected):
    assert pod.quantity_cpus(value) == expected
