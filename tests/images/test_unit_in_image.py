"""Each image's own unit tests, run inside the image on its Python 3.13, as the Deployment's user.

The test files are mounted read-only, not baked in. The test-only packages (pinned in requirements-dev.txt,
their one home) go into a podman volume keyed by those pins and the image's Python: a venv that sees the
image's packages, so only what the image lacks is added and nothing the image ships is replaced. The shipped
image never contains them.
"""

from __future__ import annotations

import hashlib
import re

import build
import pod
import pytest
from images_helpers import REPO, RUN_ID
from podman import podman

TEST_PACKAGES = ("pytest", "pytest-timeout", "hypothesis", "jsonschema", "openapi-spec-validator", "PyYAML")
VENV = "/opt/test-venv"
# Files the tests read besides their own folder, mounted where the tests look for them (paths in the tree).
EXTRA_MOUNTS = {
    "backend": {
        "images/backend/requirements.in": "/app/requirements.in",
        "images/backend/Dockerfile": "/app/Dockerfile",
    },
    "frontend": {
        "images/frontend/requirements.in": "/app/requirements.in",
        # test_contract.py reads the backend's contract from ../../backend, relative to its own folder.
        "images/backend/stockapi/openapi.yaml": "/backend/stockapi/openapi.yaml",
    },
}
PYTEST_ARGS = {"backend": ["tests"], "frontend": ["--ignore=tests/e2e", "tests"]}


def pinned_test_packages() -> list[str]:
    wanted = {name.lower() for name in TEST_PACKAGES}
    pins = []
    for line in (REPO / "requirements-dev.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match and match[1].lower() in wanted:
            pins.append(line.strip())
    assert len(pins) == len(wanted), f"requirements-dev.txt pins {pins}, not all of {TEST_PACKAGES}"
    return pins


def packages_volume(name: str) -> str:
    """A volume holding a venv with the test packages for this image, made once per pins and image Python."""
    image = pod.local_tag(name)
    python = podman(["run", "--rm", "--pull=never", image, "python", "-VV"]).stdout.strip()
    pins = pinned_test_packages()
    key = hashlib.sha256("\n".join([python, *pins]).encode()).hexdigest()[:12]
    volume = f"stock-gitops-testdeps-{name}-{key}"
    if podman(["volume", "exists", volume], check=False).returncode == 0:
        return volume
    podman(["volume", "create", volume])
    pip_dir = build.write_pip_config()
    script = (
        f"python -m venv --without-pip --system-site-packages {VENV}"
        f" && python -m pip --python {VENV}/bin/python install --no-cache-dir --quiet"
        f" --root-user-action=ignore {' '.join(pins)}"
    )
    result = podman(
        ["run", "--rm", "--pull=never", "--user", "0", "--volume", f"{volume}:{VENV}",
         "--volume", f"{pip_dir}:{build.PIP_MOUNT}:ro", image, "sh", "-c", script],
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        podman(["volume", "rm", "--force", volume], check=False)
        pytest.fail(f"could not install the test packages into {volume}:\n{result.stderr[-3000:]}")
    return volume


@pytest.mark.parametrize("name", ["backend", "frontend"])
def test_the_images_unit_tests_pass_inside_it_on_python_3_13(name, resources, base):
    volume = packages_volume(name)
    spec = pod.pod_spec(resources, name)
    folder = REPO / "images" / name
    mounts = {folder / "tests": "/app/tests", REPO / "pyproject.toml": "/app/pyproject.toml"}
    mounts.update({REPO / source: target for source, target in EXTRA_MOUNTS[name].items()})
    volumes = [arg for source, target in mounts.items() for arg in ("--volume", f"{source}:{target}:ro")]
    site_packages = f"{VENV}/lib/python3.13/site-packages"
    command = [
        "run", "--rm", "--name", f"stock-{name}-unit-{RUN_ID}", *spec.args,
        "--volume", f"{volume}:{VENV}:ro", *volumes, "--env", f"PYTHONPATH={site_packages}",
        # Hypothesis keeps its example database beside the tests; the root filesystem is read-only.
        "--env", "HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis", "--workdir", "/app",
        "--entrypoint", '["python", "-m", "pytest"]', spec.image,
        "-q", "-p", "no:cacheprovider", *PYTEST_ARGS[name],
    ]  # fmt: skip
    result = podman(command, check=False)
    print(result.stdout[-2500:])
    assert "Python 3.13" in podman(["run", "--rm", "--pull=never", spec.image, "python", "-VV"]).stdout
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
