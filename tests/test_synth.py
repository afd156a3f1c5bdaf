"""Synthetic networks: deterministic, shaped as the module promises, exported exactly."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlm_core import Genealogy, synth, validate_genealogy
from mlm_core._arrow import as_table


def test_same_seed_same_network_other_seed_other_network() -> None:
    a = synth.network(3000, seed=5)
    assert a.equals(synth.network(3000, seed=5))
    assert not a.equals(synth.network(3000, seed=6))


def test_network_shape() -> None:
    n = 50_000
    t = synth.network(n, seed=2)
    assert t.column_names == ["member_id", "sponsor_id", "placement_id", "leg", "status", "join_date"]
    assert t.column("member_id").to_pylist()[:2] == ["M00000001", "M00000002"]
    assert t.column("status")[0].as_py() == "active"
    assert set(t.column("status").to_pylist()) == set(synth.STATUSES)
    # Heavy-tailed sponsoring: most members recruit 0-3, a few recruit hundreds.
    g = Genealogy.from_arrow(t)
    recruits = np.bincount(g.sponsor_parent.drop_null().to_numpy(), minlength=n)
    assert np.mean(recruits <= 3) > 0.9
    assert recruits.max() > 300
    # Spillover stays inside the sponsor's placement subtree: no warning at all.
    assert g.warnings.num_rows == 0
    assert validate_genealogy(t).num_rows == 0
    # Rows come in join order: every sponsor and placement parent joined earlier.
    rows = np.arange(n)
    for parent in (g.sponsor_parent, g.placement_parent):
        p = parent.fill_null(-1).to_numpy()
        assert np.all(p < rows)


def test_shuffled_network_has_the_same_rollups() -> None:
    t = synth.network(5000, seed=4)
    s = synth.network(5000, seed=4, shuffle=True)
    assert s.column("member_id").to_pylist() != t.column("member_id").to_pylist()
    g, h = Genealogy.from_arrow(t), Genealogy.from_arrow(s)
    by_id = dict(zip(t.column("member_id").to_pylist(), g.rollup(op="count").to_pylist(), strict=True))
    shuffled = dict(zip(s.column("member_id").to_pylist(), h.rollup(op="count").to_pylist(), strict=True))
    assert by_id == shuffled


def test_int_ids_and_pathological_shapes() -> None:
    chain = synth.chain(1000, id_kind="int")
    assert chain.column("member_id").type == pa.int64()
    assert Genealogy.from_arrow(chain).depth()[999].as_py() == 999
    star = Genealogy.from_arrow(synth.star(1000))
    assert star.level_histogram().column("members").to_pylist() == [1, 999]
    assert star.warnings.num_rows == 0


def test_volumes_are_integer_orders_with_returns() -> None:
    members = synth.network(20_000, seed=9)
    v = synth.volumes(members, seed=9)
    assert v.schema.field("pv").type == pa.int64() and v.schema.field("bv").type == pa.int64()
    assert pc.all(pc.is_in(v.column("member_id"), value_set=members.column("member_id"))).as_py()
    pv = v.column("pv").to_numpy()
    assert np.array_equal(v.column("bv").to_numpy(), pv * 4 // 5)
    assert 0 < np.sum(pv < 0) < 0.05 * len(pv)
    packages = {2500, 5000, 10000, 20000}
    assert set(pv[pv > 0]) <= packages
    assert set(-pv[pv < 0]) <= {p // 2 for p in packages}
    assert v.num_rows > 0.7 * members.num_rows
    assert v.column("order_id").to_pylist()[:1] == ["O202611-1"]


def test_exports_round_trip_exactly(tmp_path: Path) -> None:
    members = synth.network(2000, seed=1)
    orders = synth.volumes(members, seed=1)
    files = synth.write_exports(tmp_path, members, orders)
    assert sorted(files) == ["members.csv", "members.parquet", "orders.csv", "orders.parquet"]
    legacy = pq.read_table(files["members.parquet"])
    assert legacy.column_names == list(synth.LEGACY_MEMBER_COLUMNS)
    assert legacy.column("MemberID").equals(members.column("member_id"))
    con = duckdb.connect()
    back = as_table(con.sql(
        "SELECT CAST(PV * 100 AS BIGINT) AS pv, CAST(BV * 100 AS BIGINT) AS bv FROM read_csv(?, "
        "columns = {'OrderID': 'VARCHAR', 'MemberID': 'VARCHAR', 'Period': 'VARCHAR', "
        "'PV': 'DECIMAL(18,2)', 'BV': 'DECIMAL(18,2)'}, header = true)",
        params=[str(files["orders.csv"])],
    ), "orders")
    assert back.column("pv").to_pylist() == orders.column("pv").to_pylist()
    assert back.column("bv").to_pylist() == orders.column("bv").to_pylist()
    text = files["orders.csv"].read_text().splitlines()
    assert text[0] == '"OrderID","MemberID","Period","PV","BV"'
    parquet_pv = pq.read_table(files["orders.parquet"]).column("PV")
    assert parquet_pv.type == pa.decimal128(18, 2)
    assert [str(x) for x in parquet_pv.to_pylist()[:3]] == [
        f"{p // 100}.{p % 100:02d}" if p >= 0 else f"-{-p // 100}.{-p % 100:02d}"
        for p in orders.column("pv").to_pylist()[:3]
    ]


def test_package_orders_and_attributes_run_the_v2_example_plan() -> None:
    from pathlib import Path

    from mlm_core import Plan, run_period

    members = synth.network(3000, seed=8)
    orders = synth.package_orders(members, seed=8)
    assert orders.column_names == ["member_id", "period", *synth.PACKAGE]
    counts = orders.column("bv").to_numpy() // synth.PACKAGE["bv"]
    assert set(counts) == {1, 2}
    assert np.array_equal(orders.column("match_award").to_numpy(), counts * synth.PACKAGE["match_award"])
    attrs = synth.attributes(members, seed=8)
    tiers = attrs.column("tier").to_pylist()
    assert 0.7 < sum(t is not None for t in tiers) / len(tiers) < 0.9
    assert 0 < sum(r is not None for r in attrs.column("rank_override").to_pylist()) < 150
    plan = Plan.from_toml(Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan-v2.toml")
    result = run_period(plan, Genealogy.from_arrow(members), orders, period="2026-11", attributes=attrs)
    paid = {x["bonus"]: x["paid"] for x in result.summary.to_pylist()}
    assert all(paid[b] > 0 for b in ("sponsor", "pairing", "match", "cashback"))
    # The rebate is 5% of every package's BV: exactly, as every package is 350,000.
    assert paid["cashback"] == pc.sum(orders.column("bv")).as_py() * 500 // 10_000
