"""Property tests: ``mlm_core.run_period`` against the plain-Python reference of reference_engine.py.

Every case is built from one ``random.Random(seed)``, the seed drawn by hypothesis:

* a sound genealogy of 1..60 members: each member sponsored by an earlier one and placed on a free L/R slot,
  inside its sponsor's placement subtree or anywhere, rows sometimes shuffled; statuses mostly ``active``;
* a random plan, written as TOML text: rounding, ``activity.min_pv``, 0-4 ranks with random subsets of
  requirements, and optional ``[binary]``, ``[unilevel]`` and ``[matching]`` sections with random settings
  (``[matching]`` without ``[binary]`` included), sections in random order;
* random volumes (0..3 rows per member, negatives and zeros, sometimes none at all) and a random starting
  state (any subset of members, with or without highest ranks and carries).

Two or three periods are run, each side chaining its own state into the next period (the plan and the
statuses may change between periods). Lines, ranks of every member, the whole next state and the summary
must equal the reference's exactly. Then: a deep chain and a star against the reference; the engine's
state leaves out members with nothing to carry; int64 ids and their text as string ids give identical
results; a state whose id column has another type than the genealogy's is read all the same.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace

import pyarrow as pa
import pytest
import reference_engine as ref
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import mlm_core

BASE = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PERIODS = ("2026-11", "2026-12", "2027-01")
OTHER_STATUSES = ("inactive", "suspended", "terminated", "pending")
RANK_POOL = ("Bronze", "Silver", "Gold", "Platinum", "Diamond", "Star")
UNKNOWN_RANK = "Emerald"  # a highest rank no plan defines: counts as Member
CARRY_LEFT, CARRY_RIGHT = "binary.carry_left", "binary.carry_right"


# --- random companies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    """A member table as plain lists (the reference's input) and the kind of its ids."""

    member_id: list
    sponsor_id: list
    placement_id: list
    leg: list
    status: list
    id_kind: str  # "int" or "str"

    @property
    def id_type(self) -> pa.DataType:
        return pa.int64() if self.id_kind == "int" else pa.string()

    def members(self) -> list[dict]:
        keys = ("member_id", "sponsor_id", "placement_id", "leg", "status")
        return [dict(zip(keys, row, strict=True)) for row in zip(*(getattr(self, k) for k in keys), strict=True)]

    def table(self) -> pa.Table:
        return pa.table({
            "member_id": pa.array(self.member_id, self.id_type),
            "sponsor_id": pa.array(self.sponsor_id, self.id_type),
            "placement_id": pa.array(self.placement_id, self.id_type),
            "leg": pa.array(self.leg, pa.string()),
            "status": pa.array(self.status, pa.string()),
        })

    def genealogy(self) -> mlm_core.Genealogy:
        return mlm_core.Genealogy.from_arrow(self.table())


def random_ids(rng: random.Random, n: int, id_kind: str) -> list:
    """``n`` distinct ids: small, negative or huge integers, or short strings."""
    ids: set = set()
    if id_kind == "str":
        alphabet = string.ascii_letters + string.digits + "_-é"
        while len(ids) < n:
            ids.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))))
    else:
        low, high = rng.choice(((-(2**63), 2**63 - 1), (-50, 100), (0, 10**6)))
        if high - low < 2 * n:
            low, high = -(2**63), 2**63 - 1
        while len(ids) < n:
            ids.add(rng.randint(low, high))
    out = sorted(ids, key=str)
    rng.shuffle(out)
    return out


def random_statuses(rng: random.Random, n: int) -> list[str]:
    active_share = rng.choice((1.0, 0.9, 0.75, 0.5, 0.2))
    return ["active" if rng.random() < active_share else rng.choice(OTHER_STATUSES) for _ in range(n)]


def placement_subtree(children: list[list[int]], row: int) -> list[int]:
    stack, out = [row], []
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(children[x])
    return out


