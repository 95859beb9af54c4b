"""Run a few Job pods for real on the host, where kwok's nodes run nothing; kwok then ends them by the result.

kwok's pods run no containers, and its `pod-complete` stage calls every Job pod Succeeded. For a Job whose
outcome is the point (the metrics-server check of platform/metrics-server-check: does the metrics API
answer?), that would be a lie. So the harness plays the kubelet for those pods only:

1. kwok holds them Running: the stage `pod-run-on-host-hold` (weight 1, so it wins over kwok's pod-complete,
   which has none) matches the pods carrying the workload's labels until a result is annotated.
2. This runner (a harness process, recorded in state.json like every other) sees such a pod Running,
   builds its volumes as the kubelet would (ConfigMaps; the projected service-account token from a
   TokenRequest bound to the pod, the cluster CA, the namespace), and runs the container's command and
   args in a private mount namespace: a chroot whose /usr and /etc are the host's, the volumes mounted at
   their mountPaths, as the container's user, with the container's env plus KUBERNETES_SERVICE_HOST/PORT
   (the API server's 127.0.0.1 address: there is no Service network). The image is not used: its
   `python` is the host's Debian python3 (the check needs only the standard library).
3. It annotates the pod with the exit code and the output's tail; the stage `pod-exit-from-host` makes the
   pod Succeeded or Failed with that exit code and message, as a kubelet would report it. The Job, CronJob,
   and Argo CD's health of them are real from there on.

    python tools/cluster/pod_runner.py --server URL --ca CA --cert CERT --key KEY --selector k=v --work DIR

Needs root (mount namespaces, chroot), `unshare` and `chroot` (util-linux, coreutils) and /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
import yaml

EXIT_CODE = "live.stock-gitops/exit-code"
MESSAGE = "live.stock-gitops/termination-message"
# The kubelet's FallbackToLogsOnError keeps the last 80 lines, at most 2048 bytes.
MESSAGE_LINES, MESSAGE_BYTES = 80, 2048
# The workloads whose Job pods the harness runs; their pod template's labels select the pods.
RUN_ON_HOST = ("platform/metrics-server-check/cronjob.yaml",)
SCHEDULE = "* * * * *"
DEFAULT_TIMEOUT = 600
POLL_SECONDS = 1.0


class RunnerError(Exception):
    """A pod cannot be run on the host; the message becomes the pod's termination message."""


# --- what cluster.py needs: the selected workloads, their kwok stages, their schedule ------------------


def workloads(repo: Path) -> list[dict[str, str]]:
    """The pod labels of each workload in RUN_ON_HOST (a CronJob's job template)."""
    result = []
    for relative in RUN_ON_HOST:
        document = yaml.safe_load((repo / relative).read_text())
        labels = document["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels")
        if not labels:
            raise RunnerError(f"{relative}: the job template's pods carry no labels to select them by")
        result.append(labels)
    return result


def shorten_schedules(repo: Path) -> list[str]:
    """Run each CronJob of RUN_ON_HOST every minute, so a scenario waits one minute, not one schedule.

    Edits the local clone only (the harness commits it there); returns the files it changed.
    """
    changed = []
    for relative in RUN_ON_HOST:
        path = repo / relative
        text = path.read_text()
        schedule = yaml.safe_load(text)["spec"]["schedule"]
        if schedule == SCHEDULE:
            continue
        quoted = f'schedule: "{schedule}"'
        if text.count(quoted) != 1:
            raise RunnerError(f"{relative}: cannot find `{quoted}` once to shorten it")
        path.write_text(text.replace(quoted, f'schedule: "{SCHEDULE}"'))
        if yaml.safe_load(path.read_text())["spec"]["schedule"] != SCHEDULE:
            raise RunnerError(f"{relative}: shortening the schedule did not take")
        changed.append(relative)
    return changed


