"""The live projection (issue 11, first step): snapshots against run_period over the same events replayed
by hand, idempotency by event_id, and a reason for every rejected event."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlm_core import AmountOverflowError, Genealogy, InputError, Plan, run_period, synth
from mlm_core.projection import Projection

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"


@pytest.fixture(scope="module")
def company() -> tuple[pa.Table, Genealogy]:
    members = synth.network(400, seed=5)
    return members, Genealogy.from_arrow(members)


def _events(rng: random.Random, ids: list[str], plan: Plan, count: int, start: int) -> list[dict[str, Any]]:
    """Random events of every kind the projection applies; every volume column of the plan on orders."""
    events = []
    for i in range(count):
        kind = rng.choice(["order", "order", "order", "return", "status", "rank_override", "tier"])
        event: dict[str, Any] = {"event_id": f"E{start + i}", "kind": kind, "member_id": rng.choice(ids)}
        if kind in ("order", "return"):
            event["pv"] = rng.choice([0, 2500, 5000, 10000, 20000])
            event["bv"] = event["pv"] * 4 // 5
            for column in plan.volume_columns[2:]:
                event[column] = rng.choice([0, 100, 5000])
        elif kind == "status":
            event["status"] = rng.choice(["active", "inactive", "suspended"])
        elif kind == "rank_override":
            event["rank_override"] = rng.choice([None, *plan.rank_names])
        else:
            event["tier"] = rng.choice([None, *plan.tiers]) if plan.tiers else None
        events.append(event)
    return events


def _table(events: list[dict[str, Any]], plan: Plan | None = None) -> pa.Table:
    volume = plan.volume_columns if plan else ("pv", "bv")
    columns = ("event_id", "kind", "member_id", *volume, "status", "tier", "rank_override")
    types = {c: pa.int64() for c in volume}
    return pa.table({c: pa.array([e.get(c) for e in events], types.get(c, pa.string())) for c in columns})


def _replayed(events: list[dict[str, Any]], plan: Plan) -> tuple[pa.Table, pa.Table]:
    """What run_period takes for the same events, built by hand: one volume row per order (a return as a
    negative row), and each member's last status, tier and rank override."""
    orders = [e for e in events if e["kind"] in ("order", "return")]
    sign = [-1 if e["kind"] == "return" else 1 for e in orders]
    volumes = pa.table({"member_id": pa.array([e["member_id"] for e in orders], pa.string()),
                        **{c: pa.array([e[c] * s for e, s in zip(orders, sign, strict=True)], pa.int64())
                           for c in plan.volume_columns}})
    last: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["kind"] == "status":
            last.setdefault(e["member_id"], {})["status"] = "active" if e["status"] == "active" else "inactive"
        elif e["kind"] in ("tier", "rank_override"):
            last.setdefault(e["member_id"], {})[e["kind"]] = e[e["kind"]]
    ids = sorted(last)
    attributes = {"member_id": pa.array(ids, pa.string()),
                  "status": pa.array([last[m].get("status") for m in ids], pa.string()),
                  "rank_override": pa.array([last[m].get("rank_override") for m in ids], pa.string())}
    if plan.tiers:
        attributes["tier"] = pa.array([last[m].get("tier") for m in ids], pa.string())
    return volumes, pa.table(attributes)


