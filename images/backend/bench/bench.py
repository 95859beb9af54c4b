"""`make bench`: three scenarios against the backend (and a naive per-request implementation); prints tables.

Seed load: the seed's load test (24,000 requests, 200 at a time, the NVDA 2010-01-01..2025-08-01 URL) with
`hey`, the sample data source at SAMPLE_LATENCY_MS=500 (a Yahoo-like round trip), and a bare WSGI ceiling
serving the same bytes. The naive server gets a time budget instead of the full request count: at 500 ms per
request it would take many minutes.

Distinct keys: dashboard-like traffic where every request is a miss: ticker/start pairs no earlier request
asked (20 tickers, daily bars up to 2025-08-01), 20 keep-alive connections accepting gzip, sample data source
with 0 ms latency, so the work per miss is what is measured. The same client, wrk with distinct.lua, drives
the backend and the naive server, in rounds of a few seconds each, after a warm-up of 3 s on other keys.

Slow clients: 64 connections that send a request line, then a header byte a second and never the end of
their headers, while 4 clients ask /healthz and the seed URL alongside, each request on a new connection.
Targets: >= 95 % of those succeed, p99 under 1 s.

Each server runs on 127.0.0.1 under the backend's gunicorn.conf.py. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
PATH = "/api/stock?ticker=NVDA&start=2010-01-01&end=2025-08-01"
WORKERS = 2
THREADS = 4
# The worker class each server ran with, as gunicorn logged it (gunicorn.conf.py's, or GUNICORN_WORKER_CLASS).
WORKER_CLASS: dict[str, str] = {}


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    fetches: int | None
    size: str  # the distinct-key table shows the server's CPU per request in this column instead
    cpu_ms: float | None = None


def start(name: str, app: str | None, out: Path, **env: str) -> tuple[subprocess.Popen, str]:
    log = out / f"{name}.log"
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment |= {"HOST": "127.0.0.1", "PORT": "0", "WEB_CONCURRENCY": str(WORKERS)}
    environment |= {"GUNICORN_THREADS": str(THREADS), "PYTHONPATH": str(BACKEND), **env}
    # Temp files (metrics) stay in the output folder, even if a server has to be killed.
    (out / "tmp").mkdir(exist_ok=True)
    environment["TMPDIR"] = str(out / "tmp")
    command = [str(GUNICORN), "--config", "gunicorn.conf.py", *([app] if app else [])]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=BACKEND, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: (http://[\d.:]+)", log.read_text())
        if found and listening(found.group(1)):
            worker = re.search(r"Using worker: (\w+)", log.read_text())
            WORKER_CLASS[name] = worker.group(1) if worker else "?"
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)  # waiting for another process to start listening; nothing to block on
    process.kill()
    sys.exit(f"{name} did not start; see {log}")


def listening(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/", timeout=2):  # noqa: S310 (loopback URL we built)
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the workers are up
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def fetch(url: str, gzip_ok: bool) -> bytes:
    encoding = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
    request = urllib.request.Request(url, headers=encoding)  # noqa: S310 (loopback URL we built)
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        return response.read()


def hey(url: str, out: Path, name: str, *load: str) -> dict[str, float]:
    # Ask for gzip explicitly: then hey leaves the body compressed, as a browser's network stack would hand it
    # over, instead of spending its own CPU (shared with the server here) on decompressing every answer.
    command = [
        "hey",
        *load,
        "-c",
        "200",
        "-t",
        "60",
        "-disable-compression",
        "-H",
        "Accept-Encoding: gzip",
        url,
    ]
    report = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    (out / f"{name}.hey.txt").write_text(report)

    def number(pattern: str) -> float:
        found = re.search(pattern, report)
        return float(found.group(1)) if found else float("nan")

    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)}
    failures = sum(int(count) for count in re.findall(r"^\s+\[(\d+)\]\s+(?!\d+ responses)", report, re.M))
    return {
        "requests": sum(statuses.values()) + failures,
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "p50": number(r"50%+ in ([\d.]+) secs") * 1000,
        "p99": number(r"99%+ in ([\d.]+) secs") * 1000,
        "errors": failures + sum(count for code, count in statuses.items() if code != 200),
    }


DISTINCT_TICKERS = [f"T{i:02d}" for i in range(20)]
DISTINCT_SCRIPT = Path(__file__).with_name("distinct.lua")


def distinct_paths(requests: int, seed: int = 15, end: str = "2025-08-01") -> list[str]:
    """Dashboard-like keys, all different: a few tickers, each asked from many start dates (daily bars)."""
    rng = random.Random(seed)  # noqa: S311 (a fixed, reproducible list of keys, not a secret)
    first, days = dt.date(1995, 1, 2), (dt.date(2024, 12, 31) - dt.date(1995, 1, 2)).days
    keys = rng.sample(range(len(DISTINCT_TICKERS) * days), requests)
    return [
        "/api/stock?"
        + urllib.parse.urlencode(
            {
                "ticker": DISTINCT_TICKERS[key % len(DISTINCT_TICKERS)],
                "start": (first + dt.timedelta(days=key // len(DISTINCT_TICKERS))).isoformat(),
                "end": end,
            }
        )
        for key in keys
    ]


def distinct_keys(
    base: str, paths: list[str], out: Path, seconds: float, connections: int, name: str
) -> dict[str, float]:
    """wrk over `connections` keep-alive connections for `seconds`, each request a path no other one asked.

    wrk is C: a Python client here took 0.4 ms of CPU per request from the same two cores, 1/6 of what a
    backend miss costs and 1/25 of a naive one, which tilted the comparison towards the slower server.
    """
    keys = out / "distinct-paths.txt"
    keys.write_text("\n".join(paths) + "\n")
    threads = "2"
    command = ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    report = subprocess.run(
        [*command, "--timeout", "60s", "-s", str(DISTINCT_SCRIPT), base, "--", str(keys), threads],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (out / f"{name}.wrk.txt").write_text(report)
    if int(re.search(r"^exhausted: (\d+)", report, re.M).group(1)):
        sys.exit(f"wrk ran out of the {len(paths)} distinct keys and repeated some; raise --distinct-keys")

    def milliseconds(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", report, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return {
        "requests": int(re.search(r"(\d+) requests in", report).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        "p50": milliseconds("50"),
        "p99": milliseconds("99"),
        "errors": (int(failed.group(1)) if failed else 0)
        + (sum(map(int, sockets.groups())) if sockets else 0),
    }


def workers_cpu_s(master: subprocess.Popen) -> float:
    """CPU seconds (user + system) the master's worker processes have used so far.

    On a machine shared with other work, requests per second swing with the other load; the server's own CPU
    per request does much less, so the distinct-key ratio is taken from it as well.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def upstream_fetches(base: str) -> int:
    text = fetch(base + "/metrics", gzip_ok=False).decode()
    return int(
        sum(
            float(value)
            for value in re.findall(r"^stockapi_upstream_fetches_total\{.*\} ([\d.e+]+)$", text, re.M)
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios", nargs="+", choices=["seed", "distinct", "slow"], default=["seed", "distinct", "slow"]
    )
    parser.add_argument("--requests", type=int, default=24_000)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument("--naive-seconds", type=int, default=20)
    parser.add_argument("--distinct-seconds", type=int, default=5, help="per round and server")
    parser.add_argument(
        "--distinct-keys", type=int, default=15_000, help="keys per round, more than one round can use"
    )
    parser.add_argument("--distinct-clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="turns the servers take in seed and distinct")
    parser.add_argument("--slow-clients", type=int, default=64)
    parser.add_argument("--slow-seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=BACKEND.parents[1] / ".out" / "bench")
    args = parser.parse_args()
    for tool in ("hey", "wrk"):
        if not shutil.which(tool):
            return print(f"{tool} is not installed (Debian: apt-get install {tool})", file=sys.stderr) or 2
    args.out.mkdir(parents=True, exist_ok=True)
    scenarios = {"seed": seed_load, "distinct": distinct_load, "slow": slow_clients}
    targets: list[tuple[str, bool]] = []
    report = {}
    for name in args.scenarios:
        results, met = scenarios[name](args)
        targets += met
        report[name] = [vars(r) for r in results]
    print()
    for label, met in targets:
        print(f"  [{'met' if met else 'MISSED'}] {label}")
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    return 0 if all(met for _, met in targets) else 1


def seed_load(args: argparse.Namespace) -> tuple[list[Result], list[tuple[str, bool]]]:
    """The three servers stay up side by side and take turns, round by round, so a change in the machine's
    other load hits each of them alike; each ratio is also given per round."""
    latency = {"STOCK_DATA_SOURCE": "sample", "SAMPLE_LATENCY_MS": str(args.latency_ms)}
    per_round = str(args.requests // args.rounds)
    runs: dict[str, list[dict[str, float]]] = {"backend": [], "ceiling": [], "naive": []}
    backend, base = start("backend", None, args.out, **latency)
    processes = [backend]
    try:
        # The ceiling serves the backend's own bytes, so it starts once the backend has answered.
        plain, zipped = fetch(base + PATH, gzip_ok=False), fetch(base + PATH, gzip_ok=True)
        body = args.out / "body.json.gz"
        body.write_bytes(zipped)
        ceiling, ceiling_base = start("ceiling", "bench.ceiling_app:app", args.out, CEILING_BODY=str(body))
        processes.append(ceiling)
        naive, naive_base = start("naive", "bench.naive_app:app", args.out, **latency)
        processes.append(naive)
        for round_ in range(args.rounds):
            runs["backend"].append(hey(base + PATH, args.out, f"backend-{round_}", "-n", per_round))
            runs["ceiling"].append(hey(ceiling_base + PATH, args.out, f"ceiling-{round_}", "-n", per_round))
            seconds = f"{max(1, args.naive_seconds // args.rounds)}s"
            runs["naive"].append(hey(naive_base + PATH, args.out, f"naive-{round_}", "-z", seconds))
        fetches = upstream_fetches(base)
        naive_size = len(fetch(naive_base + PATH, gzip_ok=True))
    finally:
        for process in processes:
            stop(process)
    assert gzip.decompress(zipped) == plain
    size = f"{len(zipped) / 1000:.0f} kB gzip ({len(plain) / 1000:.0f} kB plain)"
    backend_row = Result("backend (this image)", *_row(combined(runs["backend"])), fetches, size)
    ceiling_row = Result(
        "ceiling (bare WSGI, same bytes)",
        *_row(combined(runs["ceiling"])),
        0,
        f"{len(zipped) / 1000:.0f} kB gzip",
    )
    naive_row = Result(
        "naive (fetch + to_json per request)",
        *_row(combined(runs["naive"])),
        # Every naive request is an upstream fetch.
        int(combined(runs["naive"])["requests"]),
        f"{naive_size / 1000:.0f} kB plain",
    )
    results = [backend_row, ceiling_row, naive_row]
    print_table(
        results,
        f"Seed load: hey -c 200, GET {PATH}, {args.rounds} rounds of {per_round} requests per server, taking "
        f"turns; sample data source with {args.latency_ms} ms latency",
    )
    of_ceiling = [b["rps"] / c["rps"] for b, c in zip(runs["backend"], runs["ceiling"], strict=True)]
    of_naive = [b["rps"] / n["rps"] for b, n in zip(runs["backend"], runs["naive"], strict=True)]
    print(
        f"\n  backend/ceiling per round: {spread(of_ceiling, '.0%')}; "
        f"backend/naive: {spread(of_naive, '.0f', 'x')}"
    )
    return results, [
        ("seed: 0 errors", backend_row.errors == 0),
        (f"seed: upstream fetches <= {WORKERS} worker processes", backend_row.fetches <= WORKERS),
        (
            f"seed: >= 50% of the ceiling's throughput ({backend_row.rps / ceiling_row.rps:.0%})",
            backend_row.rps >= 0.5 * ceiling_row.rps,
        ),
        (
            f"seed: >= 20x the naive throughput ({backend_row.rps / naive_row.rps:.0f}x)",
            backend_row.rps >= 20 * naive_row.rps,
        ),
        (f"seed: gzip answer <= 100 kB ({len(zipped) / 1000:.0f} kB)", len(zipped) <= 100_000),
    ]


def combined(runs: list[dict[str, float]]) -> dict[str, float]:
    """Several runs of one server as one: requests over the time they took together; the worst p99."""
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["requests"] / run["rps"] for run in runs if run["rps"])
    return {
        "requests": requests,
        "rps": requests / seconds if seconds else float("nan"),
        "p50": sorted(run["p50"] for run in runs)[len(runs) // 2],
        "p99": max(run["p99"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
    }


def spread(values: list[float], spec: str, unit: str = "") -> str:
    return " ".join(f"{value:{spec}}{unit}" for value in values) + (
        f" (range {min(values):{spec}}{unit}-{max(values):{spec}}{unit})" if len(values) > 1 else ""
    )


def distinct_load(args: argparse.Namespace) -> tuple[list[Result], list[tuple[str, bool]]]:
    """Both servers stay up and take turns, each round on the same keys, new to the backend's cache."""
    per_round = args.distinct_keys
    paths = distinct_paths(per_round * args.rounds)
    rounds = [paths[i : i + per_round] for i in range(0, len(paths), per_round)]
    servers = [
        ("backend-distinct", None, "backend (this image)"),
        ("naive-distinct", "bench.naive_app:app", "naive (fetch + to_json per request)"),
    ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in servers}
    started: dict[str, tuple[subprocess.Popen, str]] = {}
    clients, seconds = args.distinct_clients, args.distinct_seconds
    try:
        # The sample source builds each ticker's whole series (34,000 days) on its first use in a worker, a
        # one-off the naive server pays too but that weighed ~10 % of the backend's measured CPU. Warm both
        # first, on keys that end a day earlier, so no measured key is among them.
        warm_up = distinct_paths(per_round, seed=0, end="2025-07-31")
        for name, app, _ in servers:
            started[name] = start(name, app, args.out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="0")
            distinct_keys(started[name][1], warm_up, args.out, 3, clients, f"{name}-warm-up")
        fetches_before = upstream_fetches(started["backend-distinct"][1])
        for keys in rounds:
            for name, _, _ in servers:
                process, base = started[name]
                cpu_before = workers_cpu_s(process)
                load = distinct_keys(base, keys, args.out, seconds, clients, f"{name}-{len(runs[name])}")
                load["cpu_ms"] = (workers_cpu_s(process) - cpu_before) * 1000 / load["requests"]
                runs[name].append(load)
        fetches = upstream_fetches(started["backend-distinct"][1]) - fetches_before
    finally:
        for process, _ in started.values():
            stop(process)
    results = []
    for name, app, label in servers:
        load = combined(runs[name])
        cpu_ms = sum(run["cpu_ms"] * run["requests"] for run in runs[name]) / load["requests"]
        results.append(
            Result(
                label,
                *_row(load),
                fetches if app is None else int(load["requests"]),
                f"{cpu_ms:.1f} ms server CPU per request",
                cpu_ms,
            )
        )
    print_table(
        results,
        f"Distinct keys: wrk, {len(rounds)} rounds of {seconds} s per server, taking turns, every request a "
        f"ticker/start pair new to the backend; {clients} keep-alive connections, gzip accepted; sample data "
        "source with 0 ms latency",
    )
    backend, naive = results
    by_rps = [b["rps"] / n["rps"] for b, n in zip(*runs.values(), strict=True)]
    by_cpu = [n["cpu_ms"] / b["cpu_ms"] for b, n in zip(*runs.values(), strict=True)]
    print(
        f"\n  backend/naive per round: {spread(by_rps, '.1f', 'x')} the req/s; "
        f"{spread(by_cpu, '.1f', 'x')} less CPU per request"
    )
    return results, [
        ("distinct: 0 errors", backend.errors == 0),
        (
            f"distinct: >= 3x the naive throughput ({backend.rps / naive.rps:.1f}x)",
            backend.rps >= 3 * naive.rps,
        ),
    ]


def trickle(host: str, port: int, stop_at: float, opened: list[int]) -> None:
    """One slow client: a request line, then a header byte a second, never the blank line ending them."""
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
            opened.append(1)
            while time.monotonic() < stop_at:
                sock.sendall(b"X")
                time.sleep(1)  # the trickle's pace is the point, not a wait for a condition
    except OSError:
        pass  # the server closed it: that is a way of coping with it


def normal_requests(base: str, stop_at: float, clients: int = 4) -> dict[str, float]:
    """Requests a probe or a dashboard sends, each on a new connection, while the slow clients hold theirs."""
    paths = ["/healthz", PATH]
    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]

    def client(index: int) -> None:
        n = index
        while time.monotonic() < stop_at:
            n += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(base + paths[n % 2], timeout=5) as response:  # noqa: S310
                    response.read()
                    ok = response.status == 200
            except OSError:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - started)
                failures[0] += not ok

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "ok": 1 - failures[0] / max(len(latencies), 1),
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "errors": failures[0],
    }


def slow_clients(args: argparse.Namespace) -> tuple[list[Result], list[tuple[str, bool]]]:
    process, base = start("backend-slow", None, args.out, STOCK_DATA_SOURCE="sample", SAMPLE_LATENCY_MS="0")
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    try:
        stop_at = time.monotonic() + args.slow_seconds + 5
        opened: list[int] = []
        slow = [
            threading.Thread(target=trickle, args=(host, port, stop_at, opened), daemon=True)
            for _ in range(args.slow_clients)
        ]
        for thread in slow:
            thread.start()
        # Measure only once every slow client holds its connection (bounded: a refused one never appends).
        deadline = time.monotonic() + 5
        while len(opened) < args.slow_clients and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a counter the slow clients fill in
        load = normal_requests(base, time.monotonic() + args.slow_seconds)
    finally:
        stop(process)
    print(
        f"\nSlow clients: {len(opened)} of {args.slow_clients} connections trickling headers "
        f"(a byte a second) for {args.slow_seconds} s; 4 clients alongside, a new connection per request, "
        "5 s timeout; "
        f"gunicorn {WORKERS} {WORKER_CLASS['backend-slow']} workers; {os.cpu_count()} CPUs\n"
    )
    print(
        f"  normal requests: {load['requests']}, succeeded {load['ok']:.1%}, "
        f"p50 {load['p50']:.0f} ms, p99 {load['p99']:.0f} ms"
    )
    row = Result(
        "backend (this image)",
        int(load["requests"]),
        float("nan"),
        load["p50"],
        load["p99"],
        int(load["errors"]),
        None,
        f"{load['ok']:.1%} succeeded",
    )
    return [row], [
        (f"slow: >= 95% of normal requests succeed ({load['ok']:.1%})", load["ok"] >= 0.95),
        (f"slow: p99 under 1 s ({load['p99']:.0f} ms)", load["p99"] < 1000),
    ]


def _row(load: dict[str, float]) -> tuple[int, float, float, float, int]:
    return int(load["requests"]), load["rps"], load["p50"], load["p99"], int(load["errors"])


def print_table(results: list[Result], title: str) -> None:
    workers = ", ".join(sorted(set(WORKER_CLASS.values())))
    print(
        f"\n{title}; gunicorn {WORKERS} {workers} workers (gthread: x {THREADS} threads); "
        f"{os.cpu_count()} CPUs\n"
    )
    header = (
        "server",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "upstream fetches",
        "response size",
    )
    rows = [
        (
            r.name,
            str(r.requests),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.errors),
            str(r.fetches),
            r.size,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    sys.exit(main())
