"""Run `make check-<group>` for each named group and print one summary line per group.

A group's full output goes to <log-dir>/<group>.log; a failing group's output is also printed, because CI
keeps only what reaches the terminal. The last line is a plain `checks: N passed, N failed` total.
Set V=1 to stream every group's output live instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

FAILED_OUTPUT_LINES = 400


def run_group(group: str, log_dir: Path, stream: bool) -> tuple[bool, float]:
    log_path = log_dir / f"{group}.log"
    command = ["make", "--no-print-directory", f"check-{group}"]
    started = time.monotonic()
    if stream:
        returncode = subprocess.call(command)
    else:
        with log_path.open("wb") as log:
            returncode = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    return returncode == 0, time.monotonic() - started


def tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace").splitlines()
    skipped = len(text) - lines
    head = [f"[... {skipped} earlier lines in {path} ...]"] if skipped > 0 else []
    return "\n".join(head + text[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    stream = os.environ.get("V") == "1"

    results = []
    for group in args.groups:
        print(f"---- {group} ...", flush=True)
        ok, seconds = run_group(group, args.log_dir, stream)
        results.append((group, ok, seconds))
        status = "PASS" if ok else "FAIL"
        if not ok and not stream:
            print(tail(args.log_dir / f"{group}.log", FAILED_OUTPUT_LINES), flush=True)
        print(f"{status}  {group:<10} {seconds:6.1f}s  (log: {args.log_dir / group}.log)", flush=True)

    failed = [group for group, ok, _ in results if not ok]
    print()
    print("Summary")
    for group, ok, seconds in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {group:<10} {seconds:6.1f}s")
    print(f"checks: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