@pytest.mark.parametrize("plan_file", ["example-plan.toml", "example-plan-v2.toml"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshot_equals_run_period_over_the_same_events(company: tuple[pa.Table, Genealogy],
                                                         plan_file: str, seed: int) -> None:
    members, genealogy = company
    plan = Plan.from_toml(SPEC / plan_file)
    rng = random.Random(seed)
    ids = members.column("member_id").to_pylist()
    live = Projection(plan, genealogy, period="2026-11")
    applied: list[dict[str, Any]] = []
    for batch in range(4):
        events = _events(rng, ids, plan, rng.randint(1, 300), start=1000 * batch)
        live.apply(_table(events, plan))
        assert live.rejected.num_rows == 0
        applied += events
        volumes, attributes = _replayed(applied, plan)
        expected = run_period(plan, genealogy, volumes, period="2026-11", attributes=attributes)
        got = live.snapshot()
        assert got.lines.equals(expected.lines)
        assert got.ranks.equals(expected.ranks)
        assert got.state.equals(expected.state)
        assert got.summary.equals(expected.summary)
    assert live.seq == len(applied)


def test_repeated_event_ids_and_bad_events(company: tuple[pa.Table, Genealogy]) -> None:
    _, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="2026-11")
    first = [{"event_id": "A", "kind": "order", "member_id": "M00000002", "pv": 5000, "bv": 4000}]
    assert live.apply(_table(first)) == 1
    assert live.apply(_table(first)) == 1 and live.rejected.num_rows == 0  # the same event again: no-op
    batch = [
        {"event_id": "A", "kind": "order", "member_id": "M00000002", "pv": 9999, "bv": 4000},  # other fields
        {"event_id": None, "kind": "order", "member_id": "M00000002", "pv": 1, "bv": 1},
        {"event_id": "B", "kind": "refund", "member_id": "M00000002"},
        {"event_id": "C", "kind": "order", "member_id": "NOBODY", "pv": 1, "bv": 1},
        {"event_id": "D", "kind": "order", "member_id": "M00000003", "pv": -5, "bv": 1},
        {"event_id": "E", "kind": "status", "member_id": "M00000003"},
        {"event_id": "F", "kind": "rank_override", "member_id": "M00000003", "rank_override": "Emperor"},
        {"event_id": "G", "kind": "join", "member_id": "M99999999"},
        {"event_id": "H", "kind": "order", "member_id": "M00000004", "pv": 2500, "bv": 2000},
        {"event_id": "H", "kind": "order", "member_id": "M00000004", "pv": 2500, "bv": 2000},  # repeat in batch
    ]
    assert live.apply(_table(batch)) == 2  # only H is applied
    rejected = live.rejected.to_pylist()
    assert [r["row"] for r in rejected] == list(range(8))
    reasons = [r["reason"] for r in rejected]
    assert "applied (seq 1) with other fields" in reasons[0]
    assert reasons[1] == "event_id is null"
    assert "kind 'refund'" in reasons[2]
    assert "'NOBODY' is no member" in reasons[3]
    assert "negative pv" in reasons[4]
    assert reasons[5] == "status event without a status"
    assert "'Emperor' is no rank" in reasons[6]
    assert "needs a sponsor who is a member" in reasons[7]
    volumes = pa.table({"member_id": ["M00000002", "M00000004"], "pv": [5000, 2500], "bv": [4000, 2000]})
    assert live.snapshot().lines.equals(run_period(plan, genealogy, volumes, period="2026-11").lines)
    row = live.member("M00000004")
    assert row["as_of"] == 2 and row["member_id"] == "M00000004"


def test_a_total_that_would_leave_int64_is_rejected_and_the_rest_applied(
        company: tuple[pa.Table, Genealogy]) -> None:
    _, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="2026-11")
    big = 2**63 - 10
    assert live.apply(_table([{"event_id": "A", "kind": "order", "member_id": "M00000005", "pv": big, "bv": 0}])) == 1
    batch = [
        {"event_id": "B", "kind": "order", "member_id": "M00000005", "pv": 5, "bv": 0},   # big + 5: fits
        {"event_id": "C", "kind": "order", "member_id": "M00000005", "pv": 5, "bv": 0},   # big + 10: does not
        {"event_id": "C", "kind": "order", "member_id": "M00000005", "pv": 5, "bv": 0},   # its repeat
        {"event_id": "D", "kind": "return", "member_id": "M00000005", "pv": 7, "bv": 0},  # big - 2
        {"event_id": "E", "kind": "order", "member_id": "M00000006", "pv": 100, "bv": 80},
    ]
    assert live.apply(_table(batch)) == 4  # A, B, D, E
    rejected = live.rejected.to_pylist()
    assert [(r["row"], r["event_id"]) for r in rejected] == [(1, "C"), (2, "C")]
    assert rejected[0]["reason"] == "it would take the pv total of member 'M00000005' out of int64"
    assert rejected[1]["reason"] == rejected[0]["reason"]
    # The totals fit, but their group PV does not: the snapshot fails as run_period does on those volumes.
    volumes = pa.table({"member_id": ["M00000005", "M00000006"], "pv": [big + 5 - 7, 100], "bv": [0, 80]})
    with pytest.raises(AmountOverflowError) as expected:
        run_period(plan, genealogy, volumes, period="2026-11")
    with pytest.raises(AmountOverflowError) as got:
        live.snapshot()
    assert str(got.value) == str(expected.value)


def test_found_in_review(company: tuple[pa.Table, Genealogy]) -> None:
    """Inputs a review found mishandled: each now as run_period or the issue expects."""
    _, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="2026-11")
    # An empty batch applies nothing.
    assert live.apply(_table([])) == 0 and live.rejected.num_rows == 0
    # A resend that spells an absent amount as 0, or adds a field its kind does not use, is the same event.
    assert live.apply(pa.table({"event_id": ["S"], "kind": ["status"], "member_id": ["M00000002"],
                                "status": ["active"]})) == 1
    assert live.apply(_table([{"event_id": "S", "kind": "status", "member_id": "M00000002", "status": "active",
                               "pv": 0, "bv": 0}])) == 1
    assert live.rejected.num_rows == 0
    # An event rejected for one column's total does not count toward another column's.
    most = 2**63 - 1
    assert live.apply(_table([{"event_id": "P", "kind": "order", "member_id": "M00000007", "pv": 0, "bv": most}])) == 2
    assert live.apply(_table([
        {"event_id": "Q", "kind": "order", "member_id": "M00000007", "pv": 2**62, "bv": 1},  # bv out
        {"event_id": "R", "kind": "order", "member_id": "M00000007", "pv": 2**62, "bv": 0},  # pv 2**62: fits
    ])) == 3
    assert live.rejected.column("event_id").to_pylist() == ["Q"]
    # A total of exactly -2**63 is in int64, as run_period takes it.
    assert live.apply(_table([{"event_id": f"T{i}", "kind": "return", "member_id": "M00000008", "pv": pv, "bv": 0}
                              for i, pv in enumerate([most, 1])])) == 5
    assert live.rejected.num_rows == 0
    # Constructor attributes are checked as run_period checks them.
    for bad in ({"member_id": ["M00000002"], "rank_override": ["Emperor"]},
                {"member_id": ["M00000002", "M00000002"], "status": ["active", "inactive"]},
                {"member_id": ["M00000002"], "colour": ["red"]}):
        with pytest.raises(InputError):
            run_period(plan, genealogy, _replayed([], plan)[0], period="2026-11", attributes=pa.table(bad))
        with pytest.raises(InputError):
            Projection(plan, genealogy, period="2026-11", attributes=pa.table(bad))


