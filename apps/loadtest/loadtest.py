"""The hand-in's load test: rounds of parallel GET requests at one URL, then a summary.

The hand-in's Job runs `seq 1 200 | xargs -P 200 curl "$URL"` 120 times: each round starts 200 requests
at once and the next round starts when all of them have finished. This keeps that shape, and counts what
curl's `>/dev/null` threw away. The `loadtest` Job and `make loadtest` run it with only the standard
library (no image of our own to build):
  TARGET_URL, ROUNDS (default 120), CONCURRENCY (requests per round, default 200),
  TIMEOUT_SECONDS (per request, 10), MAX_SECONDS (no round starts after this long, default 600).
It always stops by itself: after ROUNDS rounds or MAX_SECONDS, whichever comes first. The exit code is 1
when any request failed or a round was not sent, so the Job (and Argo CD) show a failed run as failed.
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
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Counts shared by the worker threads."""

    rounds: int = 0
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

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


def timed_fetch(url: str, tally: Tally, timeout: float) -> None:
    started = time.monotonic()
    failure = fetch(url, timeout)
    tally.record(time.monotonic() - started, failure)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def summary(tally: Tally, rounds: int, elapsed: float) -> str:
    done = tally.ok + sum(tally.failures.values())
    latencies = sorted(tally.latencies)
    lines = [
        f"rounds:      {tally.rounds} of {rounds}",
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


def run(url: str, rounds: int, concurrency: int, timeout: float, max_seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    started = time.monotonic()
    deadline = started + max_seconds
    # One thread per request of a round, so all of a round's requests are in flight at once (xargs -P).
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while tally.rounds < rounds and time.monotonic() < deadline:
            wait([pool.submit(timed_fetch, url, tally, timeout) for _ in range(concurrency)])
            tally.rounds += 1
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
    parser.add_argument("--rounds", type=positive(int), default=os.environ.get("ROUNDS", "120"))
    parser.add_argument(
        "--concurrency",
        type=positive(int),
        default=os.environ.get("CONCURRENCY", "200"),
        help="requests per round, all in flight at once",
    )
    parser.add_argument("--timeout", type=positive(float), default=os.environ.get("TIMEOUT_SECONDS", "10"))
    parser.add_argument("--max-seconds", type=positive(float), default=os.environ.get("MAX_SECONDS", "600"))
    args = parser.parse_args(argv)
    if not args.url or not args.url.startswith(("http://", "https://")):
        parser.error("--url (or TARGET_URL) must be an http:// or https:// URL")
    print(
        f"GET {args.url}: {args.rounds} rounds of {args.concurrency} parallel requests "
        f"({args.rounds * args.concurrency} in all)",
        flush=True,
    )
    tally, elapsed = run(args.url, args.rounds, args.concurrency, args.timeout, args.max_seconds)
    print(summary(tally, args.rounds, elapsed), flush=True)
    if tally.rounds < args.rounds:
        print(f"stopped after {args.max_seconds:.0f} s with {args.rounds - tally.rounds} rounds not sent")
    return 0 if tally.rounds == args.rounds and not tally.failures else 1


if __name__ == "__main__":
    sys.exit(main())
