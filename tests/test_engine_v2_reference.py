"""Property tests: ``mlm_core.run_period`` against the plain-Python reference on version 2 plans.

Every case is built from one ``random.Random(seed)``, the seed drawn by hypothesis (a failure names its
seed, which rebuilds the whole case):

* a sound genealogy of 1..50 members (test_engine_reference's generator), int or string ids;
* a random version 2 plan as TOML text: declared ``[volumes] columns``, ``[tiers]``, 0-4 ranks (some
  ``assigned``), optional version 1 sections (``[binary]`` / ``[unilevel]`` with a ``base``, ``[matching]``)
  and 1-4 ``[[bonus]]`` entries of all five types with random keys: volume-column bases, ``rate_bp`` or
  ``pay_per_pair``, ``max_pairs_by_tier`` with ``over_cap`` flush / carry, ``cap_by_rank``,
  ``requires_tier``, ``pay_on``, ``requires_active``, ``include_self``, subsets of ``rate_bp_by_rank``;
  matching ``base`` names an earlier binary bonus; sometimes a ``[periods]`` section;
* random volume rows carrying every declared column (negatives and zeros included);
* random member attributes per period (any subset of ``status`` / ``tier`` / ``rank_override`` columns,
  any subset of members, nulls included);
* a random starting state (highest ranks, carries of the plan's binary bonuses and of a bonus the plan does
  not have), then two chained periods, the plan sometimes replaced by another random plan in the second.

Lines, ranks of every member, the next state (highest ranks and every carry, including carries passed on
for bonuses the plan no longer has) and the summary's paid per bonus must equal the reference's exactly.
Breakage is compared for unilevel, matching and binary bonuses (binary breakage: what the consumed pairs
would have paid before the pair and rank caps minus what was paid); differential and rebate breakage are
not specified and not compared.
"""

from __future__ import annotations

import random

import pyarrow as pa
import reference_engine as ref
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_engine_reference import (
    BASE,
    OTHER_STATUSES,
    RANK_POOL,
    UNKNOWN_RANK,
    Company,
    company_of,
    random_rank,
    random_rate,
    random_subset,
    sound_tree,
    toml_block,
)

import mlm_core

PERIODS = ("2026-11", "2026-12")
COLUMN_POOL = ("award", "pair_volume", "match_award", "points")
TIER_POOL = ("Basic", "Pro", "Elite")
NAME_POOL = ("pairing", "sponsor", "match", "cashback", "team", "diff", "bonus_x", "b2")
BONUS_TYPES = ("binary", "unilevel", "matching", "differential", "rebate")
OLD_BONUS = "retired_pairing"  # carries of a binary bonus no plan here defines: passed on unchanged


# --- random version 2 plans --------------------------------------------------------------------------