def test_constructor_attributes_and_state_carry_into_the_snapshot(company: tuple[pa.Table, Genealogy]) -> None:
    """Attributes given up front, then changed by events (a null tier clears one), and a previous period's
    state: the snapshot equals run_period over the merged attributes and that state."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan-v2.toml")
    ids = members.column("member_id").to_pylist()
    volume = {c: 300_000 for c in plan.volume_columns}
    everyone = [{"event_id": f"p{i}", "kind": "order", "member_id": m, **volume} for i, m in enumerate(ids)]
    earlier = Projection(plan, genealogy, period="2026-10")
    earlier.apply(_table(everyone, plan))
    state = earlier.snapshot().state
    given = pa.table({"member_id": ids[1:4], "status": ["inactive", "inactive", "active"],
                      "tier": ["Pro", "Pro", None]})
    live = Projection(plan, genealogy, period="2026-11", state=state, attributes=given)
    live.apply(_table([{"event_id": "o", "kind": "order", "member_id": ids[1], **volume},
                       {"event_id": "t", "kind": "tier", "member_id": ids[1], "tier": None},
                       {"event_id": "s", "kind": "status", "member_id": ids[2], "status": "active"}], plan))
    assert live.rejected.num_rows == 0
    merged = pa.table({"member_id": ids[1:4], "status": ["inactive", "active", "active"], "tier": [None, "Pro", None]})
    volumes = pa.table({"member_id": [ids[1]], **{c: [300_000] for c in plan.volume_columns}})
    expected = run_period(plan, genealogy, volumes, period="2026-11", state=state, attributes=merged)
    got = live.snapshot()
    assert got.lines.equals(expected.lines) and got.ranks.equals(expected.ranks)
    assert got.state.equals(expected.state) and got.summary.equals(expected.summary)
    assert got.lines.num_rows > 0  # the carried state pays: the comparison is not between empty periods


def _rank_index(plan: Plan, name: str) -> int:
    return plan.rank_names.index(name)


@pytest.mark.parametrize("plan_file", ["example-plan.toml", "example-plan-v2.toml"])
def test_member_figures_match_the_snapshot_and_the_genealogys_rollups(company: tuple[pa.Table, Genealogy],
                                                                      plan_file: str) -> None:
    """member() against independent figures: lines and ranks of the snapshot, own volumes replayed by hand,
    group PV and leg volumes from the genealogy's rollups, carries of the snapshot's state, and the legs a
    rank counts from a max-rollup of paid-as ranks."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / plan_file)
    rng = random.Random(7)
    ids = members.column("member_id").to_pylist()
    earlier = Projection(plan, genealogy, period="2026-10")
    earlier.apply(_table(_events(rng, ids, plan, 600, start=0), plan))
    state = earlier.snapshot().state
    live = Projection(plan, genealogy, period="2026-11", state=state)
    events = _events(rng, ids, plan, 900, start=10_000)
    live.apply(_table(events, plan))
    snap = live.snapshot()
    volumes, _ = _replayed(events, plan)
    own = {c: dict.fromkeys(ids, 0) for c in plan.volume_columns}
    for row in volumes.to_pylist():
        for c in plan.volume_columns:
            own[c][row["member_id"]] += row[c]
    pv = [own["pv"][m] for m in ids]
    group = genealogy.rollup(pv).to_pylist()
    compiled = dict(zip(plan.bonus_names, plan._compiled["bonuses"], strict=True))
    binaries = [b.name for b in plan.bonuses if b.type == "binary"]
    legs = {b: genealogy.leg_volumes([own[plan.volume_columns[compiled[b]["base"]]][m] for m in ids]).to_pylist()
            for b in binaries}
    paid = [_rank_index(plan, r) for r in snap.ranks.column("paid_as_rank").to_pylist()]
    best = genealogy.rollup(paid, op="max").to_pylist()
    lines = snap.lines.to_pylist()
    prior = {r["member_id"]: r for r in state.to_pylist()}
    after = {r["member_id"]: r for r in snap.state.to_pylist()}
    ranks = {r["member_id"]: r for r in snap.ranks.to_pylist()}
    needs_gv = any(r["min_gv"] is not None for r in plan._compiled["ranks"])
    for row, m in enumerate(ids):
        got = live.member(m)
        assert got["as_of"] == live.seq
        assert got["lines"] == {x["bonus"]: x["amount"] for x in lines if x["member_id"] == m}
        assert (got["paid_as_rank"], got["highest_rank"]) == (ranks[m]["paid_as_rank"], ranks[m]["highest_rank"])
        assert got["volumes"] == {c: own[c][m] for c in plan.volume_columns}
        assert got["group_pv"] == (group[row] if needs_gv else None)
        for b in binaries:
            carry_in = (prior[m].get(f"{b}.carry_left", 0), prior[m].get(f"{b}.carry_right", 0))
            assert got["legs"][b] == {"left": carry_in[0] + legs[b][row]["left"],
                                      "right": carry_in[1] + legs[b][row]["right"],
                                      "carry_left": after[m][f"{b}.carry_left"],
                                      "carry_right": after[m][f"{b}.carry_right"]}
        nxt = got["next_rank"]
        if nxt is not None:
            children = genealogy.children(m).to_pylist()
            target = _rank_index(plan, nxt["rank"])
            assert target > paid[row]
            rule = plan._compiled["ranks"][target]
            if rule["legs"]:
                held = sum(best[ids.index(c)] >= rule["leg_rank"] for c in children)
                assert nxt["legs"] == max(0, rule["legs"] - held)


