"""reconcile against a hand-checked example, a dictionary-based reference, and the engine's own lines."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlm_core
from mlm_core import InputError, reconcile, synth
from mlm_core.errors import AmountOverflowError


def lines(rows: list[tuple[str, str, str, int]]) -> pa.Table:
    return pa.table({"period": [r[0] for r in rows], "member_id": [r[1] for r in rows],
                     "bonus": [r[2] for r in rows], "amount": pa.array([r[3] for r in rows], pa.int64())})


def test_hand_checked_parallel_run() -> None:
    legacy = lines([("2026-10", "A", "binary", 1000), ("2026-10", "B", "unilevel", 90),
                    ("2026-11", "A", "binary", 700), ("2026-11", "A", "binary", 300),   # detail lines: 1000
                    ("2026-11", "B", "unilevel", 91), ("2026-11", "C", "matching", 0),
                    ("2026-11", "D", "matching", 40)])
    ours = lines([("2026-10", "A", "binary", 1000), ("2026-10", "B", "unilevel", 90),
                  ("2026-11", "A", "binary", 1000), ("2026-11", "B", "unilevel", 90),
                  ("2026-11", "E", "unilevel", 5)])
    r = reconcile(legacy, ours)
    assert [(p["period"], p["member_id"], p["bonus"], p["legacy_amount"], p["our_amount"], p["difference"],
             p["status"]) for p in r.pairs.to_pylist()] == [
        ("2026-10", "A", "binary", 1000, 1000, 0, "match"),
        ("2026-10", "B", "unilevel", 90, 90, 0, "match"),
        ("2026-11", "A", "binary", 1000, 1000, 0, "match"),
        ("2026-11", "B", "unilevel", 91, 90, -1, "amount_differs"),
        ("2026-11", "C", "matching", 0, None, 0, "match"),          # a zero line on one side only
        ("2026-11", "D", "matching", 40, None, -40, "only_legacy"),
        ("2026-11", "E", "unilevel", None, 5, 5, "only_ours"),
    ]
    assert r.periods.to_pylist() == [
        {"period": "2026-10", "verdict": "match", "pairs": 2, "differing": 0, "legacy_total": 1090,
         "our_total": 1090},
        {"period": "2026-11", "verdict": "differs", "pairs": 5, "differing": 3, "legacy_total": 1131,
         "our_total": 1095}]
    assert not r.go_live
    nov = [t for t in r.totals.to_pylist() if t["period"] == "2026-11"]
    assert [(t["bonus"], t["legacy_total"], t["our_total"], t["amount_differs"], t["only_legacy"], t["only_ours"])
            for t in nov] == [("binary", 1000, 1000, 0, 0, 0), ("matching", 40, 0, 0, 1, 0),
                              ("unilevel", 91, 95, 1, 0, 1)]
    assert [(d["member_id"], d["difference"]) for d in r.differences().to_pylist()] == [
        ("D", -40), ("E", 5), ("B", -1)]
    assert reconcile(legacy.slice(0, 2), ours.slice(0, 2)).go_live


def reference(legacy: list[tuple[str, str, str, int]], ours: list[tuple[str, str, str, int]]
              ) -> dict[tuple[str, str, str], tuple[int | None, int | None, str]]:
    sums: list[dict[tuple[str, str, str], int]] = [defaultdict(int), defaultdict(int)]
    for side, rows in ((0, legacy), (1, ours)):
        for p, m, b, a in rows:
            sums[side][(p, m, b)] += a
    out = {}
    for key in set(sums[0]) | set(sums[1]):
        lv, ov = sums[0].get(key), sums[1].get(key)
        status = ("match" if (lv or 0) == (ov or 0) else "only_ours" if lv is None else
                  "only_legacy" if ov is None else "amount_differs")
        out[key] = (lv, ov, status)
    return out


row = st.tuples(st.sampled_from(["2026-10", "2026-11"]), st.sampled_from(["A", "B", "C", "ü"]),
                st.sampled_from(["binary", "unilevel"]), st.integers(-(2**40), 2**40))


@settings(max_examples=80, deadline=None)
@given(st.lists(row, max_size=25), st.lists(row, max_size=25))
def test_matches_a_dictionary_reference(legacy: list[tuple[str, str, str, int]],
                                        ours: list[tuple[str, str, str, int]]) -> None:
    r = reconcile(lines(legacy), lines(ours))
    got = {(p["period"], p["member_id"], p["bonus"]): (p["legacy_amount"], p["our_amount"], p["status"])
           for p in r.pairs.to_pylist()}
    assert got == reference(legacy, ours)
    assert len(got) == r.pairs.num_rows  # one row per key
    periods = {p for p, _, _, _ in legacy + ours}
    expect_verdict = {p: all(s == "match" for (q, _, _), (_, _, s) in got.items() if q == p) for p in periods}
    assert {p["period"]: p["verdict"] == "match" for p in r.periods.to_pylist()} == expect_verdict
    assert r.go_live == (bool(periods) and all(expect_verdict.values()))


def encoded(table: pa.Table, how: str) -> pa.Table:
    """The same lines with their key columns as large_string, dictionary-encoded, or in several chunks."""
    if how == "large":
        return table.cast(pa.schema([pa.field(f.name, pa.large_string() if f.name != "amount" else f.type)
                                     for f in table.schema]))
    if how == "dictionary":
        return pa.table({c: table.column(c).dictionary_encode() if c != "amount" else table.column(c)
                         for c in table.column_names})
    half = table.num_rows // 2
    pieces = [encoded(table.slice(0, half), "dictionary"), encoded(table.slice(half), "dictionary")]
    return pa.concat_tables(pieces, promote_options="permissive") if table.num_rows else table


@settings(max_examples=40, deadline=None)
@given(st.lists(row, max_size=25), st.lists(row, max_size=25),
       st.sampled_from(["plain", "large", "dictionary", "chunked"]),
       st.sampled_from(["plain", "large", "dictionary", "chunked"]))
def test_every_key_encoding_gives_the_same_pairs(legacy: list[tuple[str, str, str, int]],
                                                 ours: list[tuple[str, str, str, int]], a: str, b: str) -> None:
    plain = reconcile(lines(legacy), lines(ours))
    other = reconcile(encoded(lines(legacy), a) if a != "plain" else lines(legacy),
                      encoded(lines(ours), b) if b != "plain" else lines(ours))
    assert other.pairs.to_pylist() == plain.pairs.to_pylist()
    assert other.totals.equals(plain.totals) and other.periods.equals(plain.periods)


def test_null_dictionary_values_only_count_where_a_line_points_at_them() -> None:
    unused = pa.table({"period": ["2026-11"] * 2,
                       "member_id": pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["A", None])),
                       "bonus": ["binary"] * 2, "amount": [1, 2]})
    r = reconcile(unused, lines([("2026-11", "A", "binary", 3)]))
    assert r.go_live and r.pairs.to_pylist()[0]["member_id"] == "A"
    used = unused.set_column(1, "member_id", pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()),
                                                                           pa.array(["A", None])))
    with pytest.raises(InputError, match=r"legacy lines: member_id is null at rows \[1\]"):
        reconcile(used, lines([]))


def test_the_engine_reconciles_with_itself() -> None:
    members = synth.network(2_000, seed=4)
    g = mlm_core.Genealogy.from_arrow(members)
    spec = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"
    result = mlm_core.run_period(mlm_core.Plan.from_toml(spec), g,
                                 synth.volumes(members).select(["member_id", "pv", "bv"]), period="2026-11")
    assert result.lines.num_rows > 100
    r = reconcile(result.lines, result.lines)  # dictionary-encoded columns, as the engine writes them
    assert r.go_live and r.pairs.num_rows == result.lines.num_rows
    shifted = result.lines.set_column(3, "amount", pa.compute.add(result.lines.column("amount"), 1))
    assert reconcile(result.lines, shifted).periods.column("differing").to_pylist() == [result.lines.num_rows]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.drop_columns(["bonus"]), "no column 'bonus'"),
    (lambda t: t.set_column(3, "amount", pa.array([1.5], pa.float64())), "integer minor units"),
    (lambda t: t.set_column(3, "amount", pa.array([None], pa.int64())), "amount is null at rows"),
    (lambda t: t.set_column(1, "member_id", pa.array([None], pa.string())), "member_id is null"),
])
def test_bad_lines_are_input_errors(change: object, message: str) -> None:
    good = lines([("2026-11", "A", "binary", 1)])
    with pytest.raises(InputError, match=message):
        reconcile(change(good), good)  # type: ignore[operator]


def test_sums_beyond_int64_are_errors() -> None:
    big = lines([("2026-11", "A", "binary", 2**62), ("2026-11", "A", "binary", 2**62)])
    with pytest.raises(AmountOverflowError):
        reconcile(big, lines([]))


def test_a_reconciliation_is_stored_once_per_run_and_exported(tmp_path: Path) -> None:
    import csv

    from mlm_core import Store

    r = reconcile(lines([("2026-11", "A", "binary", 10), ("2026-11", "B", "binary", 5)]),
                  lines([("2026-11", "A", "binary", 10), ("2026-11", "B", "binary", 7)]))
    with Store(tmp_path / "s.duckdb") as store:
        r.to_store(store, run_id="parallel-1")
        assert store._rows("SELECT run_id, period, verdict, differing FROM reconciliation_periods") == [
            ("parallel-1", "2026-11", "differs", 1)]
        assert store._rows("SELECT member_id, status, difference FROM reconciliation_pairs ORDER BY 1") == [
            ("A", "match", 0), ("B", "amount_differs", 2)]
        with pytest.raises(InputError, match="already stored"):
            r.to_store(store, run_id="parallel-1")
        assert store._rows("SELECT count(*) FROM reconciliation_pairs")[0][0] == 2
    with r.write_csv(tmp_path / "diff.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(x["member_id"], x["difference"], x["status"]) for x in rows] == [("B", "2", "amount_differs")]
