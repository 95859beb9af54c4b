"""The offline SBOM of each image lists exactly the Python packages its lock pins."""

from __future__ import annotations

import json
import subprocess
import sys

import pod
import pytest
from images_helpers import REPO_ROOT
from podman import podman
from test_unit_in_image import PYTHON_VERSION, canonical, locked_pins

SBOM_DIR = REPO_ROOT / ".out" / "images" / "sbom"


@pytest.mark.parametrize("name", ["backend", "frontend"])
def test_the_sbom_lists_every_locked_package_at_its_version(name, base):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "images" / "sbom.py"), name],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    document = json.loads((SBOM_DIR / f"stock-{name}.spdx.json").read_text())
    assert document["spdxVersion"].startswith("SPDX-2.")
    found = {
        (canonical(package["name"]), package.get("versionInfo"))
        for package in document["packages"]
        if any("pkg:pypi/" in ref.get("referenceLocator", "") for ref in package.get("externalRefs", []))
    }
    python = podman(["run", "--rm", "--pull=never", pod.local_tag(name), "python", "-c", PYTHON_VERSION])
    missing = locked_pins(name, python.stdout.strip()) - found
    assert not missing, f"the SBOM of stock-{name} misses {sorted(missing)}"
    print(f"stock-{name}: SBOM with {len(document['packages'])} packages, {len(found)} from PyPI")
