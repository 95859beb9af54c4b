"""The harness's own promise, without a cluster: `down` stops everything `up` recorded and frees its ports."""

from __future__ import annotations

import sys
from pathlib import Path

import cluster
import pytest


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cluster, "STATE", tmp_path / "state")
    monkeypatch.setattr(cluster, "LOGS", tmp_path / "logs")
    return tmp_path / "state"


def stub(port: int, pid_file: Path, parent_ignores_sigterm: bool) -> str:
    """A parent that starts a child holding `port`; the child ignores SIGTERM and writes its PID first."""
    child = (
        "import os, signal, socket, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
        "time.sleep(600)\n"
    )
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if parent_ignores_sigterm else ""
    return (
        f"import signal, subprocess, sys, time\n{ignore}"
        f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "time.sleep(600)\n"
    )


@pytest.mark.parametrize(
    "parent_ignores_sigterm",
    # Both ignore it: down must escalate to SIGKILL and reach the whole group. Only the child does: its
    # parent is gone at once, and the child must not outlive down holding the port.
    [True, False],
    ids=["parent-and-child-ignore-sigterm", "child-outlives-its-parent"],
)
def test_down_stops_every_recorded_process_and_its_children(
    scratch: Path, tmp_path: Path, parent_ignores_sigterm: bool
) -> None:
    state = {"processes": []}
    port = cluster.free_port()
    pid_file = tmp_path / "child.pid"
    argv = [sys.executable, "-c", stub(port, pid_file, parent_ignores_sigterm)]
    process = cluster.start(state, "stubborn", argv, [port])
    cluster.wait_for("the stub's port", lambda: cluster.port_open(port), 30, process=process)
    child = int(pid_file.read_text())
    # The 2 s bound is for SIGTERM only; down then waits (boundedly) for the processes and ports to be
    # gone after SIGKILL, which under a load of 15 took longer than the parent's exit (a failed run).
    assert cluster.down(timeout=2) == 0
    process.popen.wait(timeout=5)
    assert not cluster.pid_alive(process.popen.pid)
    assert not cluster.pid_alive(child), f"the stub's child (pid {child}) survived down"
    assert not cluster.port_open(port), f"port {port} still open after down"
    assert not scratch.exists(), "down left its state directory"


def test_down_without_a_cluster_is_a_no_op(scratch: Path) -> None:
    assert cluster.down() == 0


def test_a_corrupt_state_file_is_reported_not_a_traceback(
    scratch: Path, capsys: pytest.CaptureFixture
) -> None:
    scratch.mkdir()
    (scratch / cluster.STATE_FILE).write_text("{not json")
    assert cluster.main(["down"]) == 1
    assert "not valid JSON" in capsys.readouterr().err
