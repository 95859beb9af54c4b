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


def test_down_stops_every_recorded_process_and_its_children(scratch: Path) -> None:
    state = {"processes": []}
    port = cluster.free_port()
    # A parent that ignores SIGTERM, and a child that holds the port: down must escalate to SIGKILL
    # and reach the whole process group, or the port stays taken.
    child = (
        f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    )
    server = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "time.sleep(600)\n"
    )
    process = cluster.start(state, "stubborn", [sys.executable, "-c", server], [port])
    cluster.wait_for("the stub's port", lambda: cluster.port_open(port), 30, process=process)
    assert cluster.down(timeout=2) == 0
    process.popen.wait(timeout=5)
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
