"""Ingestion: a synthetic legacy members export (CSV) into the store, validated, against the baselines a user
would otherwise pick, in one run:

* ``duckdb_copy`` — DuckDB's own ``read_csv`` into a table, all text, no validation at all: the floor of
  "just load it";
* ``python_csv`` — the standard library ``csv`` module with per-row checks (leg, status, ISO date, ids
  known), on MLM_BENCH_INGEST_PYTHON_MEMBERS rows (default 20k), scaled per row.

    MLM_BENCH_INGEST_MEMBERS=10000000 MLM_BENCH_INGEST_PYTHON_MEMBERS=500000 \\
        .venv/bin/python -m pytest benches/test_ingest_bench.py --benchmark-enable \\
        --benchmark-columns=median,min,max,rounds

Peak memory of a whole migration is measured in a child process (``ru_maxrss``) and reported in
``extra_info``.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import Mapping, Migration, Store, audit, synth

MEMBERS = int(os.environ.get("MLM_BENCH_INGEST_MEMBERS", 200_000))
PYTHON_MEMBERS = int(os.environ.get("MLM_BENCH_INGEST_PYTHON_MEMBERS", 20_000))


def export(folder: Path, members: int) -> Path:
    synth.write_exports(folder, synth.network(members, seed=5), formats=("csv",))
    return synth.write_mapping(folder, orders=False)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("ingest"), MEMBERS)


@pytest.fixture(scope="module")
def legacy_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("ingest-small"), PYTHON_MEMBERS)


def _fresh(folder: Path) -> Path:
    db = folder / "store.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(db.name + ".backups"), ignore_errors=True)
    return db


@pytest.mark.benchmark(group="ingest")
def test_migrate_members(benchmark: BenchmarkFixture, legacy: Path) -> None:
    mapping = Mapping.from_toml(legacy)
    db = legacy.parent / "store.duckdb"

    def run() -> int:
        with Store(db) as store:
            return Migration(store, mapping).run()[0].rows_accepted

    accepted = benchmark.pedantic(run, setup=lambda: (_fresh(legacy.parent), None)[1], rounds=3, iterations=1)
    assert accepted == MEMBERS
    with Store(db) as store:
        report = audit(store)
        assert all(report.column("ok").to_pylist())
    benchmark.extra_info.update(members=MEMBERS, rows_per_s=round(MEMBERS / benchmark.stats.stats.median)
                                if benchmark.stats else None)


@pytest.mark.benchmark(group="ingest")
def test_duckdb_copy_baseline(benchmark: BenchmarkFixture, legacy: Path) -> None:
    db = legacy.parent / "baseline.duckdb"

    def run() -> int:
        db.unlink(missing_ok=True)
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE members AS SELECT * FROM read_csv(?, all_varchar = true)",
                    [str(legacy.parent / "members.csv")])
        n = con.execute("SELECT count(*) FROM members").fetchall()[0][0]
        con.close()
        return int(n)

    assert benchmark.pedantic(run, rounds=3, iterations=1) == MEMBERS
    benchmark.extra_info.update(members=MEMBERS)


def python_ingest(path: Path) -> int:
    """What a careful user writes with the standard library: read, check every field, keep the good rows."""
    good, seen = [], set()
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ok = (row["MemberID"] not in seen and row["Position"] in ("", "L", "R")
                  and row["Status"] in ("active", "inactive", "suspended", "terminated"))
            try:
                dt.date.fromisoformat(row["JoinDate"])
            except ValueError:
                ok = False
            if ok:
                seen.add(row["MemberID"])
                good.append(row)
    orphans = [r for r in good if r["EnrollerID"] and r["EnrollerID"] not in seen]
    return len(good) - len(orphans)


@pytest.mark.benchmark(group="ingest")
def test_python_csv_baseline(benchmark: BenchmarkFixture, legacy_small: Path) -> None:
    assert benchmark.pedantic(python_ingest, args=(legacy_small.parent / "members.csv",), rounds=3,
                              iterations=1) == PYTHON_MEMBERS
    benchmark.extra_info.update(members=PYTHON_MEMBERS)


PEAK = """
import sys
from mlm_core import Mapping, Migration, Store
with Store(sys.argv[2]) as store:
    Migration(store, Mapping.from_toml(sys.argv[1])).run()
# VmHWM, not ru_maxrss: ru_maxrss keeps the forking parent's high-water mark over exec, and a full benchmark
# run's parent holds gigabytes of fixtures.
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")))
"""


def test_peak_memory_of_a_migration(benchmark: BenchmarkFixture, legacy: Path) -> None:
    """One migration in a fresh child process (its time includes starting Python); the child's peak
    resident set (``VmHWM``, kB) goes to extra_info."""

    def child() -> int:
        db = _fresh(legacy.parent)
        out = subprocess.run([sys.executable, "-c", PEAK, str(legacy), str(db)], check=True, capture_output=True,
                             text=True)
        return int(out.stdout.strip().splitlines()[-1])

    peak_kb = benchmark.pedantic(child, rounds=1, iterations=1)
    assert peak_kb > 0
    benchmark.extra_info.update(members=MEMBERS, peak_rss_mb=round(peak_kb / 1024),
                                bytes_per_member=round(peak_kb * 1024 / MEMBERS))
