"""HTTP smoke test of the app from outside: the dashboard, the JSON API, and no metrics.

    python -m tools.k3d.smoke --url http://127.0.0.1:8080                 # through Traefik (k3d job)
    python -m tools.k3d.smoke --url http://127.0.0.1:8501 --api-url http://127.0.0.1:5000   # make run

Checks, each with one line of output:
  - `/` answers 200 with Streamlit's HTML page (the dashboard);
  - `/api/stock?ticker=NVDA&...` answers JSON: 200 with prices, or the backend's own 503 JSON when Yahoo
    refuses the runner (rate limits on shared cloud addresses), never an HTML error page of a proxy;
  - `/metrics` and `/api/metrics` under --url do not serve Prometheus' text format: the ingress routes
    only `/` (the frontend) and `/api` (the backend), so the backend's /metrics stays inside the cluster.

Until `/` first answers (Traefik picks an Ingress up a few seconds after Argo CD reports it Healthy) it
polls for --wait seconds. Exit 0 when every check passed, 1 with the failed checks named.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

# A query the backend answers from Yahoo in the cluster and from sample data under `make run` offline.
STOCK_QUERY = "/api/stock?ticker=NVDA&start=2024-01-01&end=2024-03-01"
METRIC_PATHS = ("/metrics", "/api/metrics")
TIMEOUT_S = 30


@dataclass
class Result:
    name: str
    ok: bool
    detail: str


def looks_like_prometheus(body: str) -> bool:
    """Prometheus' text exposition: `# HELP name ...` / `# TYPE name ...` comment lines."""
    return any(line.startswith(("# HELP ", "# TYPE ")) for line in body.splitlines())


def check_dashboard(url: str) -> Result:
    response = requests.get(f"{url}/", timeout=TIMEOUT_S)
    kind = response.headers.get("Content-Type", "")
    ok = (
        response.status_code == 200
        and kind.startswith("text/html")
        and "<title>Streamlit</title>" in response.text
    )
    return Result("dashboard at /", ok, f"HTTP {response.status_code}, {kind or 'no Content-Type'}")


def check_api(api_url: str) -> Result:
    response = requests.get(f"{api_url}{STOCK_QUERY}", timeout=TIMEOUT_S)
    kind = response.headers.get("Content-Type", "")
    try:
        body = response.json()
    except ValueError:
        return Result("JSON at /api/stock", False, f"HTTP {response.status_code}, {kind}: not JSON")
    if response.status_code == 200:
        rows = body.get("rows") if isinstance(body, dict) else None
        ok = kind.startswith("application/json") and isinstance(rows, int) and rows > 0
        source = body.get("source") if isinstance(body, dict) else None
        return Result("JSON at /api/stock", ok, f"HTTP 200, {rows} rows from {source}")
    # The backend's own answer when Yahoo refuses or cannot be reached: still JSON, with Retry-After.
    ok = response.status_code == 503 and "Retry-After" in response.headers and isinstance(body, dict)
    return Result("JSON at /api/stock", ok, f"HTTP {response.status_code}: {json.dumps(body)[:200]}")


def check_no_metrics(url: str, path: str) -> Result:
    response = requests.get(f"{url}{path}", timeout=TIMEOUT_S)
    exposed = response.status_code == 200 and looks_like_prometheus(response.text)
    detail = f"HTTP {response.status_code}" + (": Prometheus metrics are served" if exposed else "")
    return Result(f"no metrics at {path}", not exposed, detail)


def wait_for(url: str, seconds: float) -> str | None:
    """None once `url` answers 200, else the last problem seen."""
    deadline = time.monotonic() + seconds
    problem = "never tried"
    while True:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return None
            problem = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            problem = str(error)
        if time.monotonic() >= deadline:
            return problem
        # Polling a URL until the ingress routes it: there is nothing to block on.
        time.sleep(1)


def run(url: str, api_url: str, wait: float) -> list[Result]:
    problem = wait_for(f"{url}/", wait)
    if problem:
        return [Result("dashboard at /", False, f"no answer within {wait:.0f} s: {problem}")]
    checks: list[tuple[str, Callable[[], Result]]] = [
        ("dashboard at /", lambda: check_dashboard(url)),
        ("JSON at /api/stock", lambda: check_api(api_url)),
        *((f"no metrics at {path}", lambda path=path: check_no_metrics(url, path)) for path in METRIC_PATHS),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except requests.RequestException as error:
            results.append(Result(name, False, str(error)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", required=True, help="the app as users reach it (Traefik), e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--api-url", help="where /api is served, if not under --url (make run: the backend)")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for / to answer first")
    args = parser.parse_args(argv)
    for name, value in (("--url", args.url), ("--api-url", args.api_url)):
        if value is not None and not value.startswith(("http://", "https://")):
            parser.error(f"{name} must be an http:// or https:// URL, not {value!r}")
    results = run(args.url.rstrip("/"), (args.api_url or args.url).rstrip("/"), args.wait)
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    failed = [result.name for result in results if not result.ok]
    if failed:
        print(f"smoke: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
