"""benches/results.py renders a pytest-benchmark run: ratios within each group, the README between markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_results", Path(__file__).resolve().parent.parent / "benches"
                                              / "results.py")
assert SPEC is not None and SPEC.loader is not None
results = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(results)

RUN = {
    "datetime": "2026-12-01T12:00:00", "machine_info": {"cpu": {"brand_raw": "AMD EPYC", "count": 2}},
    "benchmarks": [
        {"name": "test_rollup_kernel", "group": "rollup-baselines", "extra_info": {},
         "stats": {"median": 0.002, "min": 0.001, "max": 0.003, "rounds": 9}},
        {"name": "test_rollup_pure_python", "group": "rollup-baselines", "extra_info": {},
         "stats": {"median": 0.5, "min": 0.4, "max": 0.6, "rounds": 3}},
        {"name": "test_seal", "group": None, "extra_info": {},
         "stats": {"median": 3.0, "min": 2.5, "max": 3.5, "rounds": 3}},
        {"name": "test_seal_kernel", "group": "ledger", "extra_info": {"rows": 10_000_000},
         "stats": {"median": 4.0, "min": 3.5, "max": 4.5, "rounds": 5}},
        {"name": "test_hashlib", "group": "ledger", "extra_info": {"rows": 500_000},
         "stats": {"median": 2.0, "min": 1.9, "max": 2.1, "rounds": 3}},
    ],
}


def test_ratios_are_within_a_group() -> None:
    by_name = {r["name"]: r for r in results.rows(RUN)}
    assert by_name["test_rollup_kernel"]["ratio"] == 1.0
    assert by_name["test_rollup_pure_python"]["ratio"] == pytest.approx(250.0)
    assert by_name["test_seal"]["group"] == "test_seal" and by_name["test_seal"]["ratio"] == 1.0
    # Different row counts: per row, hashlib's 4 µs against the kernel's 0.4 µs.
    assert by_name["test_hashlib"]["ratio"] == pytest.approx(10.0) and by_name["test_hashlib"]["per"] == "row"
    assert by_name["test_rollup_pure_python"]["per"] == "run"


def test_results_md_and_readme_markers(tmp_path: Path) -> None:
    text = results.results_md(RUN, {"python": "3.11"}, {"MLM_BENCH_MEMBERS": "10"})
    assert "| rollup-baselines | `test_rollup_pure_python` |  | 500.0 ms | 400.0 ms | 600.0 ms | 3 |  | 250.0 (run) |" \
        in text
    assert "| ledger | `test_hashlib` | 500000 | 2.00 s | 1.90 s | 2.10 s | 3 | 4,000 ns | 10.0 (row) |" in text
    assert "AMD EPYC, 2 logical cores" in text and "`MLM_BENCH_MEMBERS=10`" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{results.BEGIN}\nold\n{results.END}\nafter\n", encoding="utf-8")
    results.update_readme(readme, results.readme_table(RUN))
    out = readme.read_text(encoding="utf-8")
    assert out.startswith("before\n") and out.endswith("after\n") and "old" not in out
    assert "| `test_seal` |  | 3.00 s | 1.0 (run) |" in out
    assert "| `test_hashlib` | 500,000 | 2.00 s | 10.0 (row) |" in out
    readme.write_text("no markers", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        results.update_readme(readme, "x")


def test_the_live_figures_are_rendered_between_their_markers(tmp_path: Path) -> None:
    run = {"benchmarks": [
        {"name": "test_apply_orders", "group": "live-apply", "extra_info": {"rows": 100_000, "batch": 10_000,
                                                                             "events_per_s": 2_000_000},
         "stats": {"median": 0.05, "min": 0.04, "max": 0.06, "rounds": 12}},
        {"name": "test_member_under_a_writer", "group": "live-load", "stats": {"median": 20, "min": 20, "max": 20,
                                                                               "rounds": 1},
         "extra_info": {"members": 10_000_000, "writer_events_per_s": 100_000, "member_p50_us": 14.0,
                        "member_p99_us": 45.0, "member_max_us": 700.0, "recompute_cycle_median_s": 1.5,
                        "staleness_p50_s": 1.6, "staleness_max_s": 3.1, "answers_fresh_within_2s_pct": 70.0}},
        {"name": "test_snapshot", "group": "live-snapshot", "extra_info": {"members": 10_000_000},
         "stats": {"median": 1.9, "min": 1.8, "max": 2.0, "rounds": 5}},
    ]}
    table = results.live_table(run)
    assert "| `test_apply_orders` (batches of 10,000) | | 2,000,000 events/s |" in table
    assert "p99 45.0 µs" in table and "staleness p50 1.6 s, max 3.1 s" in table and "70.0% of answers" in table
    assert "| `test_snapshot` | 10,000,000 | median 1.90 s |" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"{results.BEGIN}\n{results.END}\nx\n{results.LIVE_BEGIN}\nstale-text\n{results.LIVE_END}\ny\n",
                      encoding="utf-8")
    results.update_readme(readme, "table", table)
    out = readme.read_text(encoding="utf-8")
    assert "stale-text" not in out and "2,000,000 events/s" in out and out.endswith("y\n")
