"""Each cross-reference check passes on the real tree and catches the fault it exists for."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

import pytest
import yaml
from gitops_helpers import REPO_ROOT, app_named, resource

from tools.gitops.checks import CHECKS, run_checks
from tools.gitops.render import Rendering


def backend(r: Rendering) -> dict:
    return resource(r, "Deployment", "stock-backend")


def backend_container(r: Rendering) -> dict:
    return backend(r)["spec"]["template"]["spec"]["containers"][0]


def frontend_pod(r: Rendering) -> dict:
    return resource(r, "Deployment", "stock-frontend")["spec"]["template"]["spec"]


def traefik_values(r: Rendering, edit: Callable[[dict], None]) -> None:
    config = resource(r, "HelmChartConfig", "traefik")["spec"]
    values = yaml.safe_load(config["valuesContent"])
    edit(values)
    config["valuesContent"] = yaml.safe_dump(values)


def project(r: Rendering) -> dict:
    return resource(r, "AppProject", "stock")["spec"]


def stock_app(r: Rendering) -> dict:
    return app_named(r, "stock-app").application["spec"]


BROKEN: dict[str, tuple[Callable[[Rendering], None], str]] = {
    "service selects nothing": (
        lambda r: resource(r, "Service", "stock-backend")["spec"]["selector"].update(
            {"app.kubernetes.io/name": "stock-backnd"}
        ),
        "Service stock-app/stock-backend: selector",
    ),
    "service targets a port the pods lack": (
        lambda r: resource(r, "Service", "stock-frontend")["spec"]["ports"][0].update(targetPort="web"),
        "targetPort 'web' is not a named port",
    ),
    "ingress to a missing service": (
        lambda r: resource(r, "Ingress", "stock-api")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
            "service"
        ].update(name="stock-api"),
        "backend Service 'stock-api' does not exist",
    ),
    "ingress to a missing port": (
        lambda r: resource(r, "Ingress", "stock-frontend")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
            "service"
        ].update(port={"name": "https"}),
        "has no port {'name': 'https'}",
    ),
    "ingress names a missing middleware": (
        lambda r: resource(r, "Ingress", "stock-api")["metadata"]["annotations"].update(
            {"traefik.ingress.kubernetes.io/router.middlewares": "kube-system-ratelimit@kubernetescrd"}
        ),
        "middleware 'kube-system-ratelimit@kubernetescrd' is not rendered",
    ),
    "hpa targets a missing deployment": (
        lambda r: resource(r, "HorizontalPodAutoscaler", "stock-backend")["spec"]["scaleTargetRef"].update(
            name="backend"
        ),
        "scale target Deployment backend missing",
    ),
    "hpa target has no cpu request": (
        lambda r: backend_container(r)["resources"]["requests"].pop("cpu"),
        "has no CPU request, so HorizontalPodAutoscaler",
    ),
    "deployment fights the hpa over replicas": (
        lambda r: backend(r)["spec"].update(replicas=2),
        "sets spec.replicas although HorizontalPodAutoscaler",
    ),
    "application does not ignore replicas": (
        lambda r: stock_app(r).pop("ignoreDifferences"),
        "must ignore /spec/replicas",
    ),
    "application does not respect ignored differences": (
        lambda r: stock_app(r)["syncPolicy"].pop("syncOptions"),
        "RespectIgnoreDifferences=true, or every sync resets",
    ),
    "network policy selects nothing": (
        lambda r: resource(r, "NetworkPolicy", "stock-loadtest")["spec"]["podSelector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "loadtest"}
        ),
        "NetworkPolicy stock-app/stock-loadtest: podSelector matches no pod",
    ),
    "container without readiness probe": (
        lambda r: backend_container(r).pop("readinessProbe"),
        "container backend: no readinessProbe",
    ),
    "container without memory limit": (
        lambda r: backend_container(r)["resources"]["limits"].pop("memory"),
        "container backend: no memory limit",
    ),
    "writable root filesystem": (
        lambda r: backend_container(r)["securityContext"].update(readOnlyRootFilesystem=False),
        "readOnlyRootFilesystem is not true",
    ),
    "capabilities kept": (
        lambda r: backend_container(r)["securityContext"].pop("capabilities"),
        "capabilities do not drop ALL",
    ),
    "privilege escalation allowed": (
        lambda r: backend_container(r)["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation is not false",
    ),
    "may run as root": (
        lambda r: [
            backend_container(r)["securityContext"].pop("runAsNonRoot"),
            backend(r)["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
        ],
        "runAsNonRoot is not true",
    ),
    "no seccomp profile": (
        lambda r: backend(r)["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"),
        "seccompProfile is not RuntimeDefault",
    ),
    "service account token mounted": (
        lambda r: frontend_pod(r).pop("automountServiceAccountToken"),
        "Deployment stock-app/stock-frontend: mounts the default service account token",
    ),
    "image tagged latest": (
        lambda r: backend_container(r).update(image="ghcr.io/stock-gitops/stock-backend:latest"),
        "uses the mutable tag latest",
    ),
    "image without tag or digest": (
        lambda r: backend_container(r).update(image="ghcr.io/stock-gitops/stock-backend"),
        "has neither a tag nor a digest",
    ),
    "image name not replaced by images:": (
        lambda r: backend_container(r).update(image="stock-backend"),
        "has no registry path",
    ),
    "grace period shorter than the preStop pause": (
        lambda r: backend(r)["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=10),
        "terminationGracePeriodSeconds 10 leaves no time",
    ),
    "volume from a missing config map": (
        lambda r: resource(r, "Job", "stock-loadtest")["spec"]["template"]["spec"]["volumes"][0][
            "configMap"
        ].update(name="stock-loadtest"),
        "needs ConfigMap stock-loadtest",
    ),
    "traefik sees a node's address for every visitor": (
        lambda r: traefik_values(r, lambda v: v["service"]["spec"].update(externalTrafficPolicy="Cluster")),
        "externalTrafficPolicy is Cluster",
    ),
    "traefik missing on the node with the floating IP": (
        lambda r: traefik_values(r, lambda v: v.update(deployment={"replicas": 2})),
        "deployment.kind is Deployment",
    ),
    "missing service account": (
        lambda r: resource(r, "ServiceAccount", "metrics-server-check")["metadata"].update(name="checker"),
        "ServiceAccount metrics-server-check is not rendered",
    ),
    "application in a missing project": (
        lambda r: stock_app(r).update(project="stocks"),
        "Application stock-app: project 'stocks' is not rendered",
    ),
    "project refuses the destination": (
        lambda r: project(r).update(destinations=project(r)["destinations"][1:]),
        "project stock does not allow namespace stock-app",
    ),
    "project refuses a kind": (
        lambda r: project(r).update(
            namespaceResourceWhitelist=[
                e for e in project(r)["namespaceResourceWhitelist"] if e["kind"] != "Middleware"
            ]
        ),
        "Application platform: project stock does not allow kind Middleware",
    ),
    "project refuses a cluster-scoped kind": (
        lambda r: project(r).update(clusterResourceWhitelist=[]),
        "Application stock-app: project stock does not allow kind Namespace",
    ),
    "project refuses the repository": (
        lambda r: project(r).update(sourceRepos=["https://github.com/someone-else/*"]),
        "project stock does not allow source",
    ),
}


def test_the_real_tree_has_no_problems(prod):
    assert run_checks(prod) == []


@pytest.mark.parametrize("fault", BROKEN)
def test_each_fault_is_caught(rendering, fault):
    breaks, expected = BROKEN[fault]
    breaks(rendering)
    problems = run_checks(rendering)
    assert any(expected in problem for problem in problems), problems


def test_every_check_has_a_fault_that_only_it_catches(rendering):
    """No check is dead code: each one reports at least one of the faults above on its own."""
    caught_by = set()
    for breaks, expected in BROKEN.values():
        broken = copy.deepcopy(rendering)
        breaks(broken)
        caught_by |= {check.__name__ for check in CHECKS if any(expected in p for p in check(broken))}
    assert caught_by == {check.__name__ for check in CHECKS}


def test_backend_grace_period_covers_pause_and_gunicorns_graceful_timeout(prod):
    """SIGKILL must not arrive before gunicorn has finished its in-flight requests."""
    config = ast.parse((REPO_ROOT / "images/backend/gunicorn.conf.py").read_text())
    graceful = next(
        node.value.value
        for node in config.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "graceful_timeout" for t in node.targets)
    )
    pod = backend(prod)["spec"]["template"]["spec"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + graceful
