"""Cross-reference checks on a rendered cluster: what kustomize and the schemas cannot see.

Each check takes the `Rendering` and returns a list of problems (strings naming the resource and the
fault). `run_checks` runs them all. The checks hold the tree to the rules the cluster would otherwise
only reveal at run time: a Service that selects no pod, an Ingress to a missing port, an HPA the
Application fights, an Application its project refuses.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator

import yaml

from tools.gitops.render import IN_CLUSTER, RenderedApp, Rendering, describe, is_application, is_namespaced

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
MIDDLEWARE_ANNOTATION = "traefik.ingress.kubernetes.io/router.middlewares"
REPLICAS_POINTER = "/spec/replicas"

Check = Callable[[Rendering], list[str]]


def namespace_of(resource: dict) -> str | None:
    return (resource.get("metadata") or {}).get("namespace")


def name_of(resource: dict) -> str | None:
    return (resource.get("metadata") or {}).get("name")


def of_kind(rendering: Rendering, *kinds: str) -> Iterator[dict]:
    for _, resource in rendering.resources():
        if resource.get("kind") in kinds:
            yield resource


def find(rendering: Rendering, kind: str, namespace: str | None, name: str | None) -> dict | None:
    for resource in of_kind(rendering, kind):
        if namespace_of(resource) == namespace and name_of(resource) == name:
            return resource
    return None


def pod_template(workload: dict) -> dict:
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def pod_templates(rendering: Rendering) -> Iterator[tuple[dict, dict]]:
    """(workload, pod template) for every workload in the rendering."""
    for workload in of_kind(rendering, *WORKLOAD_KINDS):
        yield workload, pod_template(workload)


def containers(pod: dict) -> Iterator[dict]:
    spec = pod.get("spec") or {}
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def matches(selector: dict | None, labels: dict | None) -> bool:
    """Label selector semantics for matchLabels and plain maps (Service selectors); {} selects everything."""
    selector = selector or {}
    labels = labels or {}
    expressions = selector.get("matchExpressions") or []
    match_labels = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if not all(labels.get(key) == value for key, value in match_labels.items()):
        return False
    for expression in expressions:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if not {
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


def pods_selected(rendering: Rendering, namespace: str | None, selector: dict | None) -> list[dict]:
    return [
        pod
        for workload, pod in pod_templates(rendering)
        if namespace_of(workload) == namespace
        and matches(selector, (pod.get("metadata") or {}).get("labels"))
    ]


def check_services_select_pods(rendering: Rendering) -> list[str]:
    problems = []
    for service in of_kind(rendering, "Service"):
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        selector = spec.get("selector")
        pods = pods_selected(rendering, namespace_of(service), selector) if selector else []
        if not pods:
            problems.append(
                f"{describe(service)}: selector {selector} matches no pod template in its namespace"
            )
            continue
        port_names = {
            port.get("name") for pod in pods for c in containers(pod) for port in c.get("ports") or []
        }
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str) and target not in port_names:
                problems.append(f"{describe(service)}: targetPort {target!r} is not a named port of its pods")
    return problems


def check_ingress_backends(rendering: Rendering) -> list[str]:
    problems = []
    for ingress in of_kind(rendering, "Ingress"):
        spec = ingress.get("spec") or {}
        backends = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
        for rule in spec.get("rules") or []:
            backends += [path.get("backend") or {} for path in (rule.get("http") or {}).get("paths") or []]
        for backend in backends:
            wanted = backend.get("service") or {}
            service = find(rendering, "Service", namespace_of(ingress), wanted.get("name"))
            if service is None:
                problems.append(f"{describe(ingress)}: backend Service {wanted.get('name')!r} does not exist")
                continue
            port = wanted.get("port") or {}
            ports = (service.get("spec") or {}).get("ports") or []
            if not any(
                p.get("name") == port.get("name") or p.get("port") == port.get("number") for p in ports
            ):
                problems.append(f"{describe(ingress)}: Service {wanted.get('name')!r} has no port {port}")
    return problems


def check_middlewares_exist(rendering: Rendering) -> list[str]:
    """Every Traefik middleware an Ingress names (<namespace>-<name>@kubernetescrd) is rendered."""
    available = {f"{namespace_of(m)}-{name_of(m)}@kubernetescrd" for m in of_kind(rendering, "Middleware")}
    problems = []
    for ingress in of_kind(rendering, "Ingress"):
        annotation = ((ingress.get("metadata") or {}).get("annotations") or {}).get(MIDDLEWARE_ANNOTATION, "")
        for reference in filter(None, (part.strip() for part in annotation.split(","))):
            if reference not in available:
                problems.append(f"{describe(ingress)}: middleware {reference!r} is not rendered anywhere")
    return problems


def keys_on_client_address(middleware: dict) -> bool:
    """A rate limit keyed on the connection's source address: Traefik's default, and ipStrategy depth 0."""
    limit = (middleware.get("spec") or {}).get("rateLimit")
    if limit is None:
        return False
    criterion = limit.get("sourceCriterion") or {}
    if "requestHeaderName" in criterion or criterion.get("requestHost"):
        return False
    return not (criterion.get("ipStrategy") or {}).get("depth")


def check_rate_limits_see_clients(rendering: Rendering) -> list[str]:
    """A rate limit per client address needs Traefik to see that address: behind K3s's ServiceLB that takes
    `externalTrafficPolicy: Local` on Traefik's Service (otherwise every visitor arrives as a node's address,
    one bucket for all) and a Traefik on every node (Local only forwards to one on the receiving node)."""
    limits = [m for m in of_kind(rendering, "Middleware") if keys_on_client_address(m)]
    traefik = find(rendering, "HelmChartConfig", "kube-system", "traefik")
    if not limits or traefik is None:
        return []
    values = yaml.safe_load((traefik.get("spec") or {}).get("valuesContent") or "") or {}
    policy = ((values.get("service") or {}).get("spec") or {}).get("externalTrafficPolicy", "Cluster")
    kind = (values.get("deployment") or {}).get("kind", "Deployment")
    names = ", ".join(describe(m) for m in limits)
    problems = []
    if policy != "Local":
        problems.append(
            f"{describe(traefik)}: service.spec.externalTrafficPolicy is {policy}, so ServiceLB hands "
            f"Traefik every visitor as a node's address and {names} limit everyone as one client; "
            "set it to Local"
        )
    if kind != "DaemonSet":
        problems.append(
            f"{describe(traefik)}: deployment.kind is {kind}; with externalTrafficPolicy Local ServiceLB "
            "only forwards to a Traefik on the node the traffic reached (the floating IP's), so it must be "
            "a DaemonSet"
        )
    return problems


def owning_app(rendering: Rendering, resource: dict) -> RenderedApp:
    return next(app for app, candidate in rendering.resources() if candidate is resource)


def check_hpa_targets(rendering: Rendering) -> list[str]:
    problems = []
    for hpa in of_kind(rendering, "HorizontalPodAutoscaler"):
        target_ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        target = find(rendering, target_ref.get("kind"), namespace_of(hpa), target_ref.get("name"))
        if target is None:
            problems.append(
                f"{describe(hpa)}: scale target {target_ref.get('kind')} {target_ref.get('name')} missing"
            )
            continue
        metrics = (hpa.get("spec") or {}).get("metrics") or []
        if any((m.get("resource") or {}).get("name") == "cpu" for m in metrics):
            for container in containers(pod_template(target)):
                if not ((container.get("resources") or {}).get("requests") or {}).get("cpu"):
                    problems.append(
                        f"{describe(target)}: container {container.get('name')} has no CPU request, "
                        f"so {describe(hpa)} cannot compute utilisation"
                    )
        if "replicas" in (target.get("spec") or {}):
            problems.append(f"{describe(target)} sets spec.replicas although {describe(hpa)} owns it")
        app = owning_app(rendering, target).application.get("spec") or {}
        ignored = any(
            entry.get("kind") == target.get("kind")
            and entry.get("name") in (None, name_of(target))
            and REPLICAS_POINTER in (entry.get("jsonPointers") or [])
            for entry in app.get("ignoreDifferences") or []
        )
        respected = "RespectIgnoreDifferences=true" in (
            (app.get("syncPolicy") or {}).get("syncOptions") or []
        )
        if not (ignored and respected):
            problems.append(
                f"{describe(target)}: its Application must ignore {REPLICAS_POINTER} (ignoreDifferences) "
                "with RespectIgnoreDifferences=true, or every sync resets the HPA's replica count"
            )
    return problems


def check_network_policies_select(rendering: Rendering) -> list[str]:
    return [
        f"{describe(policy)}: podSelector matches no pod template in its namespace"
        for policy in of_kind(rendering, "NetworkPolicy")
        if not pods_selected(rendering, namespace_of(policy), (policy.get("spec") or {}).get("podSelector"))
    ]


def restricted_problems(pod: dict, container: dict) -> list[str]:
    """The Pod Security Standard `restricted` fields, with container settings overriding the pod's."""
    pod_context = (pod.get("spec") or {}).get("securityContext") or {}
    context = container.get("securityContext") or {}

    def effective(key: str) -> object:
        return context.get(key, pod_context.get(key))

    problems = []
    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities do not drop ALL")
    if ((effective("seccompProfile") or {}).get("type")) not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile is not RuntimeDefault")
    return problems


