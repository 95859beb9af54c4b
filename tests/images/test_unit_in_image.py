"""Each image's own unit tests, run inside the image on its Python 3.13, as the Deployment's user.

The test files are mounted read-only, not baked in. The packages the tests import that the image lacks (and
their dependencies, pytest and pytest-timeout, which pyproject.toml's settings need) are found from the
test files' imports and pinned at the versions of the development environment, which requirements-dev.txt
pins. They go, without dependency resolution, into a venv on a podman volume keyed by those pins and the
image's Python; the venv sees the image's packages, so nothing the image ships is replaced, and the shipped
image never contains them.
"""

from __future__ import annotations

import ast
import hashlib
import re
from importlib import metadata
from pathlib import Path

import build
import pod
import pytest
from images_helpers import REPO_ROOT, RUN_ID
from packaging.requirements import Requirement
from podman import podman

PYTHON_VERSION = "import platform; print(platform.python_version())"

# Needed by pytest itself and by the settings in pyproject.toml (timeout), not imported by the tests.
RUNNER_PACKAGES = ("pytest", "pytest-timeout")
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
# The memory test reads the pod's limit from apps/ as kustomize renders it; the image holds neither, and
# `make check-backend` runs it against the same gunicorn settings on the host.
PYTEST_ARGS = {
    "backend": [
        "--deselect=tests/test_gunicorn.py::test_many_distinct_keys_keep_master_and_workers_under_the_pods_memory_limit",
        "tests",
    ],
    "frontend": ["--ignore=tests/e2e", "tests"],
}


def imported_modules(tests: Path) -> set[str]:
    """The top-level modules the test files import (the browser tests excluded: they run from the host)."""
    modules = set()
    for path in tests.rglob("*.py"):
        if "e2e" in path.relative_to(tests).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_pins(name: str, python_version: str) -> set[tuple[str, str]]:
    """(distribution, version) the image's lock installs on its Python (environment markers evaluated)."""
    environment = {
        "python_version": ".".join(python_version.split(".")[:2]),
        "python_full_version": python_version,
    }
    pins = set()
    for line in (REPO_ROOT / "images" / name / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                (specifier,) = requirement.specifier
                pins.add((canonical(requirement.name), specifier.version))
    return pins


def packages_for_tests(name: str, python_version: str) -> list[str]:
    """name==version for every distribution the tests need that the image lacks, dependencies included."""
    providers = metadata.packages_distributions()
    wanted = [*RUNNER_PACKAGES]
    for module in sorted(imported_modules(REPO_ROOT / "images" / name / "tests")):
        wanted += providers.get(module, [])
    in_image = {distribution for distribution, _ in locked_pins(name, python_version)}
    environment = {
        "python_version": ".".join(python_version.split(".")[:2]),
        "python_full_version": python_version,
    }
    pins, seen = set(), set()
    while wanted:
        distribution = canonical(wanted.pop())
        if distribution in seen or distribution in in_image:
            continue
        seen.add(distribution)
        pins.add(f"{distribution}=={metadata.version(distribution)}")
        for line in metadata.requires(distribution) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({**environment, "extra": ""}):
                wanted.append(requirement.name)
    return sorted(pins)


def packages_volume(name: str) -> str:
    """A volume holding a venv with the test packages for this image, made once per pins and image Python."""
    image = pod.local_tag(name)
    python = podman(["run", "--rm", "--pull=never", image, "python", "-c", PYTHON_VERSION]).stdout.strip()
    pins = packages_for_tests(name, python)
    key = hashlib.sha256("\n".join([python, *pins]).encode()).hexdigest()[:12]
    volume = f"stock-gitops-testdeps-{name}-{key}"
    if podman(["volume", "exists", volume], check=False).returncode == 0:
        return volume
    podman(["volume", "create", volume])
    pip_dir = build.write_pip_config()
    script = (
        f"python -m venv --without-pip --system-site-packages {VENV}"
        f" && python -m pip --python {VENV}/bin/python install --no-cache-dir --quiet"
        f" --root-user-action=ignore --no-deps {' '.join(pins)}"
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
    folder = REPO_ROOT / "images" / name
    mounts = {folder / "tests": "/app/tests", REPO_ROOT / "pyproject.toml": "/app/pyproject.toml"}
    mounts.update({REPO_ROOT / source: target for source, target in EXTRA_MOUNTS[name].items()})
    volumes = [arg for source, target in mounts.items() for arg in ("--volume", f"{source}:{target}:ro")]
    site_packages = f"{VENV}/lib/python3.13/site-packages"
    command = [
        "run", "--rm", "--name", f"stock-{name}-unit-{RUN_ID}", *spec.args,
        "--volume", f"{volume}:{VENV}:ro", *volumes, "--env", f"PYTHONPATH={site_packages}",
        # Hypothesis keeps its example database beside the tests; the root filesystem is read-only.
        "--env", "HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis", "--workdir", "/app",
        "--entrypoint", '["python", "-m", "pytest"]', spec.image,
        # pyproject.toml's `pythonpath` names the tree's folders; in the image the code is /app (the working
        # folder, on sys.path already) and the tests with their helpers are /app/tests.
        "-q", "-p", "no:cacheprovider", "-o", "pythonpath=tests", *PYTEST_ARGS[name],
    ]  # fmt: skip
    result = podman(command, check=False)
    print(result.stdout[-2500:])
    assert "Python 3.13" in podman(["run", "--rm", "--pull=never", spec.image, "python", "-VV"]).stdout
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
