"""Each image stays within its size budget: the measured size and a small margin (README: Measured)."""

from __future__ import annotations

import pod
import pytest
from podman import podman

# Uncompressed size as podman reports it, in MB (10**6 bytes), for the images built on the base stand-in.
BUDGET_MB = {"backend": 395, "frontend": 690}


@pytest.mark.parametrize("name", sorted(BUDGET_MB))
def test_the_image_is_within_its_size_budget(name, base):
    size_mb = int(podman(["image", "inspect", "--format", "{{.Size}}", pod.local_tag(name)]).stdout) / 1e6
    print(f"stock-{name}: {size_mb:.0f} MB (budget {BUDGET_MB[name]} MB)")
    assert size_mb <= BUDGET_MB[name], (
        f"stock-{name} is {size_mb:.0f} MB, over its {BUDGET_MB[name]} MB budget"
    )
