"""Benchmark inputs. Sizes come from the environment so that CI runs every benchmark once on small
inputs (``--benchmark-disable``, results still asserted) and a measurement run uses the issue's sizes:

    MLM_BENCH_MEMBERS=10000000 MLM_BENCH_BASELINE_MEMBERS=1000000 \\
        .venv/bin/python -m pytest benches --benchmark-enable --benchmark-columns=median,min,max,rounds
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from mlm_core import Genealogy, synth


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.fixture(scope="session")
def big_members() -> pa.Table:
    """The large network (MLM_BENCH_MEMBERS, default 200k), string ids, join order."""
    return synth.network(_size("MLM_BENCH_MEMBERS", 200_000), seed=7)


@pytest.fixture(scope="session")
def big_genealogy(big_members: pa.Table) -> Genealogy:
    return Genealogy.from_arrow(big_members)


@pytest.fixture(scope="session")
def big_volumes(big_members: pa.Table) -> pa.Table:
    """One period of the large network's orders (member_id, pv, bv)."""
    return synth.volumes(big_members, seed=7).select(["member_id", "pv", "bv"])


@pytest.fixture(scope="session")
def baseline_members() -> pa.Table:
    """The network the slow baselines run on (MLM_BENCH_BASELINE_MEMBERS, default 100k)."""
    return synth.network(_size("MLM_BENCH_BASELINE_MEMBERS", 100_000), seed=11)


@pytest.fixture(scope="session")
def baseline_genealogy(baseline_members: pa.Table) -> Genealogy:
    return Genealogy.from_arrow(baseline_members)


@pytest.fixture(scope="session")
def baseline_values(baseline_members: pa.Table) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-5_000, 50_000, size=baseline_members.num_rows, dtype=np.int64)
