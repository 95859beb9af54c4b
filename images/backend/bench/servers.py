"""Which WSGI server should run the backend? The same app under each candidate, side by side, in rounds.

Run by hand (`python bench/servers.py`, or `make bench-servers`); README.md's "Which server" table comes from
it. Each round starts every candidate in turn and measures, on the sample source:

- seed: hey -c 200 on the seed URL (SAMPLE_LATENCY_MS=500), and a bare WSGI app serving the same bytes
  under the same server (the ceiling);
- distinct: bench.distinct_keys (wrk) over fresh ticker/start pairs (SAMPLE_LATENCY_MS=0), with the
  workers' CPU;
- slow: 64 connections trickling headers while 4 clients ask /healthz and the seed URL alongside;
- drain: 12 requests in flight (SAMPLE_LATENCY_MS=3000) when SIGTERM arrives: how many are answered, and
  how long until the server has exited.

Only gunicorn runs with gunicorn.conf.py's glue (JSON errors for rejected requests, JSON access log, metrics
cleanup); the others get the app, 2 processes where they can fork them, their own access log, and a fresh
PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bench

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(server: str, app: str, port: int) -> list[str]:
    """How each candidate is started; `app` is "module:attribute" or "module:factory()"."""
    factory = app.endswith("()")
    target = app.removesuffix("()")
    if server == "granian":
        return [
            str(BIN / "granian"),
            "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(bench.WORKERS), "--blocking-threads", str(bench.THREADS),
            "--access-log", "--workers-kill-timeout", "20",
            *(["--factory"] if factory else []), target,
        ]  # fmt: skip
    if server == "waitress":
        # One process: waitress does not fork workers, and two cannot share a port without SO_REUSEPORT.
        return [
            str(BIN / "waitress-serve"), "--host", "127.0.0.1", "--port", str(port),
            "--threads", str(bench.THREADS * bench.WORKERS), "--connection-limit", "1000",
            *(["--call"] if factory else []), target,
        ]  # fmt: skip
    raise ValueError(server)


def start(server: str, app: str | None, out: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """A candidate on a free port; gunicorn variants go through bench.start with gunicorn.conf.py."""
    if server.startswith("gunicorn-"):
        return bench.start(
            f"{server}-{env.get('NAME', 'x')}", app, out, GUNICORN_WORKER_CLASS=server[9:], **env
        )
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment |= {"PYTHONPATH": str(bench.BACKEND), **env}
    environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=out)
    log = out / f"{server}-{env.get('NAME', 'x')}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            command(server, app or "stockapi:create_app()", port),
            cwd=bench.BACKEND,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if bench.listening(base) and bench.listening(base):  # granian answers per worker; ask twice
            return process, base
        time.sleep(0.2)  # polling for the server to listen
    process.kill()
    sys.exit(f"{server} did not start; see {log}")


def seed(server: str, out: Path, requests: int) -> dict[str, float]:
    process, base = start(server, None, out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="500", NAME="seed")
    try:
        load = bench.hey(base + bench.PATH, out, f"{server}-seed", "-n", str(requests))
        body = out / f"{server}-body.json.gz"
        body.write_bytes(bench.fetch(base + bench.PATH, gzip_ok=True))
    finally:
        stop(process)
    process, base = start(server, "bench.ceiling_app:app", out, CEILING_BODY=str(body), NAME="ceiling")
    try:
        ceiling = bench.hey(base + bench.PATH, out, f"{server}-ceiling", "-n", str(requests))
    finally:
        stop(process)
    return {"rps": load["rps"], "p99": load["p99"], "errors": load["errors"], "ceiling_rps": ceiling["rps"]}


def distinct(server: str, out: Path, paths: list[str], seconds: int) -> dict[str, float]:
    process, base = start(
        server, None, out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="0", NAME="distinct"
    )
    try:
        before = cpu_s(process)
        load = bench.distinct_keys(base, paths, out, seconds, 20, f"{server}-distinct")
        cpu_ms = (cpu_s(process) - before) * 1000 / load["requests"]
    finally:
        stop(process)
    return {"rps": load["rps"], "cpu_ms": cpu_ms, "errors": load["errors"]}


def cpu_s(process: subprocess.Popen) -> float:
    """CPU seconds of the server process and its children (workers), read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [process.pid, *Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def slow(server: str, out: Path, seconds: int) -> dict[str, float]:
    process, base = start(server, None, out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="0", NAME="slow")
    host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
    try:
        stop_at = time.monotonic() + seconds + 5
        opened: list[int] = []
        for _ in range(64):
            threading.Thread(target=bench.trickle, args=(host, port, stop_at, opened), daemon=True).start()
        deadline = time.monotonic() + 5
        while len(opened) < 64 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a counter the slow clients fill in
        load = bench.normal_requests(base, time.monotonic() + seconds)
    finally:
        stop(process)
    return {"ok": load["ok"], "p99": load["p99"], "requests": load["requests"]}


def drain(server: str, out: Path) -> dict[str, float]:
    process, base = start(
        server, None, out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="3000", NAME="drain"
    )
    paths = bench.distinct_paths(12, seed=int(time.time()))

    def get(path: str) -> bool:
        try:
            with urllib.request.urlopen(base + path, timeout=30) as response:  # noqa: S310 (loopback)
                response.read()
                return response.status == 200
        except OSError:
            return False

    with ThreadPoolExecutor(12) as pool:
        answers = [pool.submit(get, path) for path in paths]
        time.sleep(1)  # the requests must be in flight, inside the 3 s the source takes, when SIGTERM comes
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        ok = sum(answer.result() for answer in answers)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return {"answered": ok, "exit_s": time.monotonic() - sent}


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers", nargs="+", default=["gunicorn-gevent", "gunicorn-gthread", "granian", "waitress"]
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed-requests", type=int, default=12_000)
    parser.add_argument("--distinct-seconds", type=int, default=5)
    parser.add_argument("--distinct-keys", type=int, default=15_000, help="more than one run can use")
    parser.add_argument("--slow-seconds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=bench.BACKEND.parents[1] / ".out" / "bench-servers")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {server: [] for server in args.servers}
    for round_ in range(args.rounds):
        # Fresh keys every round and server, so each distinct run is all misses.
        for index, server in enumerate(args.servers):
            paths = bench.distinct_paths(args.distinct_keys, seed=1000 * round_ + index)
            s = seed(server, args.out, args.seed_requests)
            d = distinct(server, args.out, paths, args.distinct_seconds)
            w, g = slow(server, args.out, args.slow_seconds), drain(server, args.out)
            rows[server].append(
                f"seed {s['rps']:,.0f} req/s = {s['rps'] / s['ceiling_rps']:.0%} of {s['ceiling_rps']:,.0f}, "
                f"p99 {s['p99']:.0f} ms, {s['errors']:.0f} errors | distinct {d['rps']:.0f} req/s, "
                f"{d['cpu_ms']:.1f} ms CPU | slow {w['ok']:.0%} of {w['requests']:.0f} ok, "
                f"p99 {w['p99']:.0f} ms"
                f" | drain {g['answered']:.0f}/12 answered, exit {g['exit_s']:.1f} s"
            )
            print(f"round {round_ + 1} {server}: {rows[server][-1]}", flush=True)
    print()
    for server, results in rows.items():
        for line in results:
            print(f"{server:17s} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