def sound_tree(rng: random.Random, n: int) -> tuple[list, list, list]:
    """Rows in join order, row 0 the root: each later member is sponsored by an earlier one and placed on
    a free slot inside its sponsor's placement subtree (a leaf of it always has one) or anywhere."""
    sponsor: list = [None] * n
    placement: list = [None] * n
    leg: list = [None] * n
    children: list[list[int]] = [[] for _ in range(n)]
    free = [["L", "R"] for _ in range(n)]
    inside_share = rng.choice((1.0, 0.8, 0.0))
    recent = rng.random() < 0.3  # sponsors among the last few joiners: deeper sponsor trees
    for row in range(1, n):
        s = rng.randrange(max(0, row - 3), row) if recent else rng.randrange(row)
        candidates = placement_subtree(children, s) if rng.random() < inside_share else range(row)
        p = rng.choice([c for c in candidates if free[c]])
        side = rng.choice(free[p])
        free[p].remove(side)
        children[p].append(row)
        sponsor[row], placement[row], leg[row] = s, p, side
    return sponsor, placement, leg


def company_of(rng: random.Random, sponsor: list, placement: list, leg: list, id_kind: str,
               shuffle: bool = False) -> Company:
    """Row-number trees with random ids and statuses; rows shuffled when asked."""
    n = len(sponsor)
    ids = random_ids(rng, n, id_kind)
    order = list(range(n))
    if shuffle:
        rng.shuffle(order)
    status = random_statuses(rng, n)
    return Company(
        member_id=[ids[i] for i in order],
        sponsor_id=[None if sponsor[i] is None else ids[sponsor[i]] for i in order],
        placement_id=[None if placement[i] is None else ids[placement[i]] for i in order],
        leg=[leg[i] for i in order],
        status=[status[i] for i in order],
        id_kind=id_kind,
    )


def random_company(rng: random.Random, id_kind: str) -> Company:
    n = rng.choice((1, 2, 3, rng.randint(1, 12), rng.randint(1, 60), rng.randint(30, 60)))
    return company_of(rng, *sound_tree(rng, n), id_kind, shuffle=rng.random() < 0.3)


# --- random plans ------------------------------------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_block(header: str, items: list[tuple[str, object]]) -> str:
    return "\n".join([header, *(f"{key} = {toml_value(value)}" for key, value in items)]) + "\n"


def random_rate(rng: random.Random) -> int:
    return rng.choice((0, 1, 500, 1000, 2500, 3333, 5000, 10_000, rng.randint(0, 10_000), rng.randint(0, 20_000)))


def random_subset(rng: random.Random, items: list) -> list:
    return [x for x in items if rng.random() < 0.5]


def random_rank(rng: random.Random, name: str, rank_names: list[str]) -> str:
    items: list[tuple[str, object]] = [("name", name)]
    if rng.random() < 0.5:
        items.append(("min_pv", rng.choice((0, 1, rng.randint(0, 60), rng.randint(0, 200)))))
    if rng.random() < 0.5:
        items.append(("min_gv", rng.choice((0, 1, rng.randint(0, 300), rng.randint(0, 1500)))))
    if rng.random() < 0.4:
        items.append(("max_leg_share_bp", rng.choice((0, 1, 2500, 3333, 5000, 10_000, 20_000,
                                                      rng.randint(0, 12_000)))))
    if rng.random() < 0.5:
        items.append(("legs", rng.choice((0, 1, 1, 2, 3))))
        items.append(("leg_rank", rng.choice(rank_names)))  # Member, a lower, the same or a higher rank
    rng.shuffle(items)
    return toml_block("[[ranks]]", items)


def random_binary(rng: random.Random, rank_names: list[str]) -> str:
    items: list[tuple[str, object]] = [("rate_bp", random_rate(rng))]
    if rng.random() < 0.7:
        items.append(("pair_unit", rng.choice((1, 2, 5, 10, 100, rng.randint(1, 60)))))
    if rng.random() < 0.6:
        items.append(("carry_cap", rng.choice((0, rng.randint(1, 50), rng.randint(1, 600)))))
    for flag in ("requires_active", "requires_sponsored_legs"):
        if rng.random() < 0.6:
            items.append((flag, rng.random() < 0.5))
    if rng.random() < 0.6:
        items.append(("unqualified", rng.choice(("carry", "flush"))))
    if rng.random() < 0.6:
        caps = {name: rng.choice((0, rng.randint(0, 30), rng.randint(0, 300))) for name in rank_names}
        items.append(("cap_by_rank", dict(random_subset(rng, list(caps.items())))))
    rng.shuffle(items)
    return toml_block("[binary]", items)