def test_next_rank_shortfall_is_exactly_what_closes_the_gap(company: tuple[pa.Table, Genealogy]) -> None:
    """For members whose only gap is PV or group PV: adding the larger shortfall to their own PV earns the
    rank named, one less does not (checked by run_period on the changed volumes)."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    rng = random.Random(11)
    ids = members.column("member_id").to_pylist()
    events = [e for e in _events(rng, ids, plan, 1500, start=0) if e["kind"] in ("order", "return")]
    events = [{**e, "kind": "order"} for e in events]
    live = Projection(plan, genealogy, period="2026-11")
    live.apply(_table(events, plan))
    checked = 0
    for m in ids:
        got = live.member(m)
        nxt = got["next_rank"]
        if nxt is None or nxt["status"] or nxt["legs"] or not (nxt["pv"] or nxt["group_pv"]):
            continue
        extra = max(nxt["pv"], nxt["group_pv"])
        for add, reaches in ((extra, True), (extra - 1, False)):
            more = _table([*events, {"event_id": "x", "kind": "order", "member_id": m, "pv": add, "bv": 0}], plan)
            volumes = more.select(["member_id", *plan.volume_columns]).cast(
                pa.schema([("member_id", pa.string()), *[(c, pa.int64()) for c in plan.volume_columns]]))
            volumes = pa.table({c: [v or 0 for v in volumes.column(c).to_pylist()] if c != "member_id"
                                else volumes.column(c) for c in volumes.column_names})
            result = run_period(plan, genealogy, volumes, period="2026-11")
            rank = result.ranks.filter(pa.compute.equal(result.ranks.column("member_id"), m)).to_pylist()[0]
            assert (_rank_index(plan, rank["paid_as_rank"]) >= _rank_index(plan, nxt["rank"])) is reaches, (m, nxt, add)
        checked += 1
        if checked == 12:
            break
    assert checked >= 5


def _free_slots(table: pa.Table) -> list[tuple[str, str]]:
    taken = {(r["placement_id"], r["leg"]) for r in table.to_pylist() if r["placement_id"] is not None}
    return [(m, leg) for m in table.column("member_id").to_pylist() for leg in "LR" if (m, leg) not in taken]


@pytest.mark.parametrize("seed", [1, 2])
def test_joins_grow_the_genealogy_and_the_snapshot_equals_run_period_on_it(company: tuple[pa.Table, Genealogy],
                                                                          seed: int) -> None:
    _members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    rng = random.Random(seed)
    live = Projection(plan, genealogy, period="2026-11")
    table = genealogy.to_arrow()
    ids = table.column("member_id").to_pylist()
    applied: list[dict[str, Any]] = []
    for batch in range(3):
        events: list[dict[str, Any]] = []
        for i in range(60):
            if rng.random() < 0.3:
                placement, leg = rng.choice(_free_slots(table))
                new = f"N{batch}-{i}"
                join = {"event_id": f"J{batch}-{i}", "kind": "join", "member_id": new,
                        "sponsor_id": rng.choice(ids), "placement_id": placement, "leg": leg,
                        "status": rng.choice(["active", "active", None])}
                events.append(join)
                table = pa.concat_tables([table, pa.Table.from_pylist([{k: join[k] for k in
                                          ("member_id", "sponsor_id", "placement_id", "leg", "status")}],
                                          schema=table.schema)])
                ids.append(new)
            else:
                events.append({"event_id": f"O{batch}-{i}", "kind": "order", "member_id": rng.choice(ids),
                               "pv": rng.choice([2500, 10000, 30000]), "bv": 8000})
        columns = ("event_id", "kind", "member_id", "pv", "bv", "sponsor_id", "placement_id", "leg", "status")
        live.apply(pa.table({c: pa.array([e.get(c) for e in events], pa.int64() if c in ("pv", "bv")
                                          else pa.string()) for c in columns}))
        assert live.rejected.num_rows == 0, live.rejected.to_pylist()
        applied += events
        grown = Genealogy.from_arrow(table)
        orders = [e for e in applied if e["kind"] == "order"]
        volumes = pa.table({"member_id": [e["member_id"] for e in orders], "pv": [e["pv"] for e in orders],
                            "bv": [e["bv"] for e in orders]})
        expected = run_period(plan, grown, volumes, period="2026-11")
        got = live.snapshot()
        assert len(live.genealogy) == len(grown)
        assert got.lines.equals(expected.lines) and got.ranks.equals(expected.ranks)
        assert got.summary.equals(expected.summary)
        newest = ids[-1]
        assert live.member(newest)["member_id"] == newest


def test_bad_joins_are_rejected_with_their_reason(company: tuple[pa.Table, Genealogy]) -> None:
    _members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="2026-11")
    (free, leg), *_ = _free_slots(genealogy.to_arrow())
    taken = genealogy.to_arrow().slice(1, 1).to_pylist()[0]
    rows = [
        ("o0", "order", "NEW1", None, None, None),          # before NEW1 joins
        ("j1", "join", "NEW1", "M00000001", free, leg),     # fine
        ("o1", "order", "NEW1", None, None, None),          # after: applies
        ("j1", "join", "NEW1", "M00000001", free, leg),     # resent: a no-op
        ("j2", "join", "NEW1", "M00000001", free, leg),     # another event for the same member
        ("j3", "join", "NEW2", "NOBODY", free, leg),
        ("j4", "join", "NEW3", "M00000001", "NOBODY", "L"),
        ("j5", "join", "NEW4", "M00000001", taken["placement_id"], taken["leg"]),
        ("j6", "join", "NEW5", "M00000001", "NEW1", "X"),
        ("j7", "join", "NEW6", "NEW1", "NEW1", "L"),        # sponsored and placed under a member of this batch
        ("j8", "join", "NEW7", "NEW1", "NEW1", "L"),        # that slot was just taken
    ]
    table = pa.table({"event_id": [r[0] for r in rows], "kind": [r[1] for r in rows],
                      "member_id": [r[2] for r in rows], "pv": [100 if r[1] == "order" else None for r in rows],
                      "bv": [80 if r[1] == "order" else None for r in rows], "sponsor_id": [r[3] for r in rows],
                      "placement_id": [r[4] for r in rows], "leg": [r[5] for r in rows]})
    assert live.apply(table) == 3  # j1, o1, j7
    reasons = {r["event_id"]: r["reason"] for r in live.rejected.to_pylist()}
    assert set(reasons) == {"o0", "j2", "j3", "j4", "j5", "j6", "j8"}
    assert "joins later in this batch (row 1)" in reasons["o0"]
    assert "already a member" in reasons["j2"]
    assert "sponsor_id 'NOBODY'" in reasons["j3"]
    assert "placement_id 'NOBODY'" in reasons["j4"]
    assert "slot under" in reasons["j5"] and "taken" in reasons["j5"]
    assert "leg 'X'" in reasons["j6"]
    assert "slot under 'NEW1' is taken" in reasons["j8"]
    assert live.member("NEW1")["volumes"]["pv"] == 100 and len(live.genealogy) == len(genealogy) + 2


def test_readers_never_see_half_a_batch(company: tuple[pa.Table, Genealogy]) -> None:
    """A writer applies batches of 50 orders of 1 PV each to one member while a recomputing thread
    publishes and readers ask: every answer's PV is its as_of (the member's events are all its events),
    and as_of is always at a batch boundary."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="2026-11")
    target = members.column("member_id")[3].as_py()
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            got = live.member(target)
            seen.append((got["as_of"], got["volumes"]["pv"]))
            time.sleep(0.0002)  # a paced reader: one spinning on the GIL would starve the writer

    with live.start():
        readers = [threading.Thread(target=read) for _ in range(3)]
        for r in readers:
            r.start()
        for b in range(40):
            live.apply(_table([{"event_id": f"{b}-{i}", "kind": "order", "member_id": target, "pv": 1, "bv": 1}
                               for i in range(50)]))
        done.set()
        for r in readers:
            r.join()
    assert seen and all(pv == as_of and as_of % 50 == 0 for as_of, pv in seen)
    assert len({as_of for as_of, _ in seen}) > 1  # the readers saw the projection move
    live.refresh()
    assert live.member(target)["as_of"] == 2000


