"""Plan version 2: example-plan-v2.toml on the big network (packages, tiers, hand-set ranks), and the
differential bonus on a deep chain with few ranked members (its walk must not cost members x depth).

Sizes: MLM_BENCH_MEMBERS (big network), MLM_BENCH_CHAIN_MEMBERS (chain, default 200k; the issue measures
1000000)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Genealogy, Plan, run_period, synth

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"


@pytest.mark.benchmark(group="period-v2")
def test_period_v2_big(benchmark: BenchmarkFixture, big_members: pa.Table, big_genealogy: Genealogy) -> None:
    plan = Plan.from_toml(SPEC / "example-plan-v2.toml")
    orders = synth.package_orders(big_members, seed=7)
    attributes = synth.attributes(big_members, seed=7)
    result = benchmark.pedantic(run_period, args=(plan, big_genealogy, orders),
                                kwargs={"period": "2026-11", "attributes": attributes},
                                rounds=5, iterations=1, warmup_rounds=1)
    total = result.summary.filter(pc.equal(result.summary.column("bonus"), "total")).to_pylist()[0]
    assert total["paid"] == pc.sum(result.lines.column("amount")).as_py() > 0


CHAIN = int(os.environ.get("MLM_BENCH_CHAIN_MEMBERS", 200_000))
DIFFERENTIAL = """
[[ranks]]
name = "Associate"
assigned = true
[[ranks]]
name = "Director"
assigned = true
[[bonus]]
name = "match"
type = "differential"
rate_bp_by_rank = { Associate = 2500, Director = 10000 }
requires_active = false
"""


@pytest.mark.benchmark(group="differential-chain")
def test_differential_on_a_deep_chain(benchmark: BenchmarkFixture) -> None:
    chain = synth.chain(CHAIN, id_kind="int")
    genealogy = Genealogy.from_arrow(chain)
    # Every member buys; one member in 100,000 holds a rank: without rate-level pointers every walk would
    # climb the whole chain above it.
    ranked = np.arange(0, CHAIN, 100_000)
    attributes = pa.table({"member_id": chain.column("member_id").take(pa.array(ranked)),
                           "rank_override": ["Associate"] * (len(ranked) - 1) + ["Director"]})
    volumes = pa.table({"member_id": chain.column("member_id"), "pv": np.zeros(CHAIN, dtype=np.int64),
                        "bv": np.full(CHAIN, 10_000, dtype=np.int64)})
    plan = Plan.from_toml(DIFFERENTIAL)
    result = benchmark.pedantic(run_period, args=(plan, genealogy, volumes),
                                kwargs={"period": "p", "attributes": attributes}, rounds=3, iterations=1)
    # Row 0 is the top. Members below the Director (the deepest ranked row) pay it 100% of their BV;
    # members 1..Director see only Associates above them (equal rates raise nothing): 25% each.
    director = int(ranked[-1])
    paid = pc.sum(result.lines.column("amount")).as_py()
    assert paid == (CHAIN - 1 - director) * 10_000 + director * 2_500
