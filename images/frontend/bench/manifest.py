"""The frontend container's limits as the cluster would get them: apps/stock-app rendered with kustomize.

Read from the rendered manifest (tools/gitops/render.py, the renderer `make render` uses), never copied, so
the bench and the memory test follow the Deployment whenever someone changes it.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "apps" / "stock-app"
DEPLOYMENT, CONTAINER = "stock-frontend", "frontend"
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("1Gi", "768Mi", "500M", "1073741824") in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(|k|M|G|Ki|Mi|Gi)", str(quantity).strip())
    if not match:
        raise ValueError(f"not a memory quantity this bench understands: {quantity!r}")
    return int(float(match[1]) * _UNITS[match[2]])


def frontend_resources() -> dict:
    """`resources` of the frontend container in the rendered stock-app."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools.gitops.render import kustomize_build

    for resource in kustomize_build(APP):
        if resource.get("kind") == "Deployment" and resource["metadata"]["name"] == DEPLOYMENT:
            for container in resource["spec"]["template"]["spec"]["containers"]:
                if container["name"] == CONTAINER:
                    return container["resources"]
    raise LookupError(f"no container {CONTAINER!r} in Deployment {DEPLOYMENT!r} rendered from {APP}")


def memory_limit_bytes() -> int:
    return quantity_bytes(frontend_resources()["limits"]["memory"])


def quantity_cores(quantity: str) -> int:
    """A Kubernetes CPU quantity ("1", "1000m", "1.5", "250m") as the whole cores it needs (1, 1, 2, 1)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", str(quantity).strip())
    if not match:
        raise ValueError(f"not a CPU quantity this bench understands: {quantity!r}")
    millicores = float(match[1]) * (1 if match[2] else 1000)
    return max(1, math.ceil(millicores / 1000))


def cpu_limit_cores() -> int:
    """The whole cores the frontend container may use: what the bench gives its Streamlit servers."""
    return quantity_cores(frontend_resources()["limits"]["cpu"])