_WRITER = """
import sys, pyarrow as pa
from mlm_core import Genealogy, Plan, Store, synth
from mlm_core.projection import Projection
plan = Plan.from_toml(sys.argv[2])
members = synth.network(400, seed=5)
live = Projection(plan, Genealogy.from_arrow(members), period="2026-11", store=Store(sys.argv[1]))
ids = members.column("member_id").to_pylist()
for b in range(10_000):
    live.apply(pa.table({"event_id": [f"{b}-{i}" for i in range(20)], "kind": ["order"] * 20,
                         "member_id": [ids[(b * 7 + i) % len(ids)] for i in range(20)],
                         "pv": [100 + i for i in range(20)], "bv": [80] * 20}))
    print(b, flush=True)
"""


def test_a_process_killed_mid_stream_restarts_from_the_store(company: tuple[pa.Table, Genealogy],
                                                             tmp_path: Path) -> None:
    """A writer process appends batches through its store and is killed with SIGKILL; a projection
    built on the same store replays them and equals run_period over every batch the store holds, which
    includes every batch the writer reported applied."""
    members, genealogy = company
    plan_file = SPEC / "example-plan.toml"
    path = tmp_path / "live.duckdb"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(plan_file)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    reported = -1
    for line in child.stdout:
        reported = int(line)
        if reported >= 30:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    plan = Plan.from_toml(plan_file)
    from mlm_core import Store
    with Store(path) as store:
        live = Projection(plan, genealogy, period="2026-11", store=store)
        batches = live.seq // 20
        assert batches >= reported + 1 and live.seq % 20 == 0
        ids = members.column("member_id").to_pylist()
        volumes = pa.table({"member_id": [ids[(b * 7 + i) % len(ids)] for b in range(batches) for i in range(20)],
                            "pv": [100 + i for _ in range(batches) for i in range(20)],
                            "bv": [80] * (20 * batches)})
        expected = run_period(plan, genealogy, volumes, period="2026-11")
        got = live.snapshot()
        assert got.lines.equals(expected.lines) and got.ranks.equals(expected.ranks)
        # Resending a stored event after the restart is a no-op; the next batch goes on from there.
        assert live.apply(pa.table({"event_id": ["0-0"], "kind": ["order"], "member_id": [ids[0]],
                                    "pv": [100], "bv": [80]})) == live.seq and live.rejected.num_rows == 0
    with Store(path) as store:  # and a second restart sees the same
        assert Projection(plan, genealogy, period="2026-11", store=store).seq == batches * 20


