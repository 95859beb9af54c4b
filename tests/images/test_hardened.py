"""Each image starts and answers its probes under its Deployment's restrictions, as the kubelet sees it."""

from __future__ import annotations

import re

import pytest
from images_helpers import Running, get


@pytest.fixture(params=["backend", "frontend"])
def running(request) -> Running:
    return request.getfixturevalue(request.param)


def proc_status(running: Running) -> dict[str, str]:
    result = running.exec("cat", "/proc/1/status")
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+):\s*(.*)$", result.stdout, re.MULTILINE))


def test_every_probe_path_answers_within_the_startup_budget(running: Running):
    startup = running.spec.probes["startupProbe"]
    print(
        f"{running.spec.deployment}: ready in {running.ready_after_s:.1f}s (budget {startup.budget_s:.0f}s)"
    )
    for kind, probe in running.spec.probes.items():
        status, _, body = get(f"{running.urls[probe.port]}{probe.path}")
        assert status == 200, f"{kind} {probe.path}: {status} {body[:200]!r}"


def test_the_server_runs_as_the_pods_user_without_capabilities_or_privilege_escalation(running: Running):
    status = proc_status(running)
    uids, gids = status["Uid"].split(), status["Gid"].split()
    assert set(uids) == {str(running.spec.uid)}, status["Uid"]
    assert set(gids) == {str(running.spec.gid)}, status["Gid"]
    for capability_set in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capability_set], 16) == 0, f"{capability_set} {status[capability_set]}"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2", "the runtime's default seccomp filter is not applied"


def test_only_the_pods_volumes_are_writable(running: Running):
    assert running.spec.writable == ["/tmp"]
    for path in ("/app/probe-write", "/probe-write", "/var/tmp/probe-write", "/run/probe-write"):
        result = running.exec("python", "-c", f"open({path!r}, 'w')")
        assert result.returncode != 0, path
        assert "Read-only file system" in result.stderr, (path, result.stderr)
    assert running.exec("python", "-c", "open('/tmp/probe-write', 'w').close()").returncode == 0


def test_the_limits_the_deployment_sets_are_applied(running: Running, resources):
    host_config = running.inspect()["HostConfig"]
    spec = running.spec
    memory = spec.args[spec.args.index("--memory") + 1]
    cpus = float(spec.args[spec.args.index("--cpus") + 1])
    assert host_config["Memory"] == int(memory)
    assert host_config["NanoCpus"] == int(cpus * 1e9)
    tmpfs = host_config["Tmpfs"]["/tmp"]
    assert re.search(r"size=\d+", tmpfs), tmpfs