class PlanDraw:
    """A random version 2 plan: its TOML text and what the generators of its inputs need to know."""

    def __init__(self, rng: random.Random) -> None:
        self.columns = random_subset(rng, list(COLUMN_POOL))
        self.tiers = rng.sample(TIER_POOL, rng.choice((0, 1, 2, 3, 3)))
        self.ranks = rng.sample(RANK_POOL, rng.choice((0, 1, 2, 3, 4, 4)))
        self.rank_names = [ref.MEMBER, *self.ranks]
        self.binaries: list[str] = []
        blocks = []
        if rng.random() < 0.7:
            items: list[tuple[str, object]] = [("rounding", rng.choice(ref.ROUNDING_MODES))]
            blocks.append(toml_block("[plan]", items))
        if rng.random() < 0.5:
            blocks.append(toml_block("[activity]", [("min_pv", rng.choice((0, 1, rng.randint(0, 60))))]))
        if self.columns or rng.random() < 0.2:
            blocks.append(toml_block("[volumes]", [("columns", self.columns)]))
        if self.tiers or rng.random() < 0.2:
            blocks.append(toml_block("[tiers]", [("names", self.tiers)]))
        if rng.random() < 0.15:
            blocks.append(toml_block("[periods]", [("length", rng.choice(("day", "week", "month"))),
                                                   ("timezone", "Asia/Jakarta")]))
        for name in self.ranks:
            if rng.random() < 0.3:
                blocks.append(toml_block("[[ranks]]", [("name", name), ("assigned", True)]))
            else:
                blocks.append(random_rank(rng, name, self.rank_names))
        # Version 1 sections (shorthands), computed first.
        if rng.random() < 0.35:
            blocks.append(toml_block("[binary]", self.binary_items(rng)))
            self.binaries.append("binary")
        if rng.random() < 0.3:
            blocks.append(toml_block("[unilevel]", self.level_items(rng, with_base=True)))
        if rng.random() < 0.25:  # also without [binary]: valid, pays nothing
            blocks.append(toml_block("[matching]", self.level_items(rng, with_base=False)))
        used = {"binary", "unilevel", "matching"}
        for _ in range(rng.choice((1, 2, 3, 4))):
            name = rng.choice([n for n in NAME_POOL if n not in used])
            used.add(name)
            kind = rng.choice(BONUS_TYPES)
            if kind == "matching" and not self.binaries:
                kind = "binary"
            items = [("name", name), ("type", kind), *self.bonus_items(rng, kind)]
            if kind == "binary":
                self.binaries.append(name)
            blocks.append(toml_block("[[bonus]]", items))
        self.text = "\n".join(blocks)

    def base(self, rng: random.Random) -> list[tuple[str, object]]:
        if rng.random() < 0.2:
            return []  # default bv
        return [("base", rng.choice(["pv", "bv", *self.columns, *self.columns]))]

    def by_rank(self, rng: random.Random, values: list[int]) -> dict:
        return {name: rng.choice(values) for name in random_subset(rng, self.rank_names)}

    def binary_items(self, rng: random.Random) -> list[tuple[str, object]]:
        items: list[tuple[str, object]] = self.base(rng)
        if rng.random() < 0.5:
            items.append(("rate_bp", random_rate(rng)))
        else:
            items.append(("pay_per_pair", rng.choice((0, 1, 7, 100, rng.randint(0, 500)))))
        if rng.random() < 0.7:
            items.append(("pair_unit", rng.choice((1, 2, 5, 10, 50, rng.randint(1, 60)))))
        if rng.random() < 0.4:
            items.append(("carry_cap", rng.choice((0, rng.randint(1, 50), rng.randint(1, 600)))))
        for flag in ("requires_active", "requires_sponsored_legs", "requires_tier"):
            if rng.random() < 0.5:
                items.append((flag, rng.random() < 0.5))
        if rng.random() < 0.5:
            items.append(("unqualified", rng.choice(("carry", "flush"))))
        if rng.random() < 0.5:
            items.append(("cap_by_rank", self.by_rank(rng, [0, rng.randint(0, 30), rng.randint(0, 300)])))
        if self.tiers and rng.random() < 0.7:
            items.append(("max_pairs_by_tier",
                          {t: rng.choice((0, 1, 2, 3, 5, 20)) for t in random_subset(rng, self.tiers)}))
        if rng.random() < 0.6:
            items.append(("over_cap", rng.choice(("flush", "carry"))))
        if rng.random() < 0.6:
            items.append(("pay_on", rng.choice(("period", "new_volume"))))
        rng.shuffle(items)
        return items

    def level_items(self, rng: random.Random, with_base: bool, min_levels: int = 0) -> list[tuple[str, object]]:
        items: list[tuple[str, object]] = self.base(rng) if with_base else []
        items.append(("rates_bp", [random_rate(rng) for _ in range(rng.randint(min_levels, 4))]))
        if rng.random() < 0.6:
            items.append(("compression", rng.random() < 0.5))
        if rng.random() < 0.5:
            items.append(("depth_by_rank", self.by_rank(rng, [0, 0, 1, 2, 3, 5])))
        if rng.random() < 0.6:
            items.append(("requires_active", rng.random() < 0.5))
        rng.shuffle(items)
        return items

    def bonus_items(self, rng: random.Random, kind: str) -> list[tuple[str, object]]:
        if kind == "binary":
            return self.binary_items(rng)
        if kind == "unilevel":
            return self.level_items(rng, with_base=True, min_levels=1)
        if kind == "matching":
            items = self.level_items(rng, with_base=False, min_levels=1)
            if "binary" not in self.binaries or rng.random() < 0.7:  # default base: binary
                items.append(("base", rng.choice(self.binaries)))
            return items
        if kind == "differential":
            rates = [0, 1000, 2500, 5000, 7500, 10_000, rng.randint(0, 10_000)]
            items = [*self.base(rng), ("rate_bp_by_rank", self.by_rank(rng, rates))]
            for flag in ("include_self", "requires_active"):
                if rng.random() < 0.6:
                    items.append((flag, rng.random() < 0.5))
            return items
        items = [*self.base(rng), ("rate_bp", random_rate(rng))]  # rebate
        if rng.random() < 0.6:
            items.append(("requires_active", rng.random() < 0.5))
        return items


# --- random inputs -----------------------------------------------------------------------------------


def random_company_v2(rng: random.Random) -> Company:
    n = rng.choice((1, 2, 3, rng.randint(1, 12), rng.randint(1, 50), rng.randint(25, 50)))
    return company_of(rng, *sound_tree(rng, n), rng.choice(("int", "str")), shuffle=rng.random() < 0.3)