def random_levels(rng: random.Random, section: str, rank_names: list[str], min_levels: int = 0) -> str:
    items: list[tuple[str, object]] = [("rates_bp", [random_rate(rng) for _ in range(rng.randint(min_levels, 4))])]
    if rng.random() < 0.6:
        items.append(("compression", rng.random() < 0.5))
    if rng.random() < 0.6:
        depths = {name: rng.choice((0, 0, 1, 2, 3, 5)) for name in rank_names}
        items.append(("depth_by_rank", dict(random_subset(rng, list(depths.items())))))
    rng.shuffle(items)
    return toml_block(f"[{section}]", items)


def random_plan(rng: random.Random, rich: bool = False) -> str:
    """A valid version 1 plan as TOML text. Blocks come in random order; ranks keep theirs. A ``rich`` plan
    has 2-4 ranks and all three bonuses, each with at least one level."""
    ranks = rng.sample(RANK_POOL, rng.randint(2, 4) if rich else rng.choice((0, 1, 2, 3, 4, 4)))
    rank_names = [ref.MEMBER, *ranks]
    blocks = []
    if rng.random() < 0.8:
        header = [("name", "Random plan")] if rng.random() < 0.5 else []
        if rng.random() < 0.8:
            header.append(("rounding", rng.choice(ref.ROUNDING_MODES)))
        blocks.append(toml_block("[plan]", header))
    if rng.random() < 0.6:
        min_pv = rng.choice((0, 1, rng.randint(0, 60), rng.randint(0, 150)))
        blocks.append(toml_block("[activity]", [("min_pv", min_pv)]))
    if rich or rng.random() < 0.65:
        blocks.append(random_binary(rng, rank_names))
    for section in ("unilevel", "matching"):
        if rich or rng.random() < 0.6:
            blocks.append(random_levels(rng, section, rank_names, min_levels=int(rich)))
    if rng.random() < 0.5:
        rng.shuffle(blocks)
    at = 0
    for name in ranks:  # [[ranks]] stay in ascending order, anywhere among the other blocks
        at = rng.randint(at, len(blocks))
        blocks.insert(at, random_rank(rng, name, rank_names))
        at += 1
    return "\n".join(blocks)


# --- random volumes and states -----------------------------------------------------------------------


def random_volumes(rng: random.Random, ids: list) -> list[dict]:
    """Volume rows ``(member_id, pv, bv)`` in random order: 0..3 per member, negatives and zeros included."""
    if rng.random() < 0.08:
        return []
    without_rows = rng.choice((0.0, 0.2, 0.5))
    pv_equals_bv = rng.random() < 0.3
    rows = []
    for member in ids:
        if rng.random() < without_rows:
            continue
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            pv = rng.choice((0, rng.randint(-20, 60), rng.randint(-40, 200)))
            bv = pv if pv_equals_bv else rng.choice((0, rng.randint(-30, 100), rng.randint(-100, 400)))
            rows.append({"member_id": member, "pv": pv, "bv": bv})
    rng.shuffle(rows)
    return rows


def volume_table(rows: list[dict], company: Company, period: str, with_period: bool) -> pa.Table:
    columns = {
        "member_id": pa.array([r["member_id"] for r in rows], company.id_type),
        "pv": pa.array([r["pv"] for r in rows], pa.int64()),
        "bv": pa.array([r["bv"] for r in rows], pa.int64()),
    }
    if with_period:
        columns["period"] = pa.array([period] * len(rows), pa.string())
    return pa.table(columns)


def random_state(rng: random.Random, company: Company, rank_names: list[str]) -> tuple[pa.Table | None, dict | None]:
    """A starting state for both sides: a table for the engine, a dict for the reference (or None)."""
    if rng.random() < 0.3:
        return None, None
    members = rng.sample(company.member_id, rng.randint(0, len(company.member_id)))
    columns = {"member_id": pa.array(members, company.id_type)}
    state: dict = {"carry": {}, "highest": {}}
    if rng.random() < 0.7:
        names = [rng.choice([*rank_names, UNKNOWN_RANK]) for _ in members]
        columns["highest_rank"] = pa.array(names, pa.string())
        state["highest"] = dict(zip(members, names, strict=True))
    if rng.random() < 0.7:
        carries = [tuple(rng.choice((0, 0, rng.randint(-100, 300))) for _ in range(2)) for _ in members]
        columns[CARRY_LEFT] = pa.array([c[0] for c in carries], pa.int64())
        columns[CARRY_RIGHT] = pa.array([c[1] for c in carries], pa.int64())
        state["carry"] = dict(zip(members, carries, strict=True))
    return pa.table(columns), state