def test_each_writer_thread_sees_its_own_rejections(company: tuple[pa.Table, Genealogy]) -> None:
    _, genealogy = company
    live = Projection(Plan.from_toml(SPEC / "example-plan.toml"), genealogy, period="2026-11")
    results: dict[str, list[str]] = {}

    def write(name: str) -> None:
        for k in range(30):
            live.apply(_table([{"event_id": f"{name}{k}", "kind": "order", "member_id": "M00000002", "pv": 1, "bv": 1},
                               {"event_id": f"{name}-bad{k}", "kind": "order", "member_id": f"NOBODY-{name}"}]))
            results.setdefault(name, []).extend(live.rejected.column("event_id").to_pylist())

    threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: [f"{n}-bad{k}" for k in range(30)] for n in ("a", "b")}
    assert live.seq == 60 and live.rejected.num_rows == 0  # this thread applied nothing


def _rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = sorted({k for r in rows for k in r})
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.int64() if c in ("pv", "bv") else pa.string())
                     for c in columns})


def test_found_in_the_second_review(company: tuple[pa.Table, Genealogy]) -> None:
    """Each case a review of the live core reproduced, now as the issue expects."""
    members, genealogy = company
    ids = members.column("member_id").to_pylist()
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    (free, leg), *_ = _free_slots(genealogy.to_arrow())
    join = {"kind": "join", "member_id": "NEW1", "sponsor_id": "M00000001", "placement_id": free, "leg": leg,
            "status": "active"}
    # 1. A join reusing the id of an earlier event of its batch adds no member.
    live = Projection(plan, genealogy, period="p")
    live.apply(_rows_table([{"event_id": "X", "kind": "order", "member_id": ids[1], "pv": 100, "bv": 100},
                            {"event_id": "X", **join},
                            {"event_id": "Y", "kind": "order", "member_id": "NEW1", "pv": 200, "bv": 200}]))
    reasons = dict(zip(live.rejected.column("event_id").to_pylist(), live.rejected.column("reason").to_pylist(),
                       strict=True))
    assert "also row 0 of this batch" in reasons["X"] and "no member" in reasons["Y"]
    assert len(live.genealogy) == len(genealogy) and live.seq == 1
    assert live.apply(_rows_table([{"event_id": "J", **join}])) == 2 and len(live.genealogy) == len(genealogy) + 1
    # 4. A resent join with another sponsor (unknown or null) conflicts; 6. so does one for another member.
    for other in ({"sponsor_id": "NOBODY"}, {"sponsor_id": None}, {"member_id": "NEW2"}):
        live.apply(_rows_table([{"event_id": "J", **join, **other}]))
        assert live.rejected.column("reason").to_pylist() == ["event_id 'J' was applied (seq 2) with other fields"]
    live.apply(_rows_table([{"event_id": "J", **join}]))
    assert live.rejected.num_rows == 0  # the same join again: a no-op
    # 2. A state given as a one-shot stream still counts after a join.
    state = pa.table({"member_id": ids, "highest_rank": ["Silver"] * len(ids),
                      "binary.carry_left": [30000] * len(ids), "binary.carry_right": [20000] * len(ids)})
    stream = pa.RecordBatchReader.from_batches(state.schema, state.to_batches())
    live = Projection(plan, genealogy, period="p", state=stream)
    orders = [{"event_id": f"o{i}", "kind": "order", "member_id": m, "pv": 20000, "bv": 20000}
              for i, m in enumerate(ids[:60])]
    live.apply(_rows_table([*orders, {"event_id": "j", **join}]))
    grown = Genealogy.from_arrow(pa.concat_tables([members.select(["member_id", "sponsor_id", "placement_id", "leg",
                                                                   "status"]),
                                                   pa.table({k: [join[k]] for k in ("member_id", "sponsor_id",
                                                             "placement_id", "leg", "status")})]))
    volumes = pa.table({"member_id": ids[:60], "pv": [20000] * 60, "bv": [20000] * 60})
    expected = run_period(plan, grown, volumes, period="p", state=state)
    got = live.snapshot()
    assert got.lines.equals(expected.lines) and got.state.equals(expected.state)
    assert live.member(ids[0])["lines"] == {x["bonus"]: x["amount"] for x in expected.lines.to_pylist()
                                            if x["member_id"] == ids[0]}
    # 6. A join whose id cannot be read as the member id type says so.
    numeric = Genealogy.from_arrow(pa.table({"member_id": [1, 2], "sponsor_id": [None, 1], "placement_id": [None, 1],
                                             "leg": [None, "L"], "status": ["active", "active"]}))
    small = Projection(plan, numeric, period="p")
    small.apply(pa.table({"event_id": ["a"], "kind": ["join"], "member_id": ["abc"], "sponsor_id": ["1"],
                          "placement_id": ["1"], "leg": ["R"]}))
    assert "member_id 'abc' cannot be read as a member id (int64)" in small.rejected.column("reason")[0].as_py()