def random_volumes_v2(rng: random.Random, ids: list, columns: list[str]) -> list[dict]:
    """Rows ``member_id, pv, bv`` and every declared column: 0..3 per member, negatives and zeros."""
    if rng.random() < 0.05:
        return []
    without_rows = rng.choice((0.0, 0.2, 0.5))
    rows = []
    for member in ids:
        if rng.random() < without_rows:
            continue
        for _ in range(rng.choice((1, 1, 2, 3))):
            row = {"member_id": member, "pv": rng.choice((0, rng.randint(-20, 60), rng.randint(-40, 200)))}
            for column in ("bv", *columns):
                row[column] = rng.choice((0, rng.randint(-30, 100), rng.randint(-100, 400), rng.randint(0, 60)))
            rows.append(row)
    rng.shuffle(rows)
    return rows


def volume_table_v2(rows: list[dict], company: Company, columns: list[str]) -> pa.Table:
    data = {"member_id": pa.array([r["member_id"] for r in rows], company.id_type)}
    for column in ("pv", "bv", *columns):
        data[column] = pa.array([r[column] for r in rows], pa.int64())
    return pa.table(data)


def random_attributes(rng: random.Random, company: Company, draw: PlanDraw) -> tuple[pa.Table | None, dict | None]:
    """Attributes of a period for both sides: a table for the engine, a dict for the reference."""
    if rng.random() < 0.2:
        return None, None
    members = rng.sample(company.member_id, rng.randint(0, len(company.member_id)))
    choices = {
        "status": ["active", "active", *OTHER_STATUSES, None],
        "tier": [*draw.tiers, None],
        "rank_override": [*draw.rank_names, None, None, None],
    }
    columns = random_subset(rng, list(choices))
    data = {"member_id": pa.array(members, company.id_type)}
    attributes: dict = {m: {} for m in members}
    for column in columns:
        values = [rng.choice(choices[column]) for _ in members]
        data[column] = pa.array(values, pa.string())
        for m, v in zip(members, values, strict=True):
            attributes[m][column] = v
    return pa.table(data), attributes


def random_state(rng: random.Random, company: Company, draw: PlanDraw) -> tuple[pa.Table | None, dict | None]:
    """A starting state: highest ranks and carries of some binary bonuses (the plan's and an old one)."""
    if rng.random() < 0.25:
        return None, None
    members = rng.sample(company.member_id, rng.randint(0, len(company.member_id)))
    data = {"member_id": pa.array(members, company.id_type)}
    state: dict = {"carry": {}, "highest": {}}
    if rng.random() < 0.7:
        names = [rng.choice([*draw.rank_names, UNKNOWN_RANK]) for _ in members]
        data["highest_rank"] = pa.array(names, pa.string())
        state["highest"] = dict(zip(members, names, strict=True))
    for bonus in [*draw.binaries, OLD_BONUS, "binary"]:
        if rng.random() < 0.5:
            continue
        carries = [tuple(rng.choice((0, 0, rng.randint(-100, 300))) for _ in range(2)) for _ in members]
        data[f"{bonus}.carry_left"] = pa.array([c[0] for c in carries], pa.int64())
        data[f"{bonus}.carry_right"] = pa.array([c[1] for c in carries], pa.int64())
        for m, c in zip(members, carries, strict=True):
            state["carry"][(bonus, m)] = c
    return pa.table(data), state


# --- comparing ---------------------------------------------------------------------------------------


def carries_of_reference(carry: dict) -> dict:
    """``{(bonus, id): (L, R)}`` without zero carries (a plain id key is the bonus named ``binary``)."""
    out = {}
    for key, value in carry.items():
        key = key if isinstance(key, tuple) else ("binary", key)
        if value != (0, 0):
            out[key] = value
    return out


def carries_of_engine(state: pa.Table) -> dict:
    out = {}
    names = [c[: -len(".carry_left")] for c in state.column_names if c.endswith(".carry_left")]
    for row in state.to_pylist():
        for bonus in names:
            value = (row[f"{bonus}.carry_left"], row[f"{bonus}.carry_right"])
            if value != (0, 0):
                out[(bonus, row["member_id"])] = value
    return out