def check_containers_hardened(rendering: Rendering) -> list[str]:
    problems = []
    for workload, pod in pod_templates(rendering):
        spec = pod.get("spec") or {}
        # A token is mounted only for a dedicated service account that needs the API (least privilege).
        if spec.get("automountServiceAccountToken") is not False and not spec.get("serviceAccountName"):
            problems.append(f"{describe(workload)}: mounts the default service account token")
        for container in containers(pod):
            where = f"{describe(workload)} container {container.get('name')}"
            if workload.get("kind") in LONG_RUNNING_KINDS:
                missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
                problems += [f"{where}: no {probe}" for probe in missing]
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not (resources.get(section) or {}).get(resource):
                        problems.append(f"{where}: no {resource} {section[:-1]}")
            problems += [f"{where}: {problem}" for problem in restricted_problems(pod, container)]
    return problems


def check_graceful_drain(rendering: Rendering) -> list[str]:
    problems = []
    for workload, pod in pod_templates(rendering):
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        for container in containers(pod):
            pause = (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get(
                "seconds", 0
            )
            if pause and grace <= pause:
                problems.append(
                    f"{describe(workload)}: terminationGracePeriodSeconds {grace} leaves no time after the "
                    f"{pause}s preStop pause for the server to finish its requests"
                )
    return problems


def check_images_pinned(rendering: Rendering) -> list[str]:
    problems = []
    for workload, pod in pod_templates(rendering):
        for container in containers(pod):
            image = container.get("image", "")
            name, _, digest = image.partition("@")
            last = name.rsplit("/", 1)[-1]
            tag = last.partition(":")[2]
            where = f"{describe(workload)} container {container.get('name')}"
            if "/" not in name:
                problems.append(f"{where}: image {image!r} has no registry path; is it missing from images:?")
            if tag == "latest":
                problems.append(f"{where}: image {image!r} uses the mutable tag latest")
            elif not tag and not digest:
                problems.append(f"{where}: image {image!r} has neither a tag nor a digest")
    return problems


def check_references_resolve(rendering: Rendering) -> list[str]:
    """ConfigMap volumes and service accounts name resources that are rendered (kustomize hashes names)."""
    problems = []
    for workload, pod in pod_templates(rendering):
        spec = pod.get("spec") or {}
        namespace = namespace_of(workload)
        for volume in spec.get("volumes") or []:
            config_map = (volume.get("configMap") or {}).get("name")
            if config_map and find(rendering, "ConfigMap", namespace, config_map) is None:
                problems.append(
                    f"{describe(workload)}: volume {volume.get('name')} needs ConfigMap {config_map}"
                )
        account = spec.get("serviceAccountName")
        if account and account != "default" and find(rendering, "ServiceAccount", namespace, account) is None:
            problems.append(f"{describe(workload)}: ServiceAccount {account} is not rendered")
    return problems


def project_allows_kind(project: dict, resource: dict) -> bool:
    group = resource.get("apiVersion", "").rpartition("/")[0]
    key = "namespaceResourceWhitelist" if is_namespaced(resource) else "clusterResourceWhitelist"
    entries = (project.get("spec") or {}).get(key)
    if entries is None:
        # Argo CD's defaults: every namespaced kind, no cluster-scoped kind.
        return key == "namespaceResourceWhitelist"
    return any(
        fnmatch.fnmatchcase(group, entry.get("group", ""))
        and fnmatch.fnmatchcase(resource["kind"], entry["kind"])
        for entry in entries
    )


def project_allows_destination(project: dict, server: str, namespace: str | None) -> bool:
    return any(
        fnmatch.fnmatchcase(server, entry.get("server", IN_CLUSTER))
        and fnmatch.fnmatchcase(namespace or "", entry.get("namespace", ""))
        for entry in (project.get("spec") or {}).get("destinations") or []
    )


def check_applications_in_projects(rendering: Rendering) -> list[str]:
    projects = {name_of(project): project for project in of_kind(rendering, "AppProject")}
    problems = []
    for app in rendering.apps:
        spec = app.application.get("spec") or {}
        project_name = spec.get("project")
        if project_name == "default":
            continue  # Argo CD's built-in project, used by the root only
        project = projects.get(project_name)
        where = f"Application {app.name}"
        if project is None:
            problems.append(f"{where}: project {project_name!r} is not rendered")
            continue
        repos = (project.get("spec") or {}).get("sourceRepos") or []
        repo_url = (spec.get("source") or {}).get("repoURL", "")
        if not any(fnmatch.fnmatchcase(repo_url, pattern) for pattern in repos):
            problems.append(f"{where}: project {project_name} does not allow source {repo_url}")
        destination = spec.get("destination") or {}
        if not project_allows_destination(
            project, destination.get("server", IN_CLUSTER), app.destination_namespace
        ):
            problems.append(
                f"{where}: project {project_name} does not allow namespace {app.destination_namespace}"
            )
        for resource in app.resources:
            namespace = namespace_of(resource)
            if (
                namespace
                and namespace != app.destination_namespace
                and not project_allows_destination(project, destination.get("server", IN_CLUSTER), namespace)
            ):
                problems.append(
                    f"{where}: {describe(resource)} goes to a namespace the project does not allow"
                )
            if not is_application(resource) and not project_allows_kind(project, resource):
                problems.append(f"{where}: project {project_name} does not allow kind {resource.get('kind')}")
    return problems


CHECKS: tuple[Check, ...] = (
    check_services_select_pods,
    check_ingress_backends,
    check_middlewares_exist,
    check_rate_limits_see_clients,
    check_hpa_targets,
    check_network_policies_select,
    check_containers_hardened,
    check_graceful_drain,
    check_images_pinned,
    check_references_resolve,
    check_applications_in_projects,
)


def run_checks(rendering: Rendering) -> list[str]:
    return [problem for check in CHECKS for problem in check(rendering)]