# --- the engine's result in the reference's shape ----------------------------------------------------


def state_view(state: pa.Table, ids: list) -> dict:
    """The engine's state as the reference's ``{"carry": …, "highest": …}`` over every member."""
    rows = state.to_pylist()
    assert len({r["member_id"] for r in rows}) == len(rows), "a member twice in the state"
    by_id = {r["member_id"]: r for r in rows}
    carry, highest = {}, {}
    for m in ids:
        r = by_id.get(m, {})
        carry[m] = (r.get(CARRY_LEFT) or 0, r.get(CARRY_RIGHT) or 0)
        highest[m] = r.get("highest_rank") or ref.MEMBER
    return {"carry": carry, "highest": highest}


def engine_view(result: mlm_core.PeriodResult, company: Company, plan_text: str, period: str) -> dict:
    """``result`` as :func:`reference_engine.run_period_reference` returns it, after checking the parts
    the reference's dict leaves out (periods, row order, the summary's total row and payout ratio)."""
    lines = result.lines.to_pylist()
    assert all(r["period"] == period for r in lines)
    ranks = result.ranks.to_pylist()
    assert [r["member_id"] for r in ranks] == company.member_id
    summary = result.summary.to_pylist()
    bonuses = [b.name for b in ref.parse_plan(ref.load_plan(plan_text)).bonuses]
    assert [r["bonus"] for r in summary] == [*bonuses, "total"]
    assert all(r["period"] == period for r in summary)
    by_bonus = {r["bonus"]: r for r in summary}
    total = by_bonus.pop("total")
    assert total["paid"] == sum(r["paid"] for r in by_bonus.values())
    assert total["breakage"] == sum(r["breakage"] for r in by_bonus.values())
    total_bv = total["total_bv"]
    assert all(r["total_bv"] == total_bv for r in summary)
    for r in summary:
        if total_bv > 0:
            assert r["payout_ratio_bp"] == r["paid"] * ref.BP // total_bv
        elif total_bv == 0:
            assert r["payout_ratio_bp"] is None
    return {
        "lines": [(r["member_id"], r["bonus"], r["amount"]) for r in lines],
        "ranks": {r["member_id"]: (r["paid_as_rank"], r["highest_rank"]) for r in ranks},
        "state": state_view(result.state, company.member_id),
        "summary": {
            "total_bv": total_bv,
            "paid": {b: by_bonus[b]["paid"] if b in by_bonus else 0 for b in ref.V1_BONUS_SECTIONS},
            "breakage": {b: by_bonus[b]["breakage"] if b in by_bonus else 0 for b in ref.V1_BONUS_SECTIONS},
        },
    }


def assert_same(got: dict, expected: dict) -> None:
    """Part by part, so that a failure names the part."""
    assert got["lines"] == expected["lines"]
    assert got["ranks"] == expected["ranks"]
    assert got["state"]["highest"] == expected["state"]["highest"]
    assert got["state"]["carry"] == expected["state"]["carry"]
    assert got["summary"] == expected["summary"]


def assert_state_lists_every_member(state: pa.Table, genealogy: mlm_core.Genealogy) -> None:
    """One row per member, in member-row order, whatever the incoming state held."""
    assert state.column("member_id").to_pylist() == genealogy.member_ids.to_pylist()
    assert state.column("highest_rank").null_count == 0


