"""The live projection (issue 11, first step): snapshots against run_period over the same events replayed
by hand, idempotency by event_id, and a reason for every rejected event."""

from __future__ import annotations

import random
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
