"""Genealogy build and rollups against the baselines a user would otherwise write: a pure-Python loop,
numpy per-depth ``bincount`` and a DuckDB recursive CTE (group ``rollup-baselines``, same network, same
run). Every benchmark
asserts its result, so the suite is also a test when timing is disabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Genealogy, synth


def python_rollup(parent: list[int | None], values: list[int], order: list[int]) -> list[int]:
    """What a Python developer writes: children before parents, add each subtotal to the parent's."""
    acc = list(values)
    for v in reversed(order):
        p = parent[v]
        if p is not None:
            acc[p] += acc[v]
    return acc


def numpy_levels(parent: np.ndarray, depth: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Member rows and their parents per level, deepest first (prepared once, outside the timing)."""
    order = np.argsort(depth, kind="stable")
    bounds = np.cumsum(np.bincount(depth))
    levels = []
    for d in range(len(bounds) - 1, 0, -1):
        rows = order[bounds[d - 1] : bounds[d]]
        levels.append((rows, parent[rows]))
    return levels


def numpy_rollup(values: np.ndarray, levels: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The numpy idiom: one weighted ``bincount`` per level, deepest first. (Float weights: exact only
    below 2**53, which these values respect; the kernel is exact everywhere.)"""
    acc = values.astype(np.int64)
    n = len(acc)
    for rows, parents in levels:
        acc += np.bincount(parents, weights=acc[rows], minlength=n).astype(np.int64)
    return acc


def test_from_arrow_string_ids(benchmark: BenchmarkFixture, big_members: pa.Table) -> None:
    g = benchmark.pedantic(Genealogy.from_arrow, args=(big_members,), rounds=3, iterations=1)
    assert len(g) == big_members.num_rows
    assert g.warnings.num_rows == 0


def test_deep_chain_build_and_rollup(benchmark: BenchmarkFixture) -> None:
    """A chain as deep as the big network is large (10M deep in the measurement run): no recursion."""
    n = int(os.environ.get("MLM_BENCH_MEMBERS", 200_000))
    chain = synth.chain(n, id_kind="int")

    def build_and_roll() -> pa.Array:
        return Genealogy.from_arrow(chain).rollup(op="count")

    counts = benchmark.pedantic(build_and_roll, rounds=1, iterations=1)
    assert counts[0].as_py() == n and counts[n - 1].as_py() == 1


def test_rollup_sum_sponsor_big(benchmark: BenchmarkFixture, big_genealogy: Genealogy) -> None:
    values = pa.array(np.ones(len(big_genealogy), dtype=np.int64))
    result = benchmark(big_genealogy.rollup, values)
    assert result[0].as_py() == len(big_genealogy)


def test_leg_volumes_big(benchmark: BenchmarkFixture, big_genealogy: Genealogy) -> None:
    values = pa.array(np.ones(len(big_genealogy), dtype=np.int64))
    legs = benchmark(big_genealogy.leg_volumes, values)
    root = legs.slice(0, 1).to_pylist()[0]
    assert root["left"] + root["right"] == len(big_genealogy) - 1


@pytest.mark.benchmark(group="rollup-baselines")
def test_rollup_kernel(
    benchmark: BenchmarkFixture, baseline_genealogy: Genealogy, baseline_values: np.ndarray
) -> None:
    values = pa.array(baseline_values)
    result = benchmark(baseline_genealogy.rollup, values)
    parent = baseline_genealogy.sponsor_parent.to_pylist()
    order = baseline_genealogy.topological_order().to_pylist()
    assert result.to_pylist() == python_rollup(parent, baseline_values.tolist(), order)


@pytest.mark.benchmark(group="rollup-baselines")
def test_rollup_numpy_bincount(
    benchmark: BenchmarkFixture, baseline_genealogy: Genealogy, baseline_values: np.ndarray
) -> None:
    parent = baseline_genealogy.sponsor_parent.fill_null(-1).to_numpy()
    levels = numpy_levels(parent, baseline_genealogy.depth().to_numpy())
    result = benchmark(numpy_rollup, baseline_values, levels)
    assert np.array_equal(result, baseline_genealogy.rollup(baseline_values).to_numpy())


@pytest.mark.benchmark(group="rollup-baselines")
def test_rollup_pure_python(
    benchmark: BenchmarkFixture, baseline_genealogy: Genealogy, baseline_values: np.ndarray
) -> None:
    parent = baseline_genealogy.sponsor_parent.to_pylist()
    order = baseline_genealogy.topological_order().to_pylist()
    values = baseline_values.tolist()
    result = benchmark.pedantic(python_rollup, args=(parent, values, order), rounds=3, iterations=1)
    assert result == baseline_genealogy.rollup(baseline_values).to_pylist()


DUCKDB_ROLLUP = """
    WITH RECURSIVE up(member, ancestor) AS (
        SELECT row, parent FROM tree WHERE parent IS NOT NULL
        UNION ALL
        SELECT up.member, tree.parent FROM up JOIN tree ON tree.row = up.ancestor WHERE tree.parent IS NOT NULL)
    SELECT tree.row, tree.value + COALESCE(d.below, 0) AS total
    FROM tree LEFT JOIN (SELECT ancestor, SUM(value)::BIGINT AS below FROM up JOIN tree ON tree.row = up.member
                         GROUP BY ancestor) d ON d.ancestor = tree.row
    ORDER BY tree.row"""


def duckdb_rollup(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The SQL a DuckDB user writes: a recursive CTE of (member, ancestor) pairs, summed per ancestor."""
    return [r[1] for r in con.sql(DUCKDB_ROLLUP).fetchall()]


@pytest.mark.benchmark(group="rollup-baselines")
def test_rollup_duckdb_recursive_cte(
    benchmark: BenchmarkFixture, baseline_genealogy: Genealogy, baseline_values: np.ndarray
) -> None:
    con = duckdb.connect()
    tree = pa.table({"row": pa.array(np.arange(len(baseline_genealogy)), pa.int64()),
                     "parent": baseline_genealogy.sponsor_parent.cast(pa.int64()),
                     "value": pa.array(baseline_values, pa.int64())})
    con.register("tree", tree)
    result = benchmark.pedantic(duckdb_rollup, args=(con,), rounds=3, iterations=1)
    assert result == baseline_genealogy.rollup(baseline_values).to_pylist()


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np, pyarrow.parquet as pq
    from mlm_core import Genealogy, synth
    table = pq.read_table(sys.argv[1])
    def high_water_kb():
        # VmHWM: this process's peak resident set (ru_maxrss would include the parent's, kept over exec).
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    loaded_kb = high_water_kb()
    g = Genealogy.from_arrow(table)
    total = g.rollup(np.ones(len(g), dtype=np.int64))[0].as_py()
    peak_kb = high_water_kb()
    print(json.dumps({"members": len(g), "total": total, "loaded_kb": loaded_kb, "peak_kb": peak_kb}))
    """
)


def test_peak_memory_build_and_rollup(big_members: pa.Table, tmp_path: Path) -> None:
    """Peak RSS of a fresh process that reads the network, builds it and rolls it up (reported, with the
    resident size right after reading, in the benchmark output and MLM_BENCH_REPORT)."""
    path = tmp_path / "members.parquet"
    pq.write_table(big_members, path)
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["members"] == big_members.num_rows == figures["total"]
    assert figures["peak_kb"] >= figures["loaded_kb"]
    report = os.environ.get("MLM_BENCH_REPORT")
    if report:
        with open(report, "a") as fh:
            fh.write(json.dumps({"peak_memory": figures}) + "\n")
    print(f"\npeak RSS {figures['peak_kb'] / 1e6:.2f} GB (after reading {figures['loaded_kb'] / 1e6:.2f} GB)")