def run_periods(rng: random.Random, company: Company, plan_text: str, periods: int,
                change_plan: float = 0.0, change_statuses: float = 0.0) -> None:
    """Runs ``periods`` periods on both sides, each chaining its own state, and compares every period.
    Between periods the plan and the statuses change with the given probabilities."""
    rank_names = ref.parse_plan(ref.load_plan(plan_text)).rank_names
    state_table, state = random_state(rng, company, rank_names)
    note(f"starting state: {state}")
    for index, period in enumerate(PERIODS[:periods]):
        if index and rng.random() < change_plan:
            plan_text = random_plan(rng)
        if index and rng.random() < change_statuses:
            company = replace(company, status=random_statuses(rng, len(company.member_id)))
        rows = random_volumes(rng, company.member_id)
        note(f"--- {period}\nplan:\n{plan_text}\nmembers: {company.members()}\nvolumes: {rows}")
        expected = ref.run_period_reference(ref.load_plan(plan_text), company.members(), rows, state)
        plan = mlm_core.Plan.from_toml(plan_text)
        volumes = volume_table(rows, company, period, with_period=rng.random() < 0.2)
        result = mlm_core.run_period(plan, company.genealogy(), volumes, period=period, state=state_table)
        assert_same(engine_view(result, company, plan_text, period), expected)
        state_table, state = result.state, expected["state"]


# --- the properties ----------------------------------------------------------------------------------

#: Cases are drawn from ``random.Random(seed)``: a failure names its seed, which rebuilds the whole case.
seeds = st.integers(0, 2**64 - 1)


@settings(BASE, max_examples=2000)
@given(seed=seeds, id_kind=st.sampled_from(("int", "str")))
def test_periods_match_reference(seed: int, id_kind: str) -> None:
    rng = random.Random(seed)
    company = random_company(rng, id_kind)
    run_periods(rng, company, random_plan(rng), rng.choice((2, 3)), change_plan=0.2, change_statuses=0.2)


@settings(BASE, max_examples=150)
@given(seed=seeds)
def test_state_lists_every_member_in_row_order(seed: int) -> None:
    """``PeriodResult.state`` has one row per member in member-row order, whatever the incoming state held
    (a plan without [binary] included)."""
    rng = random.Random(seed)
    company = random_company(rng, "int")
    plan_text = random_plan(rng)
    state_table, _ = random_state(rng, company, ref.parse_plan(ref.load_plan(plan_text)).rank_names)
    plan = mlm_core.Plan.from_toml(plan_text)
    volumes = volume_table(random_volumes(rng, company.member_id), company, PERIODS[0], False)
    genealogy = company.genealogy()
    result = mlm_core.run_period(plan, genealogy, volumes, period=PERIODS[0], state=state_table)
    assert_state_lists_every_member(result.state, genealogy)


@pytest.mark.slow
@settings(BASE, max_examples=2)
@given(seed=seeds)
def test_deep_chain_matches_reference(seed: int) -> None:
    """3000 members, each sponsored by and placed under the one before (random legs, random statuses)."""
    rng = random.Random(seed)
    n = 3000
    chain = [None, *range(n - 1)]
    legs = [None, *(rng.choice("LR") for _ in range(n - 1))]
    company = company_of(rng, chain, chain, legs, rng.choice(("int", "str")), shuffle=rng.random() < 0.5)
    run_periods(rng, company, random_plan(rng, rich=True), 2)