def test_next_rank_is_none_under_a_rank_override(company: tuple[pa.Table, Genealogy]) -> None:
    _, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan-v2.toml")
    live = Projection(plan, genealogy, period="p")
    zero = {c: 0 for c in plan.volume_columns}
    live.apply(_table([{"event_id": "o", "kind": "order", "member_id": "M00000011", **zero, "pv": 2_500_000},
                       {"event_id": "r", "kind": "rank_override", "member_id": "M00000011",
                        "rank_override": "Associate"}], plan))
    got = live.member("M00000011")
    assert got["paid_as_rank"] == "Associate" and got["next_rank"] is None
    live.apply(_table([{"event_id": "r2", "kind": "rank_override", "member_id": "M00000011",
                        "rank_override": None}], plan))
    assert live.member("M00000011")["next_rank"] is not None or live.member("M00000011")["paid_as_rank"] != "Associate"


def test_a_failing_recomputation_keeps_the_last_view_and_the_thread(company: tuple[pa.Table, Genealogy]) -> None:
    """Two members' PV that fits alone but not as their sponsor's group PV: the recomputing thread keeps
    the last view, says why, and recomputes again once returns bring the total back."""
    _members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="p")
    kids = genealogy.children("M00000001").to_pylist()[:2]
    big = 2**63 - 1
    with live.start():
        live.apply(_table([{"event_id": "a", "kind": "order", "member_id": "M00000003", "pv": 1, "bv": 1}]))
        _wait(lambda: live._core.view_seq() == 1)
        live.apply(_table([{"event_id": f"b{i}", "kind": "order", "member_id": k, "pv": big, "bv": 0}
                           for i, k in enumerate(kids)]))
        _wait(lambda: live.refresh_error is not None)
        assert isinstance(live.refresh_error, AmountOverflowError)
        assert live.member("M00000003")["as_of"] == 1  # the last good view
        live.apply(_table([{"event_id": f"c{i}", "kind": "return", "member_id": k, "pv": big, "bv": 0}
                           for i, k in enumerate(kids)]))
        _wait(lambda: live._core.view_seq() == live.seq)
        assert live.refresh_error is None and live._thread is not None and live._thread.is_alive()