def stages(selected: list[dict[str, str]]) -> list[dict]:
    """kwok stages: hold the selected Job pods Running until the runner's result, then end them by it."""
    result = []
    for index, labels in enumerate(selected):
        select = [
            {"key": f'.metadata.labels["{key}"]', "operator": "In", "values": [value]}
            for key, value in sorted(labels.items())
        ]
        common = [
            {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
            {"key": ".status.phase", "operator": "In", "values": ["Running"]},
            {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
            *select,
        ]
        result.append(_stage(f"pod-run-on-host-hold-{index}", [
            *common, {"key": f'.metadata.annotations["{EXIT_CODE}"]', "operator": "DoesNotExist"},
        ], {"event": {"type": "Normal", "reason": "RunOnHost",
                      "message": "the live harness runs this pod's command on the host"}}))  # fmt: skip
        result.append(_stage(f"pod-exit-from-host-{index}", [
            *common, {"key": f'.metadata.annotations["{EXIT_CODE}"]', "operator": "Exists"},
        ], {"statusTemplate": EXIT_TEMPLATE}))  # fmt: skip
    return result


def _stage(name: str, expressions: list[dict], next_: dict) -> dict:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        # Weight 1 against the 0 of kwok's own stages: when both match, only this one is played.
        "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                 "selector": {"matchExpressions": expressions}, "weight": 1, "next": next_},
    }  # fmt: skip


EXIT_TEMPLATE = f"""\
{{{{ $now := Now }}}}
{{{{ $code := index .metadata.annotations "{EXIT_CODE}" }}}}
{{{{ $message := or ( index .metadata.annotations "{MESSAGE}" ) "" }}}}
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: {{{{ $code }}}}
      finishedAt: {{{{ $now | Quote }}}}
      message: {{{{ $message | Quote }}}}
      reason: {{{{ if eq $code "0" }}}}Completed{{{{ else }}}}Error{{{{ end }}}}
      startedAt: {{{{ $now | Quote }}}}
{{{{ end }}}}
phase: {{{{ if eq $code "0" }}}}Succeeded{{{{ else }}}}Failed{{{{ end }}}}
"""


# --- the runner process ----------------------------------------------------------------------------------


class Api:
    def __init__(self, server: str, ca: str, cert: str, key: str) -> None:
        self.server, self.ca, self.cert = server, ca, (cert, key)
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> dict:
        # Per request: a session's `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        response = self.session.request(method, self.server + path, timeout=30, verify=self.ca,
                                        cert=self.cert, **kwargs)  # fmt: skip
        if not response.ok:
            raise RunnerError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()