def heap_placement(n: int) -> tuple[list, list]:
    """Rows placed breadth first: row i under (i - 1) // 2, on L for odd i."""
    placement = [None, *((i - 1) // 2 for i in range(1, n))]
    legs = [None, *("L" if i % 2 else "R" for i in range(1, n))]
    return placement, legs


@pytest.mark.slow
@settings(BASE, max_examples=25)
@given(seed=seeds)
def test_star_matches_reference(seed: int) -> None:
    """The root sponsors everyone (one sponsor leg per member); placement breadth first or a random sound
    tree's."""
    rng = random.Random(seed)
    n = rng.randint(200, 1500)
    if rng.random() < 0.5:
        placement, legs = heap_placement(n)
    else:
        _, placement, legs = sound_tree(rng, n)
    sponsor = [None, *([0] * (n - 1))]
    company = company_of(rng, sponsor, placement, legs, rng.choice(("int", "str")), shuffle=rng.random() < 0.5)
    run_periods(rng, company, random_plan(rng, rich=rng.random() < 0.7), 2)


def string_ids(rng: random.Random, table: pa.Table) -> pa.Table:
    """``table`` with its id columns as text, each a string, large_string or dictionary column."""
    for name in ("member_id", "sponsor_id", "placement_id"):
        if name in table.column_names:
            column = table.column(name).cast(pa.string())
            how = rng.choice(("string", "large", "dictionary"))
            if how == "large":
                column = column.cast(pa.large_string())
            elif how == "dictionary":
                column = column.dictionary_encode()
            table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


@settings(BASE, max_examples=200)
@given(seed=seeds)
def test_int_and_string_ids_give_identical_results(seed: int) -> None:
    """The same company with int64 ids and with their text as string ids (in any string column type)."""
    rng = random.Random(seed)
    company = random_company(rng, "int")
    plan_text = random_plan(rng)
    note(f"plan:\n{plan_text}\nmembers: {company.members()}")
    plan = mlm_core.Plan.from_toml(plan_text)
    g_int = company.genealogy()
    g_str = mlm_core.Genealogy.from_arrow(string_ids(rng, company.table()))
    state_int, _ = random_state(rng, company, list(plan.rank_names))
    state_str = None if state_int is None else string_ids(rng, state_int)
    for period in PERIODS[:2]:
        volumes = volume_table(random_volumes(rng, company.member_id), company, period, False)
        r_int = mlm_core.run_period(plan, g_int, volumes, period=period, state=state_int)
        r_str = mlm_core.run_period(plan, g_str, string_ids(rng, volumes), period=period, state=state_str)
        as_text = [str(m) for m in r_int.lines.column("member_id").to_pylist()]
        assert r_str.lines.column("member_id").to_pylist() == as_text
        assert r_str.lines.drop_columns(["member_id"]).equals(r_int.lines.drop_columns(["member_id"]))
        assert r_str.ranks.column("member_id").to_pylist() == [str(m) for m in company.member_id]
        assert r_str.ranks.drop_columns(["member_id"]).equals(r_int.ranks.drop_columns(["member_id"]))
        assert r_str.summary.equals(r_int.summary)
        str_state = {r.pop("member_id"): r for r in r_str.state.to_pylist()}
        int_state = {str(r.pop("member_id")): r for r in r_int.state.to_pylist()}
        assert str_state == int_state
        state_int, state_str = r_int.state, r_str.state


@pytest.mark.parametrize(
    ("member_ids", "state_ids"),
    [
        (pa.array([1, 2]), pa.array([2])),
        (pa.array([1, 2]), pa.array([2], pa.int32())),
        (pa.array(["a", "b"]), pa.array(["b"], pa.large_string())),
        (pa.array(["a", "b"], pa.large_string()), pa.array(["b"])),
        (pa.array(["a", "b"]).dictionary_encode(), pa.array(["b"])),
    ],
    ids=["int64-int64", "int64-int32", "string-large_string", "large_string-string", "dictionary-string"],
)
@pytest.mark.parametrize("plan_text", ["[binary]\nrate_bp = 0\n", "[unilevel]\nrates_bp = [1000]\n"],
                         ids=["binary", "no-binary"])
def test_state_ids_of_another_type(member_ids: pa.Array, state_ids: pa.Array, plan_text: str) -> None:
    """A state whose member_id column has another integer or string type than the genealogy's ids: a plan
    without [binary] passes its carries on unchanged, one with [binary] (rate 0) keeps them too."""
    first, second = member_ids.to_pylist()  # second is sponsored by and placed under first
    parents = pa.array([None, first], pa.int64() if member_ids.type == pa.int64() else pa.string())
    g = mlm_core.Genealogy.from_arrow(pa.table({
        "member_id": member_ids, "sponsor_id": parents, "placement_id": parents,
        "leg": pa.array([None, "L"], pa.string()), "status": ["active", "active"],
    }))
    volumes = pa.table({"member_id": pa.array([], g.member_ids.type),
                        "pv": pa.array([], pa.int64()), "bv": pa.array([], pa.int64())})
    state = pa.table({"member_id": state_ids, CARRY_LEFT: [5], CARRY_RIGHT: [-3]})
    result = mlm_core.run_period(mlm_core.Plan.from_toml(plan_text), g, volumes, period=PERIODS[0], state=state)
    assert state_view(result.state, [first, second])["carry"] == {first: (0, 0), second: (5, -3)}