def test_a_failed_recomputation_leaves_no_view_without_its_events(company: tuple[pa.Table, Genealogy]) -> None:
    """A batch whose period fails (a group PV out of int64) also orders for a member later batches never
    touch. After returns mend the total, the views published later, updated ones included, still have
    that order (found in review: the failed recomputation's rows were lost to the view updated next)."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="p")
    kids = genealogy.children("M00000001").to_pylist()[:2]
    big = 2**63 - 1
    assert "M00000300" not in kids and "M00000005" not in kids
    live.apply(_table([{"event_id": "a", "kind": "order", "member_id": "M00000005", "pv": 1, "bv": 1}]))
    live.refresh()
    live.apply(_table([{"event_id": f"b{i}", "kind": "order", "member_id": k, "pv": big, "bv": 0}
                       for i, k in enumerate(kids)]
                      + [{"event_id": "x", "kind": "order", "member_id": "M00000300", "pv": 700, "bv": 600}]))
    assert live.rejected.num_rows == 0
    with pytest.raises(AmountOverflowError):
        live.refresh()
    live.apply(_table([{"event_id": f"c{i}", "kind": "return", "member_id": k, "pv": big, "bv": 0}
                       for i, k in enumerate(kids)]))
    assert live.rejected.num_rows == 0
    for step in range(3):
        live.apply(_table([{"event_id": f"d{step}", "kind": "order", "member_id": "M00000005", "pv": 10, "bv": 10}]))
        live.refresh()
        assert live.member("M00000300")["volumes"] == {"pv": 700, "bv": 600}, step
    assert live.refreshes["updated"] >= 2
    snap = live.snapshot()
    ranks = {r["member_id"]: r["paid_as_rank"] for r in snap.ranks.to_pylist()}
    for m in members.column("member_id").to_pylist():
        assert live.member(m)["paid_as_rank"] == ranks[m]


def _wait(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_event_ids_are_compared_in_nfc(company: tuple[pa.Table, Genealogy]) -> None:
    _, genealogy = company
    live = Projection(Plan.from_toml(SPEC / "example-plan.toml"), genealogy, period="p")
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    live.apply(_table([{"event_id": composed, "kind": "order", "member_id": "M00000002", "pv": 5, "bv": 5}]))
    assert live.apply(_table([{"event_id": decomposed, "kind": "order", "member_id": "M00000002", "pv": 5,
                               "bv": 5}])) == 1


def test_no_view_shows_a_joined_member_without_its_batch(company: tuple[pa.Table, Genealogy]) -> None:
    """Batches of (join N_k, order of N_k) beside a thread recomputing in a loop: a view that knows N_k
    always has its order too (the new members and the events reach the kernel in one step)."""
    _, genealogy = company
    plan = Plan.from_toml(SPEC / "example-plan.toml")
    live = Projection(plan, genealogy, period="p")
    done = threading.Event()
    found: list[tuple[int, int, int]] = []

    def recompute_and_read() -> None:
        k = 0
        while not done.is_set():
            live.refresh()
            for j in range(max(0, k - 3), k + 2):
                try:
                    got = live.member(f"N{j}")
                except InputError:
                    continue
                found.append((j, got["as_of"], got["volumes"]["pv"]))
            k = live.seq // 2
            time.sleep(0.001)  # paced: a thread spinning on the GIL would starve the writer

    reader = threading.Thread(target=recompute_and_read)
    reader.start()
    table = genealogy.to_arrow()
    for k in range(40):
        placement, leg = _free_slots(table)[0]
        row = {"member_id": f"N{k}", "sponsor_id": "M00000001", "placement_id": placement, "leg": leg,
               "status": "active"}
        table = pa.concat_tables([table, pa.Table.from_pylist([row], schema=table.schema)])
        live.apply(_rows_table([{"event_id": f"j{k}", "kind": "join", **row},
                                {"event_id": f"o{k}", "kind": "order", "member_id": f"N{k}", "pv": 1, "bv": 1}]))
        assert live.rejected.num_rows == 0
    done.set()
    reader.join()
    assert found and all(pv == 1 and as_of >= 2 * j + 2 for j, as_of, pv in found)


def test_a_store_refuses_a_projection_of_other_volume_columns(company: tuple[pa.Table, Genealogy],
                                                              tmp_path: Path) -> None:
    from mlm_core import Store, StoreError
    _, genealogy = company
    v1, v2 = Plan.from_toml(SPEC / "example-plan.toml"), Plan.from_toml(SPEC / "example-plan-v2.toml")
    with Store(tmp_path / "s.duckdb") as store:
        Projection(v1, genealogy, period="p", store=store).apply(
            _table([{"event_id": "a", "kind": "order", "member_id": "M00000002", "pv": 1, "bv": 1}]))
        with pytest.raises(StoreError, match="has volume columns"):
            Projection(v2, genealogy, period="p", store=store)
        other = Projection(v2, genealogy, period="p", store=store, name="v2")
        zero = {c: 0 for c in v2.volume_columns}
        assert other.apply(_table([{"event_id": "a", "kind": "order", "member_id": "M00000002", **zero}], v2)) == 1
        with pytest.raises(StoreError, match="has volume columns"):
            store._append_events("p", 1, pa.table({"x": [1]}), v2.volume_columns)


@pytest.mark.parametrize("plan_file", ["example-plan.toml", "example-plan-v2.toml"])
def test_updated_views_answer_as_the_snapshot_after_every_batch(company: tuple[pa.Table, Genealogy],
                                                              plan_file: str) -> None:
    """Views brought up to date batch by batch (and computed whole again after a batch with joins) give
    every member the lines, ranks and carries of a snapshot, which is run_period whole: plan v1, and plan
    v2 with its pair caps by tier, rank overrides, differential and rebate."""
    members, genealogy = company
    plan = Plan.from_toml(SPEC / plan_file)
    rng = random.Random(11)
    ids = members.column("member_id").to_pylist()
    earlier = Projection(plan, genealogy, period="2026-10")
    earlier.apply(_table(_events(rng, ids, plan, 500, start=0), plan))
    live = Projection(plan, genealogy, period="2026-11", state=earlier.snapshot().state)
    slots = _free_slots(members)
    for batch in range(7):
        events = _events(rng, ids, plan, rng.randint(1, 120), start=10_000 * (batch + 1))
        if batch == 3:
            joined = []
            for j, (parent, leg) in enumerate(slots[:3]):
                joined.append({"event_id": f"J{j}", "kind": "join", "member_id": f"new{j}", "sponsor_id": parent,
                               "placement_id": parent, "leg": leg, "status": "active"})
                joined.append({"event_id": f"JO{j}", "kind": "order", "member_id": f"new{j}", "pv": 20000,
                               "bv": 16000, **{c: 0 for c in plan.volume_columns[2:]}})
            ids = ids + [f"new{j}" for j in range(3)]
            live.apply(pa.Table.from_pylist(joined))
        live.apply(_table(events, plan))
        assert live.rejected.num_rows == 0
        live.refresh()
        snap = live.snapshot()
        lines: dict[str, dict[str, int]] = {}
        for x in snap.lines.to_pylist():
            lines.setdefault(x["member_id"], {})[x["bonus"]] = x["amount"]
        ranks = {r["member_id"]: r for r in snap.ranks.to_pylist()}
        state = {r["member_id"]: r for r in snap.state.to_pylist()}
        binaries = [b.name for b in plan.bonuses if b.type == "binary"]
        for m in ids:
            got = live.member(m)
            assert got["as_of"] == live.seq
            assert got["lines"] == lines.get(m, {}), (batch, m)
            assert (got["paid_as_rank"], got["highest_rank"]) == (ranks[m]["paid_as_rank"], ranks[m]["highest_rank"])
            for b in binaries:
                assert (got["legs"][b]["carry_left"], got["legs"][b]["carry_right"]) == (
                    state[m][f"{b}.carry_left"], state[m][f"{b}.carry_right"])
    # Whole: the first view and the one after the joins; every other one updated.
    assert live.refreshes == {"whole": 2, "updated": 5}