class Runner:
    def __init__(self, api: Api, selectors: list[str], work: Path, apiserver_port: int) -> None:
        self.api, self.selectors, self.work, self.apiserver_port = api, selectors, work, apiserver_port
        self.seen: set[str] = set()

    def loop(self) -> None:
        last_error = None
        while True:
            for selector in self.selectors:
                try:
                    pods = self.api.request("GET", "/api/v1/pods", params={"labelSelector": selector})[
                        "items"
                    ]
                except (RunnerError, requests.RequestException) as error:
                    if str(error) != last_error:  # once, not every second
                        log(f"listing pods: {error}")
                    last_error = str(error)
                    continue
                last_error = None
                for pod in pods:
                    uid = pod["metadata"]["uid"]
                    annotations = pod["metadata"].get("annotations") or {}
                    if (
                        uid in self.seen
                        or EXIT_CODE in annotations
                        or pod["metadata"].get("deletionTimestamp")
                        or pod.get("status", {}).get("phase") != "Running"
                        or not any(o.get("kind") == "Job" for o in pod["metadata"].get("ownerReferences", []))
                    ):
                        continue
                    self.seen.add(uid)
                    threading.Thread(target=self.run, args=(pod,), daemon=True).start()
            time.sleep(POLL_SECONDS)

    def run(self, pod: dict) -> None:
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        directory = self.work / pod["metadata"]["uid"]
        log(f"{namespace}/{name}: running on the host")
        try:
            code, output = self.execute(pod, directory)
        except RunnerError as error:
            code, output = 126, f"the live harness could not run this pod: {error}\n"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        (self.work / f"{namespace}_{name}.log").write_text(output)
        tail = (
            "\n".join(output.splitlines()[-MESSAGE_LINES:]).encode()[-MESSAGE_BYTES:].decode(errors="replace")
        )
        log(f"{namespace}/{name}: exit code {code}")
        try:
            self.api.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                data=json.dumps({"metadata": {"annotations": {EXIT_CODE: str(code), MESSAGE: tail}}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        except (RunnerError, requests.RequestException) as error:
            log(f"{namespace}/{name}: cannot record the result: {error}")

    def execute(self, pod: dict, directory: Path) -> tuple[int, str]:
        spec = pod["spec"]
        if len(spec["containers"]) != 1 or spec.get("initContainers"):
            raise RunnerError("only pods with exactly one container and no init containers are supported")
        (container,) = spec["containers"]
        context = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        if "runAsUser" not in context:
            raise RunnerError("the container names no runAsUser; the image's user is unknown here")
        user, group = int(context["runAsUser"]), int(context.get("runAsGroup", context["runAsUser"]))
        volumes = self.volumes(pod, directory / "volumes", user, group)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/",
               "KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(self.apiserver_port)}  # fmt: skip
        for variable in container.get("env", []):
            env[variable["name"]] = env_value(pod, variable)
        command = [*container.get("command", []), *container.get("args", [])]
        if not command:
            raise RunnerError("the container has no command; the image's entrypoint is unknown here")
        mounts = []
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise RunnerError(f"volumeMount {mount['name']}: no such volume")
            mounts.append((volumes[mount["name"]], mount["mountPath"], bool(mount.get("readOnly"))))
        script = chroot_script(directory / "root", mounts, user, group, env, command,
                               bool(context.get("readOnlyRootFilesystem")))  # fmt: skip
        timeout = self.timeout(pod)
        try:
            result = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as expired:
            return 137, f"{expired.stdout or ''}{expired.stderr or ''}killed after {timeout} s\n"
        return result.returncode, result.stdout + result.stderr

    def timeout(self, pod: dict) -> int:
        for owner in pod["metadata"].get("ownerReferences", []):
            if owner.get("kind") == "Job":
                path = f"/apis/batch/v1/namespaces/{pod['metadata']['namespace']}/jobs/{owner['name']}"
                try:
                    return int(
                        self.api.request("GET", path)["spec"].get("activeDeadlineSeconds", DEFAULT_TIMEOUT)
                    )
                except (RunnerError, requests.RequestException):
                    break
        return DEFAULT_TIMEOUT

    def volumes(self, pod: dict, directory: Path, user: int, group: int) -> dict[str, Path]:
        """Each volume as a directory, filled as the kubelet would fill it."""
        namespace = pod["metadata"]["namespace"]
        result = {}
        for volume in pod["spec"].get("volumes", []):
            target = directory / volume["name"]
            target.mkdir(parents=True)
            if "configMap" in volume:
                self.config_map(namespace, volume["configMap"], target)
            elif "projected" in volume:
                for source in volume["projected"]["sources"]:
                    if "serviceAccountToken" in source:
                        token = self.token(pod, source["serviceAccountToken"])
                        write(target / source["serviceAccountToken"]["path"], token, 0o600)
                    elif "configMap" in source:
                        self.config_map(namespace, source["configMap"], target)
                    elif "downwardAPI" in source:
                        for item in source["downwardAPI"]["items"]:
                            field = item.get("fieldRef", {}).get("fieldPath")
                            if field != "metadata.namespace":
                                raise RunnerError(
                                    f"volume {volume['name']}: downward API {field} not supported"
                                )
                            write(target / item["path"], namespace, 0o644)
                    else:
                        raise RunnerError(
                            f"volume {volume['name']}: projected source {sorted(source)} not supported"
                        )
            elif "emptyDir" not in volume:
                raise RunnerError(
                    f"volume {volume['name']}: only configMap, projected and emptyDir are supported"
                )
            for path in [target, *target.rglob("*")]:
                os.chown(path, user, group)
            result[volume["name"]] = target
        return result

    def config_map(self, namespace: str, source: dict, target: Path) -> None:
        data = self.api.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{source['name']}").get(
            "data", {}
        )
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        for item in items:
            if item["key"] not in data:
                raise RunnerError(f"ConfigMap {source['name']} has no key {item['key']}")
            write(target / item["path"], data[item["key"]], 0o644)

    def token(self, pod: dict, source: dict) -> str:
        """A token bound to this pod, as the kubelet requests it for the projected volume."""
        metadata = pod["metadata"]
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": source.get("expirationSeconds", 3607),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                },
                **({"audiences": [source["audience"]]} if source.get("audience") else {}),
            },
        }
        account = pod["spec"].get("serviceAccountName", "default")
        path = f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{account}/token"
        return self.api.request("POST", path, data=json.dumps(request),
                                headers={"Content-Type": "application/json"})["status"]["token"]  # fmt: skip


