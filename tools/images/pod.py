"""Run an image the way its Deployment runs it, with podman: the settings come from the rendered cluster.

    python tools/images/pod.py print NAME [--cluster prod]    the `podman run` Deployment stock-NAME implies

The Deployment is read from what Argo CD would apply (tools/gitops/render.py), not from a copy: the pod's and
the container's securityContext (uid, gid, fsGroup, read-only root, dropped capabilities,
no-new-privileges), the env, the CPU and memory limits, emptyDir volumes (a tmpfs of the same size limit),
the container ports, the grace period and the probes. What podman cannot express is refused with a message
rather than skipped (env from a ConfigMap, other volume kinds, a seccomp profile file).

A Service is stood in for by a network alias with its name on a small TCP forwarder (service_proxy.py in
the base stand-in), which listens on the Service's port and forwards to the targetPort, as kube-proxy does:
the frontend reaches the backend at exactly the BACKEND_URL the cluster gives it (http://stock-backend).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podman import REPO, ImagesError

SERVICE_PROXY = Path(__file__).resolve().parent / "service_proxy.py"
QUANTITY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
UNITS = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def local_tag(name: str) -> str:
    return f"localhost/stock-{name}:dev"


def quantity_bytes(value: str | int) -> int:
    match = QUANTITY.match(str(value))
    if not match or match["unit"] == "m":
        raise ImagesError(f"{value!r} is not a memory quantity this runner understands (like 256Mi or 1G)")
    return int(float(match["number"]) * UNITS[match["unit"]])


def quantity_cpus(value: str | int) -> float:
    match = QUANTITY.match(str(value))
    if not match or match["unit"] not in (None, "m"):
        raise ImagesError(f"{value!r} is not a CPU quantity (like 500m or 2)")
    number = float(match["number"])
    return number / 1000 if match["unit"] == "m" else number


@dataclass
class Probe:
    path: str
    port: int
    budget_s: float  # how long the kubelet waits before it gives up (startup) or restarts/unreadies the pod


@dataclass
class PodSpec:
    """One Deployment's single container, as podman arguments and the facts the checks need."""

    deployment: str
    image: str
    args: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    grace_s: int
    probes: dict[str, Probe] = field(default_factory=dict)
    uid: int | None = None
    gid: int | None = None
    writable: list[str] = field(default_factory=list)


def rendered_resources(cluster: str = "prod") -> list[dict]:
    # Imported here: the renderer needs PyYAML, which `print --help` does not.
    sys.path.insert(0, str(REPO))
    from tools.gitops.render import RenderError, render_cluster

    try:
        rendering = render_cluster(REPO, cluster)
    except RenderError as error:
        raise ImagesError(f"cannot render clusters/{cluster}: {error}") from error
    return [resource for _, resource in rendering.resources()]


def find(resources: list[dict], kind: str, name: str) -> dict:
    for resource in resources:
        if resource.get("kind") == kind and resource.get("metadata", {}).get("name") == name:
            return resource
    raise ImagesError(f"the rendered cluster has no {kind} {name}")


