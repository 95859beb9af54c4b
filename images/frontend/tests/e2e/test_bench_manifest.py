"""The bench and the memory test (host-side, like the bench) read the frontend's limits from the rendered
Deployment, in its units."""

from __future__ import annotations

import pytest
from bench.manifest import quantity_bytes, quantity_cores


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [("1", 1), ("1000m", 1), ("1500m", 2), ("250m", 1), ("2", 2), ("0.5", 1), ("2001m", 3)],
)
def test_a_cpu_limit_is_the_whole_cores_it_needs(quantity, cores):
    assert quantity_cores(quantity) == cores


@pytest.mark.parametrize(
    ("quantity", "size"), [("1Gi", 2**30), ("768Mi", 768 * 2**20), ("500M", 500 * 10**6)]
)
def test_a_memory_limit_is_its_bytes(quantity, size):
    assert quantity_bytes(quantity) == size


@pytest.mark.parametrize("quantity", ["", "one", "1Gi", "-1", "1 core"])
def test_a_cpu_quantity_the_bench_cannot_read_is_named(quantity):
    with pytest.raises(ValueError, match="not a CPU quantity") as error:
        quantity_cores(quantity)
    assert repr(quantity) in str(error.value)
