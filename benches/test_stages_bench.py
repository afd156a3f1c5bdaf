"""The parts of a period on their own, on the big network (MLM_BENCH_MEMBERS): each rollup (both trees,
every op; the leg volumes are test_leg_volumes_big), ranks alone (the example plan without its bonuses),
and each bonus of the example plan with the ranks (a plan holding only that bonus; matching needs the
binary it matches, so it is measured as binary + matching). Set against ``test_period_big`` in the same
run, they show where a period's time goes. Every benchmark asserts its result, so the suite is also a
test when timing is disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Genealogy, Plan, run_period
from mlm_core.plan import _to_toml, tomllib

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"
BONUSES = ("binary", "unilevel", "matching")


def _plan_with(kept: tuple[str, ...]) -> Plan:
    data: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())
    for name in BONUSES:
        if name not in kept:
            data.pop(name)
    return Plan.from_toml(_to_toml(data))


@pytest.mark.benchmark(group="rollups")
@pytest.mark.parametrize("tree", ["sponsor", "placement"])
@pytest.mark.parametrize("op", ["sum", "max", "count"])
def test_rollup(benchmark: BenchmarkFixture, big_genealogy: Genealogy,
                tree: str, op: str) -> None:
    # A small non-negative value per member, zeros included (count counts the non-zero ones).
    n = len(big_genealogy)
    values = np.arange(n, dtype=np.int64) % 7
    result = benchmark.pedantic(big_genealogy.rollup, args=(pa.array(values),),
                                kwargs={"tree": tree, "op": op}, rounds=5, iterations=1)
    root = result[0].as_py()
    expected = {"sum": int(values.sum()), "max": int(values.max()), "count": int(np.count_nonzero(values))}[op]
    assert root == expected  # the root's subtree is the whole (single-rooted) network


@pytest.mark.benchmark(group="period-stages")
@pytest.mark.parametrize("kept", [(), ("binary",), ("unilevel",), ("binary", "matching"), BONUSES],
                         ids=["ranks", "ranks+binary", "ranks+unilevel", "ranks+binary+matching", "full"])
def test_period_stage(benchmark: BenchmarkFixture, big_genealogy: Genealogy, big_volumes: pa.Table,
                      kept: tuple[str, ...]) -> None:
    plan = _plan_with(kept)
    result = benchmark.pedantic(run_period, args=(plan, big_genealogy, big_volumes),
                                kwargs={"period": "2026-11"}, rounds=5, iterations=1, warmup_rounds=1)
    # The stage's lines are exactly the full period's lines of the kept bonuses, and its ranks equal the
    # full period's: leaving a bonus out changes nothing else.
    full = run_period(_plan_with(BONUSES), big_genealogy, big_volumes, period="2026-11")
    assert result.ranks.column("paid_as_rank").equals(full.ranks.column("paid_as_rank"))
    assert set(result.lines.column("bonus").to_pylist()) <= set(kept)
    for name in kept:
        mine = result.lines.filter(pc.equal(result.lines.column("bonus"), name))
        theirs = full.lines.filter(pc.equal(full.lines.column("bonus"), name))
        assert mine.column("amount").equals(theirs.column("amount"))
        assert mine.column("member_id").cast(pa.string()).equals(theirs.column("member_id").cast(pa.string()))
