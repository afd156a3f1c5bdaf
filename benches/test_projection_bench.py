"""The live projection (issue 11) on the big network (MLM_BENCH_MEMBERS; 10M in a measurement run).

- ``live-apply``: ``apply`` of order events in batches of 10,000, against what a service would write
  otherwise: a pure-Python loop (a set of event ids, a dict of sums) and DuckDB (``INSERT OR IGNORE`` into
  a table keyed by event id); and the projection with a :class:`~mlm_core.Store` as its log.
- ``live-load``: readers ask ``member()`` while a writer applies 100,000 events per second (batches of
  10,000 every 0.1 s) and the recomputing thread publishes. Recorded beside the run: member() latency
  percentiles, the writer's achieved rate, and freshness (for each answer, how old the oldest applied
  event it does not reflect is; the target is that every answer reflects all events applied > 2 s before).
- ``live-snapshot``: ``snapshot()`` against one ``run_period`` over the same volumes.

Each asserts its result (sums, idempotency, lines equal to run_period's).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Genealogy, Plan, Store, run_period, synth
from mlm_core.projection import Projection

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"
BATCH = 10_000
PER_ROUND = 10  # batches per timed round: 100,000 events
LOAD_SECONDS = float(os.environ.get("MLM_BENCH_LIVE_SECONDS", 3))
PYTHON_BATCHES = 3


@pytest.fixture(scope="module")
def plan() -> Plan:
    return Plan.from_toml(EXAMPLE)


def _orders(ids: pa.Array, batches: int, seed: int, prefix: str, columns: tuple[str, ...] = ()) -> list[pa.Table]:
    """Batches of random orders (string event ids, one kind column, PV 0.01-200.00, BV 80% of PV, and
    each of ``columns`` 0-50.00)."""
    rng = np.random.default_rng(seed)
    out = []
    kind = pa.array(["order"] * BATCH)
    for b in range(batches):
        pv = rng.integers(1, 20_000, BATCH)
        event_id = pc.binary_join_element_wise(f"{prefix}{b}-", pa.array(np.arange(BATCH)).cast(pa.string()), "")
        extra = {c: pa.array(rng.integers(0, 5_000, BATCH)) for c in columns}
        out.append(pa.table({"event_id": event_id, "kind": kind,
                             "member_id": ids.take(pa.array(rng.integers(0, len(ids), BATCH))),
                             "pv": pa.array(pv), "bv": pa.array(pv * 4 // 5), **extra}))
    return out


def _sum(batches: list[pa.Table], column: str) -> int:
    return sum(pc.sum(b.column(column)).as_py() for b in batches)


def _timed_apply(benchmark: BenchmarkFixture, apply: object, batches: list[pa.Table], rounds: int) -> list[pa.Table]:
    """Times ``apply`` over groups of PER_ROUND batches; returns the batches it applied (all of them, or
    one group when benchmarks are disabled)."""
    queue = iter([batches[i:i + PER_ROUND] for i in range(0, len(batches), PER_ROUND)])
    done: list[pa.Table] = []

    def setup() -> tuple[tuple[list[pa.Table]], dict[str, object]]:
        group = next(queue)
        done.extend(group)
        return (group,), {}

    benchmark.pedantic(apply, setup=setup, rounds=rounds, iterations=1)
    benchmark.extra_info.update(rows=BATCH * PER_ROUND, batch=BATCH)
    if benchmark.stats is not None:  # None when benchmarks are disabled (CI runs each once)
        benchmark.extra_info["events_per_s"] = round(BATCH * PER_ROUND / benchmark.stats.stats.median)
    return done


@pytest.mark.benchmark(group="live-apply")
def test_apply_orders(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy) -> None:
    rounds = 12
    batches = _orders(big_genealogy.member_ids, PER_ROUND * rounds, seed=1, prefix="a")
    live = Projection(plan, big_genealogy, period="2026-12")

    def apply(group: list[pa.Table]) -> None:
        for batch in group:
            live.apply(batch)

    batches = _timed_apply(benchmark, apply, batches, rounds)
    assert live.seq == len(batches) * BATCH and live.rejected.num_rows == 0
    sums = live._core.inputs()["sums"]
    assert pc.sum(sums[0]).as_py() == _sum(batches, "pv") and pc.sum(sums[1]).as_py() == _sum(batches, "bv")
    assert live.apply(batches[0]) == live.seq  # every event again: no-ops


@pytest.mark.benchmark(group="live-apply")
def test_apply_orders_with_store(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy,
                                 tmp_path: Path) -> None:
    rounds = 5
    batches = _orders(big_genealogy.member_ids, PER_ROUND * rounds, seed=2, prefix="s")
    with Store(tmp_path / "live.duckdb") as store:
        live = Projection(plan, big_genealogy, period="2026-12", store=store)

        def apply(group: list[pa.Table]) -> None:
            for batch in group:
                live.apply(batch)

        batches = _timed_apply(benchmark, apply, batches, rounds)
        assert live.seq == len(batches) * BATCH
        stored = store._db.execute("SELECT count(*) FROM projection_batches").fetchall()[0][0]
        assert stored == len(batches)


@pytest.mark.benchmark(group="live-apply")
def test_apply_orders_python_dict(benchmark: BenchmarkFixture, big_genealogy: Genealogy) -> None:
    """The pure-Python service: a set of event ids for idempotency and a dict of per-member sums."""
    batches = _orders(big_genealogy.member_ids, PER_ROUND * PYTHON_BATCHES, seed=3, prefix="p")
    seen: set[str] = set()
    pv: dict[str, int] = {}
    bv: dict[str, int] = {}

    def apply(group: list[pa.Table]) -> None:
        for batch in group:
            for event_id, member, p, b in zip(*(batch.column(c).to_pylist() for c in
                                                 ("event_id", "member_id", "pv", "bv")), strict=True):
                if event_id in seen:
                    continue
                seen.add(event_id)
                pv[member] = pv.get(member, 0) + p
                bv[member] = bv.get(member, 0) + b

    batches = _timed_apply(benchmark, apply, batches, PYTHON_BATCHES)
    assert sum(pv.values()) == _sum(batches, "pv") and len(seen) == len(batches) * BATCH


@pytest.mark.benchmark(group="live-apply")
def test_apply_orders_duckdb(benchmark: BenchmarkFixture, big_genealogy: Genealogy) -> None:
    """DuckDB as the live store: events inserted into a table keyed by event id (repeats ignored)."""
    batches = _orders(big_genealogy.member_ids, PER_ROUND * PYTHON_BATCHES, seed=4, prefix="d")
    db = duckdb.connect()
    db.execute("CREATE TABLE events (event_id VARCHAR PRIMARY KEY, kind VARCHAR, member_id VARCHAR, pv BIGINT, "
               "bv BIGINT)")

    def apply(group: list[pa.Table]) -> None:
        for batch in group:
            db.register("batch", batch)
            db.execute("INSERT OR IGNORE INTO events SELECT * FROM batch")
            db.unregister("batch")

    batches = _timed_apply(benchmark, apply, batches, PYTHON_BATCHES)
    assert db.execute("SELECT sum(pv) FROM events").fetchall()[0][0] == _sum(batches, "pv")


def _load(benchmark: BenchmarkFixture, plan: Plan, genealogy: Genealogy, seconds: float,
          floor: bool = False) -> dict[str, float]:
    """Two paced reader threads (one member() call every 0.5 ms each) beside a writer at 100,000 events/s
    and the recomputing thread, for ``seconds``; returns what was measured. ``floor``: the readers make
    the cheapest kernel call instead (the published view's sequence number), to show what this machine
    allows a call under the same load."""
    ticks = int(seconds * 10) + 1
    batches = _orders(genealogy.member_ids, ticks, seed=5, prefix="w", columns=plan.volume_columns[2:])
    live = Projection(plan, genealogy, period="2026-12")
    live.refresh()
    ids = genealogy.member_ids.take(pa.array(np.random.default_rng(6).integers(0, len(genealogy),
                                                                               100_000))).to_pylist()
    applied: list[tuple[float, int]] = []  # (time the batch was applied, seq after it)
    samples: list[list[tuple[float, float, int]]] = [[], []]  # (call start, latency s, as_of)
    refreshes: list[float] = []
    stop = threading.Event()

    def write() -> None:
        start = time.perf_counter()
        for k, batch in enumerate(batches):
            wait = start + k * 0.1 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            seq = live.apply(batch)
            applied.append((time.perf_counter(), seq))
        stop.set()

    def read(out: list[tuple[float, float, int]], offset: int) -> None:
        i = offset
        while not stop.is_set():
            member = ids[i % len(ids)]
            i += 1
            t0 = time.perf_counter()
            as_of = live._core.view_seq() if floor else live.member(member)["as_of"]
            out.append((t0, time.perf_counter() - t0, as_of))
            time.sleep(0.0005)

    def watch() -> None:  # when each new view was published
        seen = live._core.view_seq()
        while not stop.is_set():
            now = live._core.view_seq()
            if now != seen:
                refreshes.append(time.perf_counter())
                seen = now
            time.sleep(0.005)

    def run() -> None:
        with live.start():
            threads = [threading.Thread(target=read, args=(samples[k], k * 50_000)) for k in range(2)]
            threads += [threading.Thread(target=write), threading.Thread(target=watch)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

    benchmark.pedantic(run, rounds=1, iterations=1)
    calls = sorted(samples[0] + samples[1])
    latency = np.array([s[1] for s in calls])
    # Freshness: for each answer, the age of the oldest applied batch it does not reflect (0 if none).
    times = np.array([a[0] for a in applied])
    seqs = np.array([a[1] for a in applied])
    ages = []
    for t0, _, as_of in calls:
        missing = np.flatnonzero((seqs > as_of) & (times <= t0))
        ages.append(t0 - times[missing[0]] if len(missing) else 0.0)
    age = np.array(ages)
    span = applied[-1][0] - applied[0][0] if len(applied) > 1 else float("nan")
    assert len(calls) > 0 and live.seq == ticks * BATCH
    live.refresh()
    assert live.member(ids[0])["as_of"] == live.seq
    cycle = np.diff(refreshes) if len(refreshes) > 1 else np.array([float("nan")])
    return {
        "members": len(genealogy), "calls": len(calls),
        "member_p50_us": round(float(np.percentile(latency, 50)) * 1e6, 1),
        "member_p99_us": round(float(np.percentile(latency, 99)) * 1e6, 1),
        "member_p999_us": round(float(np.percentile(latency, 99.9)) * 1e6, 1),
        "member_max_us": round(float(latency.max()) * 1e6, 1),
        "writer_events_per_s": round((len(applied) - 1) * BATCH / span) if len(applied) > 1 else 0,
        "recompute_cycle_median_s": round(float(np.median(cycle)), 3),
        "staleness_p50_s": round(float(np.percentile(age, 50)), 3),
        "staleness_p99_s": round(float(np.percentile(age, 99)), 3),
        "staleness_max_s": round(float(age.max()), 3),
        "answers_fresh_within_2s_pct": round(100 * float((age <= 2.0).mean()), 2),
        "views_updated": live.refreshes["updated"], "views_whole": live.refreshes["whole"],
    }


@pytest.mark.benchmark(group="live-load")
def test_member_under_a_writer(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy) -> None:
    benchmark.extra_info.update(_load(benchmark, plan, big_genealogy, LOAD_SECONDS))


@pytest.mark.benchmark(group="live-load")
def test_member_under_a_writer_floor(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy) -> None:
    """The same load with readers that only read the published view's sequence number: the latency any
    call from a paced Python thread sees here, beside the writer and the recomputation."""
    benchmark.extra_info.update(_load(benchmark, plan, big_genealogy, LOAD_SECONDS, floor=True))


@pytest.mark.benchmark(group="live-load")
def test_member_under_a_writer_plan_v2(benchmark: BenchmarkFixture, big_genealogy: Genealogy) -> None:
    """The same load on plan v2 (pay per pair with pair caps by tier, a differential, a rebate; orders
    carry its three declared columns)."""
    plan_v2 = Plan.from_toml(EXAMPLE.with_name("example-plan-v2.toml"))
    benchmark.extra_info.update(_load(benchmark, plan_v2, big_genealogy, LOAD_SECONDS))


LIVE_SCALING = [int(x) for x in os.environ.get("MLM_BENCH_LIVE_SCALING", "").split(",") if x]


@pytest.mark.skipif(not LIVE_SCALING, reason="set MLM_BENCH_LIVE_SCALING=1000000,2000000,5000000")
@pytest.mark.parametrize("members", LIVE_SCALING)
@pytest.mark.benchmark(group="live-load-scaling")
def test_member_under_a_writer_scaling(benchmark: BenchmarkFixture, plan: Plan, members: int) -> None:
    """The same load on smaller networks: where freshness within 2 s holds on this machine."""
    genealogy = Genealogy.from_arrow(synth.network(members, seed=3))
    benchmark.extra_info.update(_load(benchmark, plan, genealogy, LOAD_SECONDS))


@pytest.fixture(scope="module")
def loaded(plan: Plan, big_genealogy: Genealogy, big_volumes: pa.Table) -> Projection:
    """A projection holding the big network's period volumes as events: per member an order of its
    positive rows and a return of its negative ones."""
    rows = big_genealogy._rows_of(big_volumes.column("member_id"), "volumes").to_numpy()
    n = len(big_genealogy)
    live = Projection(plan, big_genealogy, period="2026-11")
    sums = {c: big_volumes.column(c).to_numpy() for c in ("pv", "bv")}
    for kind, sign in (("order", 1), ("return", -1)):
        part = {c: np.zeros(n, dtype=np.int64) for c in sums}
        for c, values in sums.items():
            np.add.at(part[c], rows, np.maximum(sign * values, 0))
        members = np.flatnonzero(part["pv"] | part["bv"])
        for start in range(0, len(members), 1_000_000):
            at = members[start:start + 1_000_000]
            ids = pc.binary_join_element_wise(f"{kind}-", pa.array(at).cast(pa.string()), "")
            live.apply(pa.table({"event_id": ids, "kind": pa.array([kind] * len(at)),
                                 "member_id": big_genealogy.member_ids.take(pa.array(at)),
                                 "pv": pa.array(part["pv"][at]), "bv": pa.array(part["bv"][at])}))
            assert live.rejected.num_rows == 0
    return live


@pytest.mark.benchmark(group="live-snapshot")
def test_snapshot(benchmark: BenchmarkFixture, loaded: Projection, plan: Plan, big_genealogy: Genealogy,
                  big_volumes: pa.Table) -> None:
    """snapshot() after one more event (the cache does not answer): the exact period of the live state."""
    member = big_genealogy.member_ids[0].as_py()
    count = iter(range(10**6))

    def setup() -> tuple[tuple[()], dict[str, object]]:
        k = next(count)
        loaded.apply(pa.table({"event_id": [f"extra-{k}"], "kind": ["order"], "member_id": [member],
                               "pv": [0], "bv": [0]}))
        return (), {}

    result = benchmark.pedantic(loaded.snapshot, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    expected = run_period(plan, big_genealogy, big_volumes, period="2026-11")
    assert result.lines.equals(expected.lines) and result.summary.equals(expected.summary)
    benchmark.extra_info.update(members=len(big_genealogy))


@pytest.mark.benchmark(group="live-snapshot")
def test_run_period_same_volumes(benchmark: BenchmarkFixture, plan: Plan, big_genealogy: Genealogy,
                                 big_volumes: pa.Table) -> None:
    result = benchmark.pedantic(run_period, args=(plan, big_genealogy, big_volumes), kwargs={"period": "2026-11"},
                                rounds=5, iterations=1, warmup_rounds=1)
    assert result.lines.num_rows > 0
    benchmark.extra_info.update(members=len(big_genealogy))
