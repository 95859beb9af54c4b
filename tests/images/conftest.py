"""Both images under podman exactly as their Deployments run them (settings from the rendered cluster).

The images come from `make images` (check-images depends on it). Every container and the network get names
unique to this run and are removed by name when the session ends, whatever happened. Readiness is polled on
the probe paths with the probe's own budget as the deadline.
"""

from __future__ import annotations

from collections.abc import Iterator

# The helpers of this folder and the tools of tools/images come through pytest's `pythonpath` setting.
import base_image
import pod
import pytest
from images_helpers import BACKEND_OVERRIDES, RUN_ID, Running, remove, start
from podman import ImagesError, podman


@pytest.fixture(scope="session")
def resources() -> list[dict]:
    try:
        return pod.rendered_resources("prod")
    except ImagesError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def base() -> str:
    _, name = base_image.base_reference()
    for image in (name, pod.local_tag("backend"), pod.local_tag("frontend")):
        if podman(["image", "exists", image], check=False).returncode != 0:
            pytest.fail(f"{image} is not built; run `make images` first")
    return name


@pytest.fixture(scope="session")
def network(base: str) -> Iterator[str]:
    name = f"stock-images-{RUN_ID}"
    podman(["network", "create", name])
    try:
        yield name
    finally:
        podman(["network", "rm", "--force", name], check=False)


@pytest.fixture(scope="session")
def backend(resources, network) -> Iterator[Running]:
    name = f"stock-backend-{RUN_ID}"
    try:
        yield start(resources, "backend", name, network, BACKEND_OVERRIDES)
    finally:
        remove(name)


@pytest.fixture(scope="session")
def backend_service(resources, network, base, backend) -> Iterator[str]:
    """The Service stock-backend: its name, on the network, forwarding port 80 to the backend's http port."""
    name = f"stock-backend-svc-{RUN_ID}"
    pairs = pod.service_ports(resources, "stock-backend", backend.spec)
    podman(
        pod.service_args(
            base, name=name, network=network, service="stock-backend", pairs=pairs, target=backend.name
        )
    )
    try:
        yield name
    finally:
        remove(name)


@pytest.fixture(scope="session")
def frontend(resources, network, backend_service) -> Iterator[Running]:
    name = f"stock-frontend-{RUN_ID}"
    try:
        yield start(resources, "frontend", name, network)
    finally:
        remove(name)