def compare(result: mlm_core.PeriodResult, expected: dict, company: Company, plan: ref.Plan, period: str) -> None:
    lines = result.lines.to_pylist()
    assert all(r["period"] == period for r in lines)
    assert [(r["member_id"], r["bonus"], r["amount"]) for r in lines] == expected["lines"]
    ranks = result.ranks.to_pylist()
    assert [r["member_id"] for r in ranks] == company.member_id
    assert {r["member_id"]: (r["paid_as_rank"], r["highest_rank"]) for r in ranks} == expected["ranks"]

    state = result.state
    assert state.column("member_id").to_pylist() == company.member_id
    assert dict(zip(company.member_id, state.column("highest_rank").to_pylist(), strict=True)) == \
        expected["state"]["highest"]
    for bonus in plan.bonuses:
        if bonus.type == "binary":
            assert f"{bonus.name}.carry_left" in state.column_names
    assert carries_of_engine(state) == carries_of_reference(expected["state"]["carry"])

    summary = {r["bonus"]: r for r in result.summary.to_pylist()}
    assert list(summary) == [*(b.name for b in plan.bonuses), "total"]
    assert summary["total"]["total_bv"] == expected["summary"]["total_bv"]
    for bonus in plan.bonuses:
        assert summary[bonus.name]["paid"] == expected["summary"]["paid"][bonus.name], bonus.name
        if bonus.type in ("binary", "unilevel", "matching"):
            assert summary[bonus.name]["breakage"] == expected["summary"]["breakage"][bonus.name], bonus.name
    assert summary["total"]["paid"] == sum(summary[b.name]["paid"] for b in plan.bonuses)


def run_case(seed: int) -> None:
    rng = random.Random(seed)
    company = random_company_v2(rng)
    draw = PlanDraw(rng)
    state_table, state = random_state(rng, company, draw)
    note(f"members: {company.members()}\nstarting state: {state}")
    for index, period in enumerate(PERIODS):
        if index and rng.random() < 0.25:
            draw = PlanDraw(rng)
        plan = ref.parse_plan(ref.load_plan(draw.text))
        rows = random_volumes_v2(rng, company.member_id, draw.columns)
        attr_table, attributes = random_attributes(rng, company, draw)
        note(f"--- {period}\nplan:\n{draw.text}\nvolumes: {rows}\nattributes: {attributes}")
        expected = ref.run_period_reference(ref.load_plan(draw.text), company.members(), rows, state, attributes)
        result = mlm_core.run_period(mlm_core.Plan.from_toml(draw.text), company.genealogy(),
                                     volume_table_v2(rows, company, draw.columns), period=period,
                                     state=state_table, attributes=attr_table)
        compare(result, expected, company, plan, period)
        state_table, state = result.state, expected["state"]


seeds = st.integers(0, 2**64 - 1)


@settings(BASE, max_examples=3000)
@given(seed=seeds)
def test_v2_periods_match_reference(seed: int) -> None:
    run_case(seed)


def test_worked_example_v2_by_reference() -> None:
    """The reference reproduces the specification's version 2 worked example."""
    plan = ref.load_plan(ref.Path("/work/shared/spec/example-plan-v2.toml"))
    ids = list("ABCDEFG")
    parents = [(None, None, None), ("A", "A", "L"), ("A", "A", "R"), ("B", "B", "L"), ("B", "B", "R"),
               ("E", "C", "L"), ("D", "D", "L")]
    members = [{"member_id": m, "sponsor_id": s, "placement_id": p, "leg": leg, "status": "active"}
               for m, (s, p, leg) in zip(ids, parents, strict=True)]
    package = {"pv": 0, "bv": 350_000, "sponsor_award": 50_000, "pair_volume": 350_000, "match_award": 80_000}
    volumes = [{"member_id": m, **package} for m in "BCDDEFG"]
    tiers = ["Pro", "Basic", None, "Basic", "Pro", "Basic", "Basic"]
    overrides = ["Director", "Senior", None, None, "Associate", None, None]
    attributes = {m: {"tier": t, "rank_override": o} for m, t, o in zip(ids, tiers, overrides, strict=True)}
    result = ref.run_period_reference(plan, members, volumes, {"carry": {("pairing", "A"): (0, 350_000)}},
                                      attributes)
    got: dict = {}
    for m, bonus, amount in result["lines"]:
        got.setdefault(bonus, {})[m] = amount
    assert got == {
        "sponsor": {"A": 100_000, "B": 150_000, "D": 50_000, "E": 50_000},
        "pairing": {"A": 40_000, "B": 20_000},
        "match": {"A": 360_000, "B": 180_000, "E": 20_000},
        "cashback": {"B": 17_500, "C": 17_500, "D": 35_000, "E": 17_500, "F": 17_500, "G": 17_500},
    }
    assert {m: paid for m, (paid, _) in result["ranks"].items() if paid != ref.MEMBER} == \
        {"A": "Director", "B": "Senior", "E": "Associate"}
    assert carries_of_reference(result["state"]["carry"]) == {
        ("pairing", "A"): (1_050_000, 350_000), ("pairing", "B"): (700_000, 0),
        ("pairing", "C"): (350_000, 0), ("pairing", "D"): (350_000, 0),
    }
