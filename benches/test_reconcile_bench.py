"""Reconciliation: MLM_BENCH_RECONCILE_MEMBERS members x 3 bonuses (default 100k; the issue measures 10M) of
commission lines against a legacy copy with seeded differences, next to a pure-Python dictionary
reconciliation of MLM_BENCH_RECONCILE_PYTHON_MEMBERS members (default 20k), in one run.

    MLM_BENCH_RECONCILE_MEMBERS=10000000 MLM_BENCH_RECONCILE_PYTHON_MEMBERS=500000 \\
        .venv/bin/python -m pytest benches/test_reconcile_bench.py --benchmark-enable
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import reconcile

MEMBERS = int(os.environ.get("MLM_BENCH_RECONCILE_MEMBERS", 100_000))
PYTHON_MEMBERS = int(os.environ.get("MLM_BENCH_RECONCILE_PYTHON_MEMBERS", 20_000))
BONUSES = ("binary", "unilevel", "matching")


def sides(members: int) -> tuple[pa.Table, pa.Table, int]:
    """Our lines, and the legacy's: the same but one amount in 1,000 off by one minor unit."""
    rng = np.random.default_rng(9)
    n = members * len(BONUSES)
    ids = pc.binary_join_element_wise("M", pa.array(np.repeat(np.arange(members), len(BONUSES))).cast(pa.string()),
                                      "")
    bonus = pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(len(BONUSES), dtype=np.int8), members)),
                                           pa.array(BONUSES))
    amount = rng.integers(0, 500_000, size=n, dtype=np.int64)
    ours = pa.table({"period": pa.array(np.full(n, "2026-11")), "member_id": ids, "bonus": bonus,
                     "amount": amount})
    off = np.zeros(n, dtype=np.int64)
    off[rng.choice(n, size=max(n // 1000, 1), replace=False)] = 1
    legacy = ours.set_column(3, "amount", pa.array(amount + off))
    return legacy, ours, int(off.sum())


@pytest.fixture(scope="module")
def big() -> tuple[pa.Table, pa.Table, int]:
    return sides(MEMBERS)


@pytest.mark.benchmark(group="reconcile")
def test_reconcile(benchmark: BenchmarkFixture, big: tuple[pa.Table, pa.Table, int]) -> None:
    legacy, ours, differing = big
    result = benchmark.pedantic(reconcile, args=(legacy, ours), rounds=3, iterations=1)
    assert result.periods.column("differing").to_pylist() == [differing]
    assert result.pairs.num_rows == MEMBERS * len(BONUSES)
    benchmark.extra_info.update(lines_per_side=MEMBERS * len(BONUSES))


def python_reconcile(legacy: list[tuple[str, str, str, int]], ours: list[tuple[str, str, str, int]]) -> int:
    sums: list[dict[tuple[str, str, str], int]] = [defaultdict(int), defaultdict(int)]
    for side, rows in ((0, legacy), (1, ours)):
        for p, m, b, a in rows:
            sums[side][(p, m, b)] += a
    return sum(1 for k in set(sums[0]) | set(sums[1]) if sums[0].get(k, 0) != sums[1].get(k, 0))


@pytest.mark.benchmark(group="reconcile")
def test_python_dict_baseline(benchmark: BenchmarkFixture) -> None:
    legacy, ours, differing = sides(PYTHON_MEMBERS)
    rows = [list(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True)) for t in (legacy, ours)]
    assert benchmark.pedantic(python_reconcile, args=(rows[0], rows[1]), rounds=3, iterations=1) == differing
    benchmark.extra_info.update(lines_per_side=PYTHON_MEMBERS * len(BONUSES))
