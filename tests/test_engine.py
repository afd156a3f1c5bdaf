"""run_period: the spec's worked example through the public API, chaining periods, explain, bad input.
The random comparison with the pure-Python reference lives in test_engine_reference.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import mlm_core
from mlm_core import Genealogy, InputError, Plan, run_period

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"
IDS = list("ABCDEFGH")


@pytest.fixture
def example() -> tuple[Plan, Genealogy, pa.Table, pa.Table]:
    members = pa.table({
        "member_id": IDS,
        "sponsor_id": [None, "A", "A", "B", "B", "C", "D", "G"],
        "placement_id": [None, "A", "A", "B", "B", "C", "D", "C"],
        "leg": [None, "L", "R", "L", "R", "L", "L", "R"],
        "status": ["active"] * 6 + ["suspended", "active"],
    })
    volume = [12000, 15000, 10000, 30000, 10000, 20000, 40000, 11000, -1000]
    volumes = pa.table({"member_id": [*IDS, "H"], "pv": volume, "bv": volume})
    state = pa.table({"member_id": ["A", "B", "C"], "highest_rank": [None, None, "Silver"],
                      "binary.carry_left": [0, 700, 0], "binary.carry_right": [2500, 0, 0]})
    return Plan.from_toml(EXAMPLE), Genealogy.from_arrow(members), volumes, state


def test_worked_example_exactly(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, state = example
    r = run_period(plan, g, volumes, period="2026-11", state=state)
    assert [(x["member_id"], x["bonus"], x["amount"]) for x in r.lines.to_pylist()] == [
        ("A", "binary", 4250), ("A", "unilevel", 4050), ("A", "matching", 160), ("B", "binary", 800),
        ("B", "unilevel", 3500), ("C", "unilevel", 1000), ("D", "unilevel", 2500),
    ]
    assert set(r.lines.column("period").to_pylist()) == {"2026-11"}
    ranks = {x["member_id"]: (x["paid_as_rank"], x["highest_rank"]) for x in r.ranks.to_pylist()}
    assert ranks == {"A": ("Silver", "Silver"), "B": ("Bronze", "Bronze"), "C": ("Bronze", "Silver"),
                     "D": ("Bronze", "Bronze"), **{m: ("Member", "Member") for m in "EFGH"}}
    carries = {x["member_id"]: (x["binary.carry_left"], x["binary.carry_right"]) for x in r.state.to_pylist()}
    assert carries == {"A": (50000, 0), "B": (50000, 0), "C": (20000, 10000), "D": (40000, 0),
                       **{m: (0, 0) for m in "EFGH"}}
    assert r.state.column("member_id").to_pylist() == IDS
    summary = {x["bonus"]: x for x in r.summary.to_pylist()}
    assert summary["total"]["paid"] == 4250 + 4050 + 160 + 800 + 3500 + 1000 + 2500
    assert summary["binary"]["breakage"] == 200  # B's 1000 capped at Bronze's 800
    assert summary["total"]["total_bv"] == 147000
    assert summary["total"]["payout_ratio_bp"] == 16260 * 10000 // 147000


def test_state_chains_into_the_next_period(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, state = example
    first = run_period(plan, g, volumes, period="2026-11", state=state)
    empty = pa.table({"member_id": pa.array([], pa.string()), "pv": pa.array([], pa.int64()),
                      "bv": pa.array([], pa.int64())})
    second = run_period(plan, g, empty, period="2026-12", state=first.state)
    # No volume: nobody is active, nobody earns; carries stay (capped) and highest ranks are kept.
    assert second.lines.num_rows == 0
    assert second.state.equals(first.state)
    assert {x["member_id"]: x["highest_rank"] for x in second.ranks.to_pylist()}["C"] == "Silver"


def test_explain_a_line_adds_up(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, state = example
    r = run_period(plan, g, volumes, period="2026-11", state=state)
    shares = r.explain("A")
    unilevel = shares.filter(pa.compute.equal(shares.column("bonus"), "unilevel")).to_pylist()
    assert [(x["from_member_id"], x["level"], x["paid_level"], x["rate_bp"]) for x in unilevel] == [
        ("B", 1, 1, 500), ("D", 2, 2, 300), ("G", 3, 3, 200), ("H", 4, 3, 200), ("E", 2, 2, 300),
        ("C", 1, 1, 500), ("F", 2, 2, 300),
    ]
    assert sum(x["amount"] for x in unilevel if x["paid"]) == Decimal(4050)
    matching = shares.filter(pa.compute.equal(shares.column("bonus"), "matching")).to_pylist()
    assert [(x["from_member_id"], x["base"], x["amount"]) for x in matching] == [("B", 800, Decimal(160))]
    binary = shares.filter(pa.compute.equal(shares.column("bonus"), "binary")).to_pylist()[0]
    assert binary["amount"] == Decimal(4250)
    assert "left 95000 = carry 0 + new 95000; right 42500 = carry 2500 + new 40000" in binary["detail"]
    # B's unilevel: D and E at level 1, G at level 2 (Bronze is paid 2 levels), H at level 2 (G is
    # suspended, so compression makes D H's first level) -- G's 3rd-level share would reach A only.
    b = r.explain("B")
    b_uni = b.filter(pa.compute.equal(b.column("bonus"), "unilevel"))
    assert sum(x["amount"] for x in b_uni.to_pylist() if x["paid"]) == Decimal(3500)


def test_volume_errors_list_what_is_wrong(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, _, _ = example
    with pytest.raises(InputError, match="2 id\\(s\\) are not members: 'Z' \\(row 1\\), 'Y' \\(row 2\\)") as caught:
        run_period(plan, g, pa.table({"member_id": ["A", "Z", "Y"], "pv": [1, 2, 3], "bv": [1, 2, 3]}), period="p")
    assert caught.value.rows == [1, 2]
    with pytest.raises(InputError, match=r"volumes\.bv must be an integer column, not double"):
        run_period(plan, g, pa.table({"member_id": ["A"], "pv": [1], "bv": [1.5]}), period="p")
    with pytest.raises(InputError, match="lack column\\(s\\) bv"):
        run_period(plan, g, pa.table({"member_id": ["A"], "pv": [1]}), period="p")
    with pytest.raises(InputError, match="without member_id"):
        run_period(plan, g, pa.table({"member_id": [None, "A"], "pv": [1, 1], "bv": [1, 1]}), period="p")
    with pytest.raises(mlm_core.AmountOverflowError):
        run_period(plan, g, pa.table({"member_id": ["A", "A"], "pv": [2**62, 2**62], "bv": [0, 0]}), period="p")
    with pytest.raises(InputError, match="state member_id"):
        run_period(plan, g, pa.table({"member_id": ["A"], "pv": [1], "bv": [1]}), period="p",
                   state=pa.table({"member_id": ["Q"], "highest_rank": ["Gold"]}))


def test_int_ids_give_the_same_result(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, state = example
    as_int = {m: i + 1 for i, m in enumerate(IDS)}
    members = g.to_arrow()
    int_members = pa.table({
        name: pa.array([as_int.get(x) for x in members.column(name).to_pylist()], pa.int64())
        for name in ("member_id", "sponsor_id", "placement_id")
    }).append_column("leg", members.column("leg")).append_column("status", members.column("status"))
    int_volumes = volumes.set_column(0, "member_id", pa.array([as_int[m] for m in volumes.column(0).to_pylist()]))
    int_state = state.set_column(0, "member_id", pa.array([as_int[m] for m in state.column(0).to_pylist()]))
    a = run_period(plan, g, volumes, period="p", state=state)
    b = run_period(plan, Genealogy.from_arrow(int_members), int_volumes, period="p", state=int_state)
    assert a.lines.column("amount").equals(b.lines.column("amount"))
    assert [as_int[m] for m in a.lines.column("member_id").to_pylist()] == b.lines.column("member_id").to_pylist()


def test_nothing_in_the_volumes_is_ignored(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, _ = example
    with pytest.raises(InputError, match=r"2 volume row\(s\) are not of period '2026-11' \(first at rows \[1, 2\]\)"):
        run_period(plan, g, pa.table({"member_id": ["A", "B", "C"], "period": ["2026-11", "2026-10", None],
                                      "pv": [1, 2, 3], "bv": [1, 2, 3]}), period="2026-11")
    with pytest.raises(InputError, match="order_id are not used by the plan"):
        run_period(plan, g, volumes.append_column("order_id", pa.array(["o"] * volumes.num_rows)), period="p")
    with pytest.raises(InputError, match="must be an integer column, not bool"):
        run_period(plan, g, pa.table({"member_id": ["A"], "pv": [True], "bv": [1]}), period="p")
    same = volumes.append_column("period", pa.array(["2026-11"] * volumes.num_rows))
    with_period = run_period(plan, g, same, period="2026-11").lines
    assert with_period.equals(run_period(plan, g, volumes, period="2026-11").lines)


def test_bad_states_are_refused(example: tuple[Plan, Genealogy, pa.Table, pa.Table]) -> None:
    plan, g, volumes, _ = example
    cases = [
        (pa.table({"member_id": ["A", "A"], "highest_rank": ["Gold", "Silver"]}), "lists 1 member\\(s\\) twice"),
        (pa.table({"member_id": ["A", None], "highest_rank": ["Gold", "Gold"]}), "without member_id"),
        (pa.table({"member_id": ["A"], "binary.carry_left": [5]}), "carries come in pairs"),
        (pa.table({"member_id": ["A"], "binary.carry_left": pa.array([None], pa.int64()),
                   "binary.carry_right": [1]}), "write 0 for no carry"),
    ]
    for state, message in cases:
        with pytest.raises(InputError, match=message):
            run_period(plan, g, volumes, period="p", state=state)


def test_summary_totals_never_wrap() -> None:
    members = pa.table({"member_id": ["A", "B"], "sponsor_id": [None, None], "placement_id": [None, None],
                        "leg": [None, None], "status": ["active", "active"]})
    g = Genealogy.from_arrow(members, allow_multiple_roots=True)
    plan = Plan.from_toml("[unilevel]\nrates_bp = [100]\n")
    big = pa.table({"member_id": ["A", "B"], "pv": [0, 0], "bv": [2**62, 2**62]})
    with pytest.raises(mlm_core.AmountOverflowError, match="total BV is 9223372036854775808"):
        run_period(plan, g, big, period="p")


def test_a_missing_plan_file_is_named() -> None:
    with pytest.raises(mlm_core.PlanError, match=r"cannot read plan file missing\.toml"):
        Plan.from_toml("missing.toml")
