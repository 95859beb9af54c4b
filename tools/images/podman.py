"""What the image tools share: the repository, the cache, and podman run with this repository's settings."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = Path(__file__).resolve().parent / "containers.conf"
OUT = REPO / ".out" / "images"


class ImagesError(Exception):
    """A problem the user must fix; printed without a stack trace."""


def cache_root() -> Path:
    """Outside the clone, shared with tools/gotools.py: a fresh clone on this machine reuses what is there."""
    if root := os.environ.get("STOCK_GITOPS_CACHE"):
        return Path(root).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "stock-gitops").resolve()


@contextlib.contextmanager
def locked(path: Path):
    """Serialise two builders of one thing (two clones, or make -j)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def run(
    command: list[str], *, check: bool = True, capture: bool = False, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command; a failure is an ImagesError naming it, not a stack trace."""
    try:
        result = subprocess.run(command, text=True, capture_output=capture, check=False, **kwargs)
    except OSError as error:
        raise ImagesError(f"cannot run {command[0]}: {error}") from error
    if check and result.returncode != 0:
        detail = f":\n{(result.stderr or '').strip()[-3000:]}" if capture else " (see its output above)"
        raise ImagesError(f"`{' '.join(command[:4])} …` failed with exit code {result.returncode}{detail}")
    return result


def podman(
    args: list[str], *, check: bool = True, capture: bool = True, **kwargs
) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise ImagesError("podman is not installed (Debian: apt-get install podman runc; .ci/run does it)")
    return run(["podman", *args], check=check, capture=capture, env=podman_env(), **kwargs)
