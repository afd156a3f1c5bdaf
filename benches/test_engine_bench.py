"""One commission period of example-plan.toml: the big network (median, genealogy built), a scaling
series, peak memory, and the engine against the pure-Python reference on the same small company.

Sizes: MLM_BENCH_MEMBERS (big network), MLM_BENCH_SCALING (comma-separated sizes for the series, default
none), MLM_BENCH_REFERENCE_MEMBERS (the reference comparison, default 2000; the issue measures 100000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Genealogy, Plan, run_period, synth

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"


def _reference() -> object:
    """The pure-Python reference of the tests (tests/reference_engine.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import reference_engine

    return reference_engine


@pytest.fixture(scope="session")
def plan() -> Plan:
    return Plan.from_toml(EXAMPLE)


def _check(result: object, volumes: pa.Table) -> None:
    lines, summary = result.lines, result.summary  # type: ignore[attr-defined]
    total = summary.filter(pc.equal(summary.column("bonus"), "total")).to_pylist()[0]
    assert total["paid"] == pc.sum(lines.column("amount")).as_py()
    assert total["total_bv"] == pc.sum(volumes.column("bv")).as_py()


@pytest.mark.benchmark(group="period")
def test_period_big(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy, big_volumes: pa.Table) -> None:
    result = benchmark.pedantic(run_period, args=(plan, big_genealogy, big_volumes),
                                kwargs={"period": "2026-11"}, rounds=7, iterations=1, warmup_rounds=1)
    _check(result, big_volumes)


SCALING = [int(x) for x in os.environ.get("MLM_BENCH_SCALING", "").split(",") if x]


@pytest.mark.skipif(not SCALING, reason="set MLM_BENCH_SCALING=1000000,2000000,5000000,10000000")
@pytest.mark.parametrize("members", SCALING)
@pytest.mark.benchmark(group="period-scaling")
def test_period_scaling(benchmark: BenchmarkFixture, plan: Plan, members: int) -> None:
    company = synth.network(members, seed=3)
    volumes = synth.volumes(company, seed=3).select(["member_id", "pv", "bv"])
    genealogy = Genealogy.from_arrow(company)
    result = benchmark.pedantic(run_period, args=(plan, genealogy, volumes), kwargs={"period": "p"},
                                rounds=3, iterations=1, warmup_rounds=1)
    _check(result, volumes)
    benchmark.extra_info.update(rows=members)


BUILD_PEAK = textwrap.dedent(
    """
    import json, sys, pyarrow.parquet as pq
    from mlm_core import Genealogy, Plan, run_period
    from mlm_core import synth
    members = int(sys.argv[1])
    company = synth.network(members, seed=3)
    volumes = synth.volumes(company, seed=3).select(["member_id", "pv", "bv"])
    def high_water_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    inputs_kb = high_water_kb()
    result = run_period(Plan.from_toml(sys.argv[2]), Genealogy.from_arrow(company), volumes, period="p")
    print(json.dumps({"lines": result.lines.num_rows, "inputs_kb": inputs_kb, "peak_kb": high_water_kb()}))
    """
)


@pytest.mark.skipif(not SCALING, reason="set MLM_BENCH_SCALING=1000000,2000000,5000000,10000000")
@pytest.mark.parametrize("members", SCALING)
@pytest.mark.benchmark(group="build-scaling")
def test_build_scaling_and_peak_memory(benchmark: BenchmarkFixture, members: int) -> None:
    """The build at each size, and (a fresh process) the peak memory of inputs + build + one period: its
    bytes per member beyond the inputs go to extra_info."""
    company = synth.network(members, seed=3)
    genealogy = benchmark.pedantic(Genealogy.from_arrow, args=(company,), rounds=3, iterations=1)
    assert len(genealogy) == members
    del genealogy, company
    out = subprocess.run([sys.executable, "-c", BUILD_PEAK, str(members), str(EXAMPLE)], capture_output=True,
                         text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["lines"] > 0
    benchmark.extra_info.update(rows=members, peak_mb=figures["peak_kb"] // 1024,
                                inputs_mb=figures["inputs_kb"] // 1024,
                                bytes_per_member_build_and_period=(figures["peak_kb"] - figures["inputs_kb"]) * 1024
                                // members)


REFERENCE_MEMBERS = int(os.environ.get("MLM_BENCH_REFERENCE_MEMBERS", 2000))


@pytest.fixture(scope="session")
def reference_company() -> tuple[pa.Table, pa.Table]:
    company = synth.network(REFERENCE_MEMBERS, seed=5)
    return company, synth.volumes(company, seed=5).select(["member_id", "pv", "bv"])


def _lines(result: object) -> list[tuple[str, str, int]]:
    return [(x["member_id"], x["bonus"], x["amount"]) for x in result.lines.to_pylist()]  # type: ignore[attr-defined]


@pytest.mark.benchmark(group="period-vs-reference")
def test_period_engine_small(benchmark: BenchmarkFixture, plan: Plan,
                             reference_company: tuple[pa.Table, pa.Table]) -> None:
    company, volumes = reference_company
    genealogy = Genealogy.from_arrow(company)
    result = benchmark(run_period, plan, genealogy, volumes, period="p")
    assert _lines(result)


@pytest.mark.benchmark(group="period-vs-reference")
def test_period_python_reference(benchmark: BenchmarkFixture, plan: Plan,
                                 reference_company: tuple[pa.Table, pa.Table]) -> None:
    company, volumes = reference_company
    members = company.select(["member_id", "sponsor_id", "placement_id", "leg", "status"]).to_pylist()
    rows = volumes.select(["member_id", "pv", "bv"]).to_pylist()
    ref = _reference()
    plan_dict = ref.load_plan(EXAMPLE)  # type: ignore[attr-defined]
    expected = benchmark.pedantic(
        ref.run_period_reference,  # type: ignore[attr-defined]
        args=(plan_dict, members, rows, None), rounds=1, iterations=1,
    )
    ours = run_period(plan, Genealogy.from_arrow(company), volumes, period="p")
    assert _lines(ours) == list(expected["lines"])


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, pyarrow.parquet as pq
    from mlm_core import Genealogy, Plan, run_period
    members = pq.read_table(sys.argv[1])
    volumes = pq.read_table(sys.argv[2], columns=["member_id", "pv", "bv"])  # what run_period reads
    plan = Plan.from_toml(sys.argv[3])
    def high_water_kb():
        # VmHWM: this process's peak resident set (ru_maxrss would include the parent's, kept over exec).
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    loaded_kb = high_water_kb()
    result = run_period(plan, Genealogy.from_arrow(members), volumes, period="p")
    peak_kb = high_water_kb()
    print(json.dumps({"lines": result.lines.num_rows, "loaded_kb": loaded_kb, "peak_kb": peak_kb}))
    """
)


def test_peak_memory_period(big_members: pa.Table, big_volumes: pa.Table, tmp_path: Path) -> None:
    """Peak RSS of a fresh process that reads the company, builds it and runs one period."""
    members_path, volumes_path = tmp_path / "members.parquet", tmp_path / "volumes.parquet"
    pq.write_table(big_members, members_path)
    pq.write_table(big_volumes, volumes_path)
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(members_path), str(volumes_path), str(EXAMPLE)],
                         capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["lines"] > 0 and figures["peak_kb"] >= figures["loaded_kb"]
    print(f"\nperiod peak RSS {figures['peak_kb'] / 1e6:.2f} GB (after reading {figures['loaded_kb'] / 1e6:.2f} GB)")
