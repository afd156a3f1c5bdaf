"""Both cores against one: the genealogy build, one period and a reconciliation in a fresh process with
``RAYON_NUM_THREADS`` = 1 and 2 (rayon's pool is fixed per process), same inputs, same results asserted.
The benchmark times the whole process; its ``extra_info`` holds each stage's best of three."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"

STAGES = textwrap.dedent(
    """
    import json, sys, time, pyarrow.parquet as pq, pyarrow.compute as pc
    from mlm_core import Genealogy, Plan, reconcile, run_period
    members, volumes, plan = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2]), Plan.from_toml(sys.argv[3])
    def best(work):
        times, out = [], None
        for _ in range(3):
            start = time.perf_counter(); out = work(); times.append(time.perf_counter() - start)
        return min(times), out
    build, g = best(lambda: Genealogy.from_arrow(members))
    period, result = best(lambda: run_period(plan, g, volumes, period="p"))
    rec, r = best(lambda: reconcile(result.lines, result.lines))
    print(json.dumps({"build_s": build, "period_s": period, "reconcile_s": rec, "lines": result.lines.num_rows,
                      "paid": pc.sum(result.lines.column("amount")).as_py(), "go_live": r.go_live}))
    """
)


@pytest.fixture(scope="module")
def inputs(big_members: pa.Table, big_volumes: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cores")
    pq.write_table(big_members, folder / "members.parquet")
    pq.write_table(big_volumes, folder / "volumes.parquet")
    return folder / "members.parquet", folder / "volumes.parquet"


OUTCOMES: dict[int, dict[str, object]] = {}


@pytest.mark.benchmark(group="cores")
@pytest.mark.parametrize("threads", [1, 2])
def test_build_period_reconcile_threads(benchmark: BenchmarkFixture, inputs: tuple[Path, Path], threads: int) -> None:
    def once() -> dict[str, object]:
        out = subprocess.run([sys.executable, "-c", STAGES, str(inputs[0]), str(inputs[1]), str(EXAMPLE)],
                             capture_output=True, text=True, check=True, env={"RAYON_NUM_THREADS": str(threads),
                                                                               "PATH": "/usr/bin:/bin"})
        return dict(json.loads(out.stdout))

    figures = benchmark.pedantic(once, rounds=1, iterations=1)
    assert figures["go_live"] is True and int(str(figures["lines"])) > 0
    OUTCOMES[threads] = figures
    if len(OUTCOMES) == 2:  # the same lines and money whatever the thread count
        assert {k: OUTCOMES[1][k] for k in ("lines", "paid")} == {k: OUTCOMES[2][k] for k in ("lines", "paid")}
    benchmark.extra_info.update(threads=threads, **{k: v for k, v in figures.items() if k.endswith("_s")})
