"""Plan version 2 (compensation-plan-v2.md): the worked example exactly, and the v2 plan errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from mlm_core import Genealogy, InputError, Plan, PlanError, run_period

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"
IDS = list("ABCDEFG")
PACKAGE = {"pv": 0, "bv": 350_000, "sponsor_award": 50_000, "pair_volume": 350_000, "match_award": 80_000}


@pytest.fixture
def example() -> tuple[Plan, Genealogy, pa.Table, pa.Table, pa.Table]:
    members = pa.table({
        "member_id": IDS,
        "sponsor_id": [None, "A", "A", "B", "B", "E", "D"],
        "placement_id": [None, "A", "A", "B", "B", "C", "D"],
        "leg": [None, "L", "R", "L", "R", "L", "L"],
        "status": ["active"] * 7,
    })
    buyers = ["B", "C", "D", "D", "E", "F", "G"]
    volumes = pa.table({"member_id": buyers, **{k: [v] * len(buyers) for k, v in PACKAGE.items()}})
    attributes = pa.table({
        "member_id": IDS,
        "tier": ["Pro", "Basic", None, "Basic", "Pro", "Basic", "Basic"],
        "rank_override": ["Director", "Senior", None, None, "Associate", None, None],
    })
    state = pa.table({"member_id": ["A"], "pairing.carry_left": [0], "pairing.carry_right": [350_000]})
    return Plan.from_toml(SPEC / "example-plan-v2.toml"), Genealogy.from_arrow(members), volumes, attributes, state


def test_worked_example_v2_exactly(example: tuple[Plan, Genealogy, pa.Table, pa.Table, pa.Table]) -> None:
    plan, g, volumes, attributes, state = example
    r = run_period(plan, g, volumes, period="2026-11", state=state, attributes=attributes)
    got: dict[str, dict[str, int]] = {}
    for line in r.lines.to_pylist():
        got.setdefault(line["bonus"], {})[line["member_id"]] = line["amount"]
    assert got == {
        "sponsor": {"A": 100_000, "B": 150_000, "D": 50_000, "E": 50_000},
        "pairing": {"A": 40_000, "B": 20_000},
        "match": {"A": 360_000, "B": 180_000, "E": 20_000},
        "cashback": {"B": 17_500, "C": 17_500, "D": 35_000, "E": 17_500, "F": 17_500, "G": 17_500},
    }
    ranks = {x["member_id"]: x["paid_as_rank"] for x in r.ranks.to_pylist()}
    assert ranks == {"A": "Director", "B": "Senior", "E": "Associate", "C": "Member", "D": "Member",
                     "F": "Member", "G": "Member"}
    carries = {x["member_id"]: (x["pairing.carry_left"], x["pairing.carry_right"]) for x in r.state.to_pylist()}
    assert carries == {"A": (1_050_000, 350_000), "B": (700_000, 0), "C": (350_000, 0), "D": (350_000, 0),
                       "E": (0, 0), "F": (0, 0), "G": (0, 0)}


def test_attribute_errors_name_what_is_wrong(example: tuple[Plan, Genealogy, pa.Table, pa.Table, pa.Table]) -> None:
    plan, g, volumes, _, _ = example
    with pytest.raises(InputError, match="'Gold' name no tier"):
        run_period(plan, g, volumes, period="p", attributes=pa.table({"member_id": ["A"], "tier": ["Gold"]}))
    with pytest.raises(InputError, match="'Emperor' name no rank"):
        run_period(plan, g, volumes, period="p",
                   attributes=pa.table({"member_id": ["A"], "rank_override": ["Emperor"]}))
    with pytest.raises(InputError, match="not members"):
        run_period(plan, g, volumes, period="p", attributes=pa.table({"member_id": ["Q"], "tier": ["Pro"]}))


def test_status_attribute_replaces_the_genealogy_status(
    example: tuple[Plan, Genealogy, pa.Table, pa.Table, pa.Table],
) -> None:
    _, g, volumes, attributes, state = example
    # The rebate pays only active members when requires_active = true.
    text = (SPEC / "example-plan-v2.toml").read_text().replace('rate_bp = 500', 'rate_bp = 500\nrequires_active = true')
    strict = Plan.from_toml(text)
    inactive_b = attributes.append_column("status", pa.array(["active", "inactive"] + [None] * 5))
    r = run_period(strict, g, volumes, period="p", state=state, attributes=inactive_b)
    cashback = {x["member_id"] for x in r.lines.to_pylist() if x["bonus"] == "cashback"}
    assert cashback == {"C", "D", "E", "F", "G"}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[bonus]]\nname = 'x'\ntype = 'bonanza'\n", "bonus[0].type"),
        ("[[bonus]]\nname = 'x'\ntype = 'rebate'\nrate_bp = 1\n[[bonus]]\nname = 'x'\ntype = 'rebate'\nrate_bp = 1\n",
         "bonus[1].name"),
        ("[[bonus]]\nname = 'x'\ntype = 'rebate'\nrate_bp = 1\nbase = 'award'\n", "bonus[0].base"),
        ("[[bonus]]\nname = 'm'\ntype = 'matching'\nrates_bp = [1]\nbase = 'p'\n", "bonus[0].base"),
        ("[binary]\nrate_bp = 1\npay_per_pair = 5\n", "binary.rate_bp"),
        ("[binary]\nname = 'b'\nrate_bp = 1\n", "binary.name"),
        ("[tiers]\nnames = ['Basic']\n[binary]\nrate_bp = 1\nmax_pairs_by_tier = { Pro = 2 }\n",
         "binary.max_pairs_by_tier.Pro"),
        ("[[ranks]]\nname = 'Boss'\nassigned = true\nmin_pv = 1\n", "ranks[0].min_pv"),
        ("[[bonus]]\nname = 'd'\ntype = 'differential'\nrate_bp_by_rank = { Boss = 1 }\n",
         "bonus[0].rate_bp_by_rank.Boss"),
        ("[volumes]\ncolumns = ['Award']\n", "volumes.columns[0]"),
        ("[periods]\ntimezone = 'Mars/Olympus'\n", "periods.timezone"),
        ("[periods]\nlength = 'fortnight'\n", "periods.length"),
    ],
)
def test_v2_plan_errors_name_their_key(text: str, key: str) -> None:
    with pytest.raises(PlanError) as caught:
        Plan.from_toml(text)
    assert caught.value.key == key


def test_v1_matching_without_binary_stays_valid() -> None:
    plan = Plan.from_toml("[matching]\nrates_bp = [1000]\n")
    assert plan.bonus_names == ("matching",)


def test_explain_the_differential_line(example: tuple[Plan, Genealogy, pa.Table, pa.Table, pa.Table]) -> None:
    plan, g, volumes, attributes, state = example
    r = run_period(plan, g, volumes, period="2026-11", state=state, attributes=attributes)
    shares = r.explain("A").to_pylist()
    match = sorted((x["from_member_id"], x["rate_bp"], x["paid_below_bp"], x["amount"])
                   for x in shares if x["bonus"] == "match")
    # F's award paid E 25% and B the next 25%, so A gets the last 50%; G's passed D (rate 0) and B (50%).
    assert match == [("B", 10000, 0, 80000), ("C", 10000, 0, 80000), ("D", 10000, 5000, 80000),
                     ("E", 10000, 5000, 40000), ("F", 10000, 5000, 40000), ("G", 10000, 5000, 40000)]
    assert sum(m[3] for m in match) == 360_000
    e = [x for x in r.explain("E").to_pylist() if x["bonus"] == "match"]
    assert [(x["from_member_id"], x["paid_below_bp"], x["amount"]) for x in e] == [("F", 0, 20000)]
    cashback = [x for x in r.explain("D").to_pylist() if x["bonus"] == "cashback"]
    assert [(x["base"], x["amount"]) for x in cashback] == [(700_000, 35_000)]