# The downward API's pod fields the runner fills in, as the kubelet would.
FIELD_REFS = {"metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace")}


def env_value(pod: dict, variable: dict) -> str:
    """A container's env entry: a literal value, or one of FIELD_REFS of the pod."""
    if "value" in variable:
        return variable["value"]
    field = (variable.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
    if field not in FIELD_REFS:
        supported = ", ".join(sorted(FIELD_REFS))
        raise RunnerError(
            f"env {variable['name']}: only literal values and fieldRefs to {supported} run here"
        )
    section, key = FIELD_REFS[field]
    return pod[section][key]


def write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def chroot_script(
    root: Path,
    mounts: list[tuple[Path, str, bool]],
    user: int,
    group: int,
    env: dict[str, str],
    command: list[str],
    read_only: bool,
) -> str:
    """The shell script, run in a private mount namespace, that stands up the container's file system."""
    q = shlex.quote
    lines = [f"mkdir -p {q(str(root))}", f"mount -t tmpfs -o mode=0755 tmpfs {q(str(root))}"]
    for name in ("usr", "etc"):
        lines += [f"mkdir {q(f'{root}/{name}')}", f"mount --rbind /{name} {q(f'{root}/{name}')}",
                  f"mount -o remount,bind,ro {q(f'{root}/{name}')}"]  # fmt: skip
    for name in ("bin", "sbin", "lib", "lib64"):
        host = Path("/") / name
        if host.is_symlink():
            lines.append(f"ln -s {q(str(host.readlink()))} {q(f'{root}/{name}')}")
        elif host.is_dir():
            lines += [f"mkdir {q(f'{root}/{name}')}", f"mount --rbind /{name} {q(f'{root}/{name}')}"]
    lines += [f"mkdir {q(f'{root}/dev')}", f"mount --rbind /dev {q(f'{root}/dev')}"]
    if command[0] == "python" and not Path("/usr/local/bin/python").exists():
        # The image's `python` (python:*-slim keeps it in /usr/local/bin) is the host's Debian python3.
        if not Path("/usr/bin/python3").exists():
            raise RunnerError("the container runs `python` and the host has no /usr/bin/python3")
        lines += [f"mount -t tmpfs -o mode=0755 tmpfs {q(f'{root}/usr/local/bin')}",
                  f"ln -s /usr/bin/python3 {q(f'{root}/usr/local/bin/python')}"]  # fmt: skip
    for source, mount_path, read_only_mount in mounts:
        target = f"{root}{mount_path}"
        lines += [f"mkdir -p {q(target)}", f"mount --bind {q(str(source))} {q(target)}"]
        if read_only_mount:
            lines.append(f"mount -o remount,bind,ro {q(target)}")
    if read_only:
        lines.append(f"mount -o remount,ro {q(str(root))}")
    variables = " ".join(q(f"{key}={value}") for key, value in env.items())
    lines.append(
        f"exec chroot --userspec={user}:{group} {q(str(root))} /usr/bin/env -i {variables} "
        + " ".join(q(part) for part in command)
    )
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"pod-runner: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pod_runner.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--selector", action="append", required=True, help="a label selector; repeatable")
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args(argv)
    missing = [tool for tool in ("unshare", "chroot", "mount") if shutil.which(tool) is None]
    if missing:
        print(f"pod-runner: error: {', '.join(missing)} not found (util-linux, coreutils)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    port = int(args.server.rsplit(":", 1)[1])
    runner = Runner(Api(args.server, args.ca, args.cert, args.key), args.selector, args.work, port)
    try:
        runner.loop()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