def _port_number(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for entry in container.get("ports", []):
        if entry.get("name") == port:
            return entry["containerPort"]
    raise ImagesError(f"container {container['name']} has no port named {port!r}")


def _probes(container: dict) -> dict[str, Probe]:
    probes = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(kind)
        if not probe:
            continue
        if "httpGet" not in probe:
            raise ImagesError(f"{container['name']}.{kind}: only httpGet probes are run here")
        period = probe.get("periodSeconds", 10)
        budget = probe.get("initialDelaySeconds", 0) + period * probe.get("failureThreshold", 3)
        http = probe["httpGet"]
        probes[kind] = Probe(http.get("path", "/"), _port_number(container, http["port"]), budget)
    return probes


def pod_spec(resources: list[dict], name: str, *, env_overrides: dict[str, str] | None = None) -> PodSpec:
    """The podman arguments (without `run`, the name and the network) for Deployment stock-<name>."""
    deployment = find(resources, "Deployment", f"stock-{name}")
    pod = deployment["spec"]["template"]["spec"]
    containers = pod.get("containers", [])
    if len(containers) != 1 or pod.get("initContainers"):
        raise ImagesError(
            f"Deployment stock-{name}: the runner handles exactly one container and no init containers"
        )
    (container,) = containers
    image = local_tag(name)
    if not container["image"].split("@")[0].rsplit(":", 1)[0].endswith(f"stock-{name}"):
        raise ImagesError(f"Deployment stock-{name} runs {container['image']}, not an image of images/{name}")

    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    args = [
        "--pull=never",
        "--no-healthcheck",
    ]  # the kubelet ignores HEALTHCHECK; it probes (checked separately)
    uid, gid = security.get("runAsUser"), security.get("runAsGroup")
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    groups = [*pod.get("securityContext", {}).get("supplementalGroups", [])]
    if "fsGroup" in pod.get("securityContext", {}):
        groups.append(pod["securityContext"]["fsGroup"])
    args += [arg for group in groups for arg in ("--group-add", str(group))]
    if security.get("readOnlyRootFilesystem"):
        # Only what the pod mounts is writable: not podman's extra tmpfs on /run, /tmp and /var/tmp.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    capabilities = security.get("capabilities", {})
    args += [arg for cap in capabilities.get("drop", []) for arg in ("--cap-drop", cap.lower())]
    args += [arg for cap in capabilities.get("add", []) for arg in ("--cap-add", cap.lower())]
    seccomp = security.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise ImagesError(f"Deployment stock-{name}: seccomp profile {seccomp} is not run here")

    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    writable = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "emptyDir" not in volume:
            raise ImagesError(
                f"Deployment stock-{name}: volume {mount['name']} is not an emptyDir; not run here"
            )
        # An emptyDir is world-writable; exec allowed (Kubernetes mounts it without noexec).
        options = ["rw", "exec", "nosuid", "nodev", "mode=1777"]
        if size := volume["emptyDir"].get("sizeLimit"):
            options.append(f"size={quantity_bytes(size)}")
        args += ["--tmpfs", f"{mount['mountPath']}:{','.join(options)}"]
        writable.append(mount["mountPath"])

    env = {}
    for entry in container.get("env", []):
        if "value" not in entry:
            raise ImagesError(
                f"Deployment stock-{name}: env {entry['name']} is not a plain value; not run here"
            )
        env[entry["name"]] = entry["value"]
    env.update(env_overrides or {})
    args += [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]

    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += ["--memory", str(quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", str(quantity_cpus(limits["cpu"]))]

    grace = pod.get("terminationGracePeriodSeconds", 30)
    args += ["--stop-timeout", str(grace)]
    if "workingDir" in container:
        args += ["--workdir", container["workingDir"]]
    if "command" in container:
        args += ["--entrypoint", json.dumps(container["command"])]
    ports = {
        entry.get("name", str(entry["containerPort"])): entry["containerPort"]
        for entry in container.get("ports", [])
    }
    return PodSpec(
        deployment=f"stock-{name}",
        image=image,
        args=args,
        env=env,
        ports=ports,
        grace_s=grace,
        probes=_probes(container),
        uid=uid,
        gid=gid,
        writable=writable,
    )


def container_args(spec: PodSpec, container: dict) -> list[str]:
    """What goes after the image: the Deployment's args (the image's CMD if it has none)."""
    return list(container.get("args", []))


def service_ports(resources: list[dict], service: str, spec: PodSpec) -> list[tuple[int, int]]:
    """(Service port, container port) pairs, the targetPort resolved by name as kube-proxy does."""
    pairs = []
    for port in find(resources, "Service", service)["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        if isinstance(target, str):
            if target not in spec.ports:
                raise ImagesError(
                    f"Service {service}: targetPort {target!r} is not a port of {spec.deployment}"
                )
            target = spec.ports[target]
        pairs.append((port["port"], target))
    return pairs


def run_args(
    spec: PodSpec, resources: list[dict], *, name: str, network: str, publish: dict[int, int]
) -> list[str]:
    deployment = find(resources, "Deployment", spec.deployment)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = [arg for cport, hport in publish.items() for arg in ("--publish", f"127.0.0.1:{hport}:{cport}")]
    return [
        "run", "--detach", "--name", name, "--network", network, *ports, *spec.args, spec.image,
        *container_args(spec, container),
    ]  # fmt: skip


def service_args(
    base_image: str, *, name: str, network: str, service: str, pairs: list[tuple[int, int]], target: str
):
    """A forwarder with the Service's name as its network alias, from the base stand-in, hardened too."""
    forwards = [f"{port}:{target}:{target_port}" for port, target_port in pairs]
    return [
        "run", "--detach", "--pull=never", "--name", name, "--network", network, "--network-alias", service,
        "--read-only", "--cap-drop", "all", "--cap-add", "net_bind_service",
        "--security-opt", "no-new-privileges", "--volume", f"{SERVICE_PROXY}:/service_proxy.py:ro",
        base_image, "python3", "/service_proxy.py", *forwards,
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("print", help="print the podman run command for one image")
    show.add_argument("name", help="the image folder under images/ (backend, frontend)")
    show.add_argument("--cluster", default="prod")
    args = parser.parse_args()
    try:
        resources = rendered_resources(args.cluster)
        spec = pod_spec(resources, args.name)
        command = run_args(spec, resources, name=spec.deployment, network="stock-app", publish={})
        print(shlex.join(["podman", *command]))
    except ImagesError as error:
        print(f"pod: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
