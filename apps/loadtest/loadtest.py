"""Fire a bounded number of GET requests at one URL from many threads, then print a summary.

The `loadtest` Job runs this with only the Python standard library (no image of our own to build):
  TARGET_URL, REQUESTS (default 24000), CONCURRENCY (default 200), TIMEOUT_SECONDS (per request, 10),
  MAX_SECONDS (the whole run stops after this long, default 600).
It always stops by itself: after REQUESTS requests or MAX_SECONDS, whichever comes first. The exit code is
1 when any request failed, so the Job (and Argo CD) show a failed run as failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Counts shared by the worker threads."""

    sent: int = 0
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, limit: int) -> bool:
        with self.lock:
            if self.sent >= limit:
                return False
            self.sent += 1
            return True

    def record(self, seconds: float, failure: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if failure is None:
                self.ok += 1
            else:
                self.failures[failure] = self.failures.get(failure, 0) + 1


def fetch(url: str, timeout: float) -> str | None:
    """GET url and read the body; None on a 2xx/3xx answer, else a short failure label."""
    try:
        # The URL comes from the Job spec and main() accepts only http(s).
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return type(reason).__name__
    return None


def worker(url: str, tally: Tally, total: int, timeout: float, deadline: float) -> None:
    while time.monotonic() < deadline and tally.claim(total):
        started = time.monotonic()
        failure = fetch(url, timeout)
        tally.record(time.monotonic() - started, failure)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def summary(tally: Tally, elapsed: float) -> str:
    done = tally.ok + sum(tally.failures.values())
    latencies = sorted(tally.latencies)
    lines = [
        f"requests:    {done}",
        f"succeeded:   {tally.ok}",
        f"failures:    {done - tally.ok}",
        f"elapsed:     {elapsed:.1f} s",
        f"req/s:       {done / elapsed if elapsed > 0 else 0.0:.1f}",
        f"latency p50: {percentile(latencies, 0.5) * 1000:.0f} ms",
        f"latency p99: {percentile(latencies, 0.99) * 1000:.0f} ms",
    ]
    lines += [f"  {count:>7} x {label}" for label, count in sorted(tally.failures.items())]
    return "\n".join(lines)


def run(url: str, total: int, concurrency: int, timeout: float, max_seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    started = time.monotonic()
    deadline = started + max_seconds
    threads = [
        threading.Thread(target=worker, args=(url, tally, total, timeout, deadline), daemon=True)
        for _ in range(min(concurrency, total))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.monotonic() - started


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("TARGET_URL"), help="URL to GET (env TARGET_URL)")
    parser.add_argument("--requests", type=positive(int), default=os.environ.get("REQUESTS", "24000"))
    parser.add_argument("--concurrency", type=positive(int), default=os.environ.get("CONCURRENCY", "200"))
    parser.add_argument("--timeout", type=positive(float), default=os.environ.get("TIMEOUT_SECONDS", "10"))
    parser.add_argument("--max-seconds", type=positive(float), default=os.environ.get("MAX_SECONDS", "600"))
    args = parser.parse_args(argv)
    if not args.url or not args.url.startswith(("http://", "https://")):
        parser.error("--url (or TARGET_URL) must be an http:// or https:// URL")
    print(f"GET {args.url}: {args.requests} requests, {args.concurrency} at a time", flush=True)
    tally, elapsed = run(args.url, args.requests, args.concurrency, args.timeout, args.max_seconds)
    print(summary(tally, elapsed), flush=True)
    done = tally.ok + sum(tally.failures.values())
    if done < args.requests:
        print(f"stopped after {args.max_seconds:.0f} s with {args.requests - done} requests not sent")
    return 0 if tally.ok == done == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
