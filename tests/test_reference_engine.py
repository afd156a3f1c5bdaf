"""Hand-checked cases for the plain-Python commission reference (tests/reference_engine.py).

First the specification's worked example, reproduced exactly; then small cases, one rule at a time, whose
expected values are worked out by hand in the comments.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import reference_engine as ref

SPEC_DIR = Path("/work/shared/spec")
EXAMPLE_PLAN = SPEC_DIR / "example-plan.toml"


def members_of(*rows: tuple) -> list[dict]:
    """Rows ``(member_id, sponsor_id, placement_id, leg, status)``."""
    keys = ("member_id", "sponsor_id", "placement_id", "leg", "status")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def volumes_of(*rows: tuple) -> list[dict]:
    """Rows ``(member_id, pv, bv)``."""
    return [{"member_id": m, "pv": pv, "bv": bv} for m, pv, bv in rows]


def lines_of(result: dict, bonus: str) -> dict:
    return {m: amount for m, b, amount in result["lines"] if b == bonus}


# --- the worked example ------------------------------------------------------------------------------


def worked_example() -> dict:
    plan = ref.load_plan(EXAMPLE_PLAN)
    members = members_of(
        ("A", None, None, None, "active"),
        ("B", "A", "A", "L", "active"),
        ("C", "A", "A", "R", "active"),
        ("D", "B", "B", "L", "active"),
        ("E", "B", "B", "R", "active"),
        ("F", "C", "C", "L", "active"),
        ("G", "D", "D", "L", "suspended"),
        ("H", "G", "C", "R", "active"),
    )
    # PV = BV on every row; H has two rows.
    volumes = volumes_of(
        ("A", 12000, 12000),
        ("B", 15000, 15000),
        ("C", 10000, 10000),
        ("D", 30000, 30000),
        ("E", 10000, 10000),
        ("F", 20000, 20000),
        ("G", 40000, 40000),
        ("H", 11000, 11000),
        ("H", -1000, -1000),
    )
    state = {"carry": {"A": (0, 2500), "B": (700, 0)}, "highest": {"C": "Silver"}}
    return ref.run_period_reference(plan, members, volumes, state)


def test_worked_example_lines() -> None:
    result = worked_example()
    assert result["lines"] == [
        ("A", "binary", 4250),
        ("A", "unilevel", 4050),
        ("A", "matching", 160),
        ("B", "binary", 800),  # 1000 capped at Bronze's 800
        ("B", "unilevel", 3500),
        ("C", "unilevel", 1000),
        ("D", "unilevel", 2500),
    ]


def test_worked_example_ranks() -> None:
    result = worked_example()
    assert result["ranks"] == {
        "A": ("Silver", "Silver"),
        "B": ("Bronze", "Bronze"),
        "C": ("Bronze", "Silver"),  # highest Silver comes from the previous state
        "D": ("Bronze", "Bronze"),  # G is suspended, so D has no Bronze leg and misses Silver
        "E": ("Member", "Member"),
        "F": ("Member", "Member"),
        "G": ("Member", "Member"),
        "H": ("Member", "Member"),
    }
    assert result["state"]["highest"] == {m: h for m, (_, h) in result["ranks"].items()}


def test_worked_example_next_state() -> None:
    result = worked_example()
    # A, B, C, D are the spec's. The others, by hand:
    # E, F, H have no placement children (new L = new R = 0) and no previous carry, so L = R = 0; with
    # requires_sponsored_legs they are unqualified (no subtree at all) and "carry" keeps (0, 0).
    # G is suspended (unqualified) with no placement children and no carry: (0, 0).
    assert result["state"]["carry"] == {
        "A": (50000, 0),  # L 95000, R 2500 + 40000: 42500 matched, L 52500 capped at 50000
        "B": (50000, 0),  # L 700 + 70000, R 10000: 10000 matched, L 60700 capped at 50000
        "C": (20000, 10000),  # H (right) is G's recruit, not C's: unqualified, carries
        "D": (40000, 0),  # no right subtree: unqualified, carries
        "E": (0, 0),
        "F": (0, 0),
        "G": (0, 0),
        "H": (0, 0),
    }


def test_worked_example_summary() -> None:
    result = worked_example()
    assert result["summary"] == {
        "total_bv": 12000 + 15000 + 10000 + 30000 + 10000 + 20000 + 40000 + 10000,
        "paid": {"binary": 4250 + 800, "unilevel": 4050 + 3500 + 1000 + 2500, "matching": 160},
        # binary: B's 1000 capped at 800. Unilevel: every share lands on an active upline within its
        # depth (Member uplines E, F, H have no downline; D, B at level <= 2; A Silver: every level).
        # Matching: only B's 800 is non-zero and pays A (Silver, every level).
        "breakage": {"binary": 200, "unilevel": 0, "matching": 0},
    }
    assert ref.payout_ratio(result["summary"]) == Fraction(5050 + 11050 + 160, 147000)


def test_worked_example_row_order_of_volumes_does_not_matter() -> None:
    plan = ref.load_plan(EXAMPLE_PLAN.read_text())  # also from TOML text
    base = worked_example()
    members = members_of(
        ("A", None, None, None, "active"),
        ("B", "A", "A", "L", "active"),
        ("C", "A", "A", "R", "active"),
        ("D", "B", "B", "L", "active"),
        ("E", "B", "B", "R", "active"),
        ("F", "C", "C", "L", "active"),
        ("G", "D", "D", "L", "suspended"),
        ("H", "G", "C", "R", "active"),
    )
    volumes = volumes_of(
        ("H", -1000, -1000), ("G", 40000, 40000), ("F", 20000, 20000), ("E", 10000, 10000),
        ("D", 30000, 30000), ("C", 10000, 10000), ("B", 15000, 15000), ("A", 12000, 12000),
        ("H", 11000, 11000),
    )
    state = {"carry": {"A": (0, 2500), "B": (700, 0)}, "highest": {"C": "Silver"}}
    assert ref.run_period_reference(plan, members, volumes, state) == base


# --- rounding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "floor", "half_up", "half_even"),
    [
        (Fraction(3), 3, 3, 3),
        (Fraction(-3), -3, -3, -3),
        (Fraction(1, 2), 0, 1, 0),
        (Fraction(-1, 2), -1, -1, 0),
        (Fraction(5, 2), 2, 3, 2),
        (Fraction(-5, 2), -3, -3, -2),
        (Fraction(7, 2), 3, 4, 4),
        (Fraction(-7, 2), -4, -4, -4),
        (Fraction(1, 3), 0, 0, 0),
        (Fraction(-1, 3), -1, 0, 0),
        (Fraction(2, 3), 0, 1, 1),
        (Fraction(-2, 3), -1, -1, -1),
        (Fraction(50001, 10000), 5, 5, 5),
        (Fraction(-49999, 10000), -5, -5, -5),
    ],
)
def test_round_amount(value: Fraction, floor: int, half_up: int, half_even: int) -> None:
    assert ref.round_amount(value, "floor") == floor
    assert ref.round_amount(value, "half_up") == half_up
    assert ref.round_amount(value, "half_even") == half_even


def unilevel_one_level(rounding: str, *bvs: int) -> dict:
    """Root R sponsors X1, X2, ...; unilevel 5% on level 1. Returns R's unilevel line (0 if none)."""
    plan = {"plan": {"rounding": rounding}, "unilevel": {"rates_bp": [500]}}
    rows = [("R", None, None, None, "active")]
    sides = iter(["L", "R"])
    placement_parent = "R"
    for i, _ in enumerate(bvs):
        side = next(sides, None)
        if side is None:  # third and later: a chain down R's right leg
            side, placement_parent = "L", f"X{i - 1}"
        rows.append((f"X{i}", "R", placement_parent, side, "active"))
    volumes = volumes_of(*[(f"X{i}", 0, bv) for i, bv in enumerate(bvs)])
    result = ref.run_period_reference(plan, members_of(*rows), volumes, None)
    return lines_of(result, "unilevel").get("R", 0)


@pytest.mark.parametrize(
    ("bv", "floor", "half_up", "half_even"),
    [
        (10, 0, 1, 0),  # 10 * 500 / 10000 = 0.5
        (30, 1, 2, 2),  # 1.5
        (-10, -1, -1, 0),  # -0.5: clawback
        (-50, -3, -3, -2),  # -2.5
        (-30, -2, -2, -2),  # -1.5
        (11, 0, 1, 1),  # 0.55
    ],
)
def test_unilevel_rounding_modes(bv: int, floor: int, half_up: int, half_even: int) -> None:
    assert unilevel_one_level("floor", bv) == floor
    assert unilevel_one_level("half_up", bv) == half_up
    assert unilevel_one_level("half_even", bv) == half_even


def test_unilevel_rounds_once_per_earner() -> None:
    # Two shares of 0.5 each: summed first (1.0), rounded once -> 1, in every mode (per-share floor: 0).
    assert unilevel_one_level("floor", 10, 10) == 1
    assert unilevel_one_level("half_even", 10, 10) == 1
    # 0.5 + 0.5 - 0.5 = 0.5: floor 0, half_up 1, half_even 0.
    assert unilevel_one_level("floor", 10, 10, -10) == 0
    assert unilevel_one_level("half_up", 10, 10, -10) == 1
    assert unilevel_one_level("half_even", 10, 10, -10) == 0


def binary_pay_only(rounding: str, rate_bp: int, left: int, right: int) -> int:
    plan = {"plan": {"rounding": rounding}, "binary": {"rate_bp": rate_bp}}
    members = members_of(
        ("R", None, None, None, "active"), ("A", "R", "R", "L", "active"), ("B", "R", "R", "R", "active")
    )
    volumes = volumes_of(("A", 0, left), ("B", 0, right))
    return lines_of(ref.run_period_reference(plan, members, volumes, None), "binary").get("R", 0)


def test_binary_rounding_modes() -> None:
    # matched 1 at 50%: 0.5; matched 3: 1.5; matched 10 at 33.33%: 3.333.
    assert [binary_pay_only(mode, 5000, 1, 5) for mode in ref.ROUNDING_MODES] == [0, 1, 0]
    assert [binary_pay_only(mode, 5000, 3, 5) for mode in ref.ROUNDING_MODES] == [1, 2, 2]
    assert [binary_pay_only(mode, 3333, 10, 10) for mode in ref.ROUNDING_MODES] == [3, 3, 3]
    assert [binary_pay_only(mode, 6667, 10, 10) for mode in ref.ROUNDING_MODES] == [6, 7, 7]


# --- unilevel: compression, depth ----------------------------------------------------------------------


def chain_plan(**unilevel: object) -> dict:
    return {"activity": {"min_pv": 100}, "unilevel": {"rates_bp": [1000, 500], **unilevel}}


def chain(status_i: str = "inactive", pv_i: int = 100) -> tuple[list[dict], list[dict]]:
    """R <- I <- X in both trees; X has 1000 BV; R and X meet activity.min_pv 100."""
    members = members_of(
        ("R", None, None, None, "active"), ("I", "R", "R", "L", status_i), ("X", "I", "I", "L", "active")
    )
    volumes = volumes_of(("R", 100, 0), ("I", pv_i, 0), ("X", 100, 1000))
    return members, volumes


@pytest.mark.parametrize(("status_i", "pv_i"), [("inactive", 100), ("active", 99), ("terminated", 500)])
def test_compression_skips_inactive_upline(status_i: str, pv_i: int) -> None:
    members, volumes = chain(status_i, pv_i)
    result = ref.run_period_reference(chain_plan(), members, volumes, None)
    # I is not active (status, or PV 99 < activity.min_pv 100): skipped, R takes level 1: 1000 * 10%.
    assert result["lines"] == [("R", "unilevel", 100)]
    assert result["summary"]["breakage"]["unilevel"] == 0


def test_without_compression_inactive_upline_is_breakage() -> None:
    members, volumes = chain()
    result = ref.run_period_reference(chain_plan(compression=False), members, volumes, None)
    # I occupies level 1 (1000 * 10% = 100 broken), R is level 2: 1000 * 5% = 50.
    assert result["lines"] == [("R", "unilevel", 50)]
    assert result["summary"]["breakage"]["unilevel"] == 100
    assert result["summary"]["paid"]["unilevel"] == 50


def test_depth_by_rank_zero_and_one() -> None:
    members, volumes = chain(status_i="active")
    # Everyone is Member. depth 1: I paid level 1 (100), R at level 2 is breakage (50).
    result = ref.run_period_reference(chain_plan(depth_by_rank={"Member": 1}), members, volumes, None)
    assert result["lines"] == [("I", "unilevel", 100)]
    assert result["summary"]["breakage"]["unilevel"] == 50
    # depth 0: nobody paid; both occupy their levels, so both shares are breakage.
    result = ref.run_period_reference(chain_plan(depth_by_rank={"Member": 0}), members, volumes, None)
    assert result["lines"] == []
    assert result["summary"]["breakage"]["unilevel"] == 150
    # depth 0 with compression off and an inactive I: the same (I inactive, R beyond depth).
    members, volumes = chain(status_i="inactive")
    plan = chain_plan(depth_by_rank={"Member": 0}, compression=False)
    assert ref.run_period_reference(plan, members, volumes, None)["summary"]["breakage"]["unilevel"] == 150


def test_depth_by_rank_names_only_some_ranks() -> None:
    # Group volumes: R 100 + (I 100 + X 100) = 300, I 200, X 100: only R is Pro (min_gv 300).
    # Pro is not named in depth_by_rank: paid on every level; Member has depth 0.
    plan = chain_plan(depth_by_rank={"Member": 0})
    plan["ranks"] = [{"name": "Pro", "min_gv": 300}]
    members, volumes = chain(status_i="active")
    result = ref.run_period_reference(plan, members, volumes, None)
    # I (Member, active) occupies level 1 unpaid: 100 broken; R (Pro) at level 2: 1000 * 5% = 50.
    assert result["lines"] == [("R", "unilevel", 50)]
    assert result["summary"]["breakage"]["unilevel"] == 100
    assert result["ranks"]["R"] == ("Pro", "Pro")
    assert result["ranks"]["I"] == ("Member", "Member")


def test_levels_above_root_are_not_breakage_and_no_self_earning() -> None:
    plan = {"unilevel": {"rates_bp": [1000, 1000, 1000]}}
    members = members_of(("R", None, None, None, "active"), ("X", "R", "R", "L", "active"))
    volumes = volumes_of(("R", 0, 5000), ("X", 0, 1000))
    result = ref.run_period_reference(plan, members, volumes, None)
    assert result["lines"] == [("R", "unilevel", 100)]  # R's own 5000 pays no one
    assert result["summary"]["breakage"]["unilevel"] == 0


def test_breakage_numerators_summed_then_floored() -> None:
    # Without compression, inactive I breaks 3 shares of 0.5 (X1, X2, X3 at 10 BV, 5%): 15000 // 10000 = 1.
    plan = {"unilevel": {"rates_bp": [500], "compression": False}}
    members = members_of(
        ("R", None, None, None, "active"),
        ("I", "R", "R", "L", "inactive"),
        ("X1", "I", "I", "L", "active"),
        ("X2", "I", "I", "R", "active"),
        ("X3", "I", "X1", "L", "active"),
    )
    volumes = volumes_of(("X1", 0, 10), ("X2", 0, 10), ("X3", 0, 10))
    result = ref.run_period_reference(plan, members, volumes, None)
    assert result["lines"] == []
    assert result["summary"]["breakage"]["unilevel"] == 1
    # Negative: -15000 // 10000 = -2 (floor).
    volumes = volumes_of(("X1", 0, -10), ("X2", 0, -10), ("X3", 0, -10))
    assert ref.run_period_reference(plan, members, volumes, None)["summary"]["breakage"]["unilevel"] == -2


# --- binary ------------------------------------------------------------------------------------------


def binary_case(binary: dict, carry: tuple, left_bv: int, right_bv: int, status: str = "active",
                ranks: list | None = None, r_pv: int = 0) -> dict:
    """Root R with placement children A (L) and B (R), both R's recruits; returns R's pay and carries."""
    plan: dict = {"binary": {"rate_bp": 1000, **binary}}
    if ranks:
        plan["ranks"] = ranks
    members = members_of(
        ("R", None, None, None, status), ("A", "R", "R", "L", "active"), ("B", "R", "R", "R", "active")
    )
    volumes = volumes_of(("R", r_pv, 0), ("A", 0, left_bv), ("B", 0, right_bv))
    result = ref.run_period_reference(plan, members, volumes, {"carry": {"R": carry}})
    return {
        "pay": lines_of(result, "binary").get("R", 0),
        "carry": result["state"]["carry"]["R"],
        "breakage": result["summary"]["breakage"]["binary"],
        "rank": result["ranks"]["R"][0],
    }


def test_binary_plain_match() -> None:
    # L = 300 + 1000, R = 0 + 700: matched 700, pay 70, carries (600, 0).
    assert binary_case({}, (300, 0), 1000, 700) == {"pay": 70, "carry": (600, 0), "breakage": 0, "rank": "Member"}


@pytest.mark.parametrize(
    ("carry", "left_bv", "right_bv", "expected_carry"),
    [
        ((0, 0), 0, 5000, (0, 5000)),  # min = 0
        ((-100, 0), 0, 5000, (-100, 5000)),  # min < 0: negatives go on unchanged
        ((0, 0), -100, 100, (-100, 100)),  # negative new volume (returns)
        ((-300, -200), 0, 0, (-300, -200)),
    ],
)
def test_binary_min_not_positive_matches_nothing(carry: tuple, left_bv: int, right_bv: int,
                                                 expected_carry: tuple) -> None:
    assert binary_case({}, carry, left_bv, right_bv) == {
        "pay": 0, "carry": expected_carry, "breakage": 0, "rank": "Member"
    }


def test_binary_carry_cap_keeps_negative_carries() -> None:
    # L = -300 + 100 = -200, R = 900 - 200 = 700: nothing matched; cap 500 -> (-200, 500).
    assert binary_case({"carry_cap": 500}, (-300, 900), 100, -200)["carry"] == (-200, 500)
    # L = 2000, R = 3000: matched 2000, pay 200, (0, 1000) -> cap -> (0, 500).
    assert binary_case({"carry_cap": 500}, (2000, 3000), 0, 0)["carry"] == (0, 500)
    # carry_cap 0 = no cap.
    assert binary_case({"carry_cap": 0}, (2000, 3000), 0, 0)["carry"] == (0, 1000)
    # Unqualified (inactive) members are capped too: (7000, 100) -> (500, 100).
    assert binary_case({"carry_cap": 500}, (7000, 100), 0, 0, status="inactive")["carry"] == (500, 100)


def test_binary_pair_unit() -> None:
    # pair_unit 300: min 700 -> matched 600, pay 60, carries (1000 - 600, 700 - 600).
    case = binary_case({"pair_unit": 300}, (0, 0), 1000, 700)
    assert (case["pay"], case["carry"]) == (60, (400, 100))
    # min 200 < 300: matched 0, pay 0, nothing consumed.
    case = binary_case({"pair_unit": 300}, (0, 0), 1000, 200)
    assert (case["pay"], case["carry"]) == (0, (1000, 200))
    # exact multiple.
    case = binary_case({"pair_unit": 300}, (0, 0), 900, 900)
    assert (case["pay"], case["carry"]) == (90, (0, 0))


def test_binary_unqualified_carry_or_flush() -> None:
    for status in ("inactive", "suspended"):
        assert binary_case({}, (50, 60), 1000, 2000, status=status)["carry"] == (1050, 2060)
        assert binary_case({"unqualified": "carry"}, (50, 60), 1000, 2000, status=status)["pay"] == 0
        flushed = binary_case({"unqualified": "flush"}, (50, 60), 1000, 2000, status=status)
        assert (flushed["pay"], flushed["carry"]) == (0, (0, 0))
    # Flush also wipes negative carries.
    assert binary_case({"unqualified": "flush"}, (-50, 60), 0, 0, status="inactive")["carry"] == (0, 0)
    # requires_active = false: an inactive member is paid.
    case = binary_case({"requires_active": False}, (0, 0), 1000, 2000, status="inactive")
    assert (case["pay"], case["carry"]) == (100, (0, 1000))


def test_binary_activity_uses_activity_min_pv() -> None:
    binary = {"rate_bp": 1000, "unqualified": "flush"}
    members = members_of(("R", None, None, None, "active"), ("A", "R", "R", "L", "active"),
                         ("B", "R", "R", "R", "active"))
    volumes = volumes_of(("R", 99, 0), ("A", 0, 1000), ("B", 0, 1000))
    result = ref.run_period_reference({"activity": {"min_pv": 100}, "binary": binary}, members, volumes, None)
    assert result["lines"] == [] and result["state"]["carry"]["R"] == (0, 0)
    volumes = volumes_of(("R", 60, 0), ("R", 40, 0), ("A", 0, 1000), ("B", 0, 1000))
    result = ref.run_period_reference({"activity": {"min_pv": 100}, "binary": binary}, members, volumes, None)
    assert result["lines"] == [("R", "binary", 100)]


def test_binary_cap_by_rank_consumes_volume() -> None:
    ranks = [{"name": "Bronze", "min_pv": 10}]
    binary = {"cap_by_rank": {"Member": 50, "Bronze": 0}}
    # Member: pay 100 capped at 50 (breakage 50); all 1000 matched is consumed.
    assert binary_case(binary, (0, 0), 1000, 1500, ranks=ranks) == {
        "pay": 50, "carry": (0, 500), "breakage": 50, "rank": "Member"
    }
    # Bronze capped at 0: no line, volume consumed all the same.
    assert binary_case(binary, (0, 0), 1000, 1500, ranks=ranks, r_pv=10) == {
        "pay": 0, "carry": (0, 500), "breakage": 100, "rank": "Bronze"
    }
    # A rank not named has no cap.
    assert binary_case({"cap_by_rank": {"Member": 50}}, (0, 0), 1000, 1500, ranks=ranks, r_pv=10)["pay"] == 100


def sponsored_legs_case(rows: list[tuple], pv: dict | None = None) -> int:
    """R with 1000 BV under each side; pay of R with requires_sponsored_legs (and activity.min_pv 1)."""
    plan = {"activity": {"min_pv": 1}, "binary": {"rate_bp": 1000, "requires_sponsored_legs": True}}
    members = members_of(("R", None, None, None, "active"), *rows)
    pv = {"R": 1, **(pv or {})}
    volumes = volumes_of(*[(m["member_id"], pv.get(m["member_id"], 1), 0) for m in members],
                         ("A", 0, 1000), ("B", 0, 1000))
    return lines_of(ref.run_period_reference(plan, members, volumes, None), "binary").get("R", 0)


def test_requires_sponsored_legs() -> None:
    both = [("A", "R", "R", "L", "active"), ("B", "R", "R", "R", "active")]
    assert sponsored_legs_case(both) == 100
    # B is inactive: R's right subtree has no active recruit of R.
    assert sponsored_legs_case([both[0], ("B", "R", "R", "R", "inactive")]) == 0
    # B active by status but below activity.min_pv: not active.
    assert sponsored_legs_case(both, pv={"B": 0}) == 0
    # B is someone else's recruit (A's): right subtree holds no recruit of R.
    assert sponsored_legs_case([both[0], ("B", "A", "R", "R", "active")]) == 0
    # ... unless a recruit of R sits deep in the right subtree, below B.
    assert sponsored_legs_case([both[0], ("B", "A", "R", "R", "active"), ("C", "R", "B", "L", "active"),
                                ("D", "R", "C", "R", "inactive")]) == 100
    # B inactive, but R's active recruit D deeper down the right side.
    assert sponsored_legs_case([both[0], ("B", "R", "R", "R", "inactive"), ("C", "B", "B", "R", "active"),
                                ("D", "R", "C", "L", "active")]) == 100
    # A recruit of R placed in the left subtree only does not make the right one count.
    assert sponsored_legs_case([both[0], ("B", "A", "R", "R", "active"), ("C", "R", "A", "L", "active")]) == 0


def test_no_binary_section_passes_carries_through() -> None:
    plan = {"unilevel": {"rates_bp": [1000]}, "matching": {"rates_bp": [5000]}}
    members = members_of(("R", None, None, None, "active"), ("A", "R", "R", "L", "active"),
                         ("B", "R", "R", "R", "active"))
    volumes = volumes_of(("A", 0, 1000), ("B", 0, 1000))
    state = {"carry": {"R": (-5, 7), "A": (10**12, 3)}, "highest": {}}
    result = ref.run_period_reference(plan, members, volumes, state)
    assert result["state"]["carry"] == {"R": (-5, 7), "A": (10**12, 3), "B": (0, 0)}
    assert result["lines"] == [("R", "unilevel", 200)]  # matching pays nothing without binary
    assert result["summary"]["paid"] == {"binary": 0, "unilevel": 200, "matching": 0}


def test_matching_base_is_binary_pay_after_cap() -> None:
    plan = {
        "activity": {"min_pv": 1},
        "binary": {"rate_bp": 1000, "cap_by_rank": {"Member": 30}},
        "matching": {"rates_bp": [5000, 2500]},
    }
    # S sponsors M, M sponsors X; X is placed with two children carrying 1000 each -> pay 100 capped at 30.
    members = members_of(
        ("S", None, None, None, "active"),
        ("M", "S", "S", "L", "inactive"),
        ("X", "M", "M", "L", "active"),
        ("P", "X", "X", "L", "active"),
        ("Q", "X", "X", "R", "active"),
    )
    volumes = volumes_of(("S", 1, 0), ("X", 1, 0), ("P", 0, 1000), ("Q", 0, 1000))
    result = ref.run_period_reference(plan, members, volumes, None)
    # M is inactive: compressed, S is level 1: 30 * 50% = 15. P, Q earn nothing (no volume below).
    assert result["lines"] == [("S", "matching", 15), ("X", "binary", 30)]  # member row order first
    assert result["summary"]["breakage"] == {"binary": 70, "unilevel": 0, "matching": 0}
    plan["matching"]["compression"] = False
    result = ref.run_period_reference(plan, members, volumes, None)
    # M occupies level 1 (15 broken), S level 2: 30 * 25% = 7.5 -> 7.
    assert result["lines"] == [("S", "matching", 7), ("X", "binary", 30)]
    assert result["summary"]["breakage"]["matching"] == 15


# --- ranks -------------------------------------------------------------------------------------------


def rank_case(ranks: list, rows: list[tuple], pv: dict, previous: dict | None = None) -> dict:
    plan = {"activity": {"min_pv": 1_000_000}, "ranks": ranks}  # activity.min_pv does not enter ranks
    members = members_of(*rows)
    volumes = volumes_of(*[(m, v, 0) for m, v in pv.items()])
    return ref.run_period_reference(plan, members, volumes, {"highest": previous or {}})["ranks"]


ONE_LEG = [("R", None, None, None, "active"), ("A", "R", "R", "L", "active")]


def test_rank_met_without_the_lower_one() -> None:
    ranks = [{"name": "Bronze", "min_pv": 100}, {"name": "Silver", "min_gv": 500}]
    assert rank_case(ranks, ONE_LEG, {"R": 0, "A": 600})["R"] == ("Silver", "Silver")
    assert rank_case(ranks, ONE_LEG, {"R": 100, "A": 600})["R"] == ("Silver", "Silver")
    assert rank_case(ranks, ONE_LEG, {"R": 100, "A": 0})["R"] == ("Bronze", "Bronze")
    # A: its own PV 600 is its group volume: Silver; and Bronze is met too, Silver is higher.
    assert rank_case(ranks, ONE_LEG, {"R": 0, "A": 600})["A"] == ("Silver", "Silver")


def test_leg_share_cap_is_compared_exactly() -> None:
    # min_gv 3, share 33.33%: the leg cap is 0.9999 (not 1, not 0). Own 2 + min(1, 0.9999) = 2.9999 < 3.
    ranks = [{"name": "Star", "min_gv": 3, "max_leg_share_bp": 3333}]
    assert rank_case(ranks, ONE_LEG, {"R": 2, "A": 1})["R"] == ("Member", "Member")
    # share 33.34%: cap 1.0002, the leg counts 1: 3 >= 3.
    ranks = [{"name": "Star", "min_gv": 3, "max_leg_share_bp": 3334}]
    assert rank_case(ranks, ONE_LEG, {"R": 2, "A": 1})["R"] == ("Star", "Star")
    # default share 100%: a leg counts at most min_gv; 0 + min(5, 3) = 3.
    ranks = [{"name": "Star", "min_gv": 3}]
    assert rank_case(ranks, ONE_LEG, {"R": 0, "A": 5})["R"] == ("Star", "Star")
    # a share above 100% is allowed: cap 4.5, 0 + 4 >= 3... and negative own PV pulls down: -2 + 4 = 2 < 3.
    ranks = [{"name": "Star", "min_gv": 3, "max_leg_share_bp": 15000}]
    assert rank_case(ranks, ONE_LEG, {"R": 0, "A": 4})["R"] == ("Star", "Star")
    assert rank_case(ranks, ONE_LEG, {"R": -2, "A": 4})["R"] == ("Member", "Member")


def test_leg_share_cap_two_legs_and_whole_leg_volume() -> None:
    # Gold: min_gv 10, 50% per leg (cap 5). R own 1; leg A = A + A's downline C = 3 + 4 = 7 -> 5;
    # leg B = 3 -> 3. 1 + 5 + 3 = 9 < 10. With R own 2: 10 >= 10.
    ranks = [{"name": "Gold", "min_gv": 10, "max_leg_share_bp": 5000}]
    rows = [("R", None, None, None, "active"), ("A", "R", "R", "L", "active"),
            ("B", "R", "R", "R", "active"), ("C", "A", "A", "L", "suspended")]  # C's PV counts anyway
    assert rank_case(ranks, rows, {"R": 1, "A": 3, "B": 3, "C": 4})["R"] == ("Member", "Member")
    assert rank_case(ranks, rows, {"R": 2, "A": 3, "B": 3, "C": 4})["R"] == ("Gold", "Gold")


def test_status_not_active_is_member_and_activity_min_pv_does_not_enter_ranks() -> None:
    ranks = [{"name": "Bronze", "min_pv": 10}]
    rows = [("R", None, None, None, "active"), ("A", "R", "R", "L", "suspended"),
            ("B", "R", "R", "R", "inactive")]
    result = rank_case(ranks, rows, {"R": 10, "A": 10**9, "B": 10**9}, previous={"A": "Bronze"})
    # R: PV 10 is far below activity.min_pv (1_000_000) but Bronze only needs its own min_pv.
    assert result == {"R": ("Bronze", "Bronze"), "A": ("Member", "Bronze"), "B": ("Member", "Member")}


def test_absent_requirement_is_not_checked() -> None:
    # A rank without min_pv accepts a negative PV; min_pv = 0 does not.
    ranks = [{"name": "Any", "min_gv": 0}, {"name": "Zero", "min_pv": 0}]
    result = rank_case(ranks, ONE_LEG, {"R": -5, "A": 0})
    # R: min_gv 0: 10000 * -5 + min(0, 0) = -50000 < 0: not Any either. A: PV 0 -> Any and Zero.
    assert result == {"R": ("Member", "Member"), "A": ("Zero", "Zero")}
    # legs = 0 with a leg_rank means no leg requirement: every active member meets "Free".
    ranks = [{"name": "Free", "legs": 0, "leg_rank": "Free"}, {"name": "Strict", "min_pv": 0}]
    result = rank_case(ranks, ONE_LEG, {"R": -5, "A": 0})
    assert result == {"R": ("Free", "Free"), "A": ("Strict", "Strict")}


def test_legs_count_any_member_of_the_leg() -> None:
    ranks = [{"name": "Bronze", "min_pv": 10}, {"name": "Silver", "legs": 2, "leg_rank": "Bronze"}]
    # R's legs: A (with Bronze grandchild C deep below) and B (Bronze itself); D is also in A's leg.
    rows = [("R", None, None, None, "active"), ("A", "R", "R", "L", "active"),
            ("B", "R", "R", "R", "active"), ("C", "A", "A", "L", "active"), ("D", "C", "C", "L", "active")]
    result = rank_case(ranks, rows, {"R": 0, "A": 0, "B": 10, "C": 0, "D": 10})
    assert result["R"] == ("Silver", "Silver")  # two legs hold a Bronze (D in A's leg, B)
    assert result["C"] == ("Member", "Member")  # one leg only
    # Two Bronzes in the same leg count once.
    result = rank_case(ranks, rows, {"R": 0, "A": 10, "B": 0, "C": 0, "D": 10})
    assert result["R"] == ("Member", "Member")
    # A leg_rank is met by any rank at or above it.
    ranks = [{"name": "Bronze", "min_pv": 10}, {"name": "Silver", "legs": 1, "leg_rank": "Bronze"},
             {"name": "Gold", "legs": 1, "leg_rank": "Silver"}]
    result = rank_case(ranks, rows, {"R": 0, "A": 0, "B": 0, "C": 0, "D": 10})
    # D Bronze; C Silver (leg D); A Gold (leg C has Silver); R Gold (leg A has Gold >= Silver).
    assert result == {"R": ("Gold", "Gold"), "A": ("Gold", "Gold"), "B": ("Member", "Member"),
                      "C": ("Silver", "Silver"), "D": ("Bronze", "Bronze")}


def test_suspended_member_does_not_give_leg_rank() -> None:
    ranks = [{"name": "Bronze", "min_pv": 10}, {"name": "Silver", "legs": 1, "leg_rank": "Bronze"}]
    rows = [("R", None, None, None, "active"), ("A", "R", "R", "L", "suspended")]
    assert rank_case(ranks, rows, {"R": 0, "A": 10})["R"] == ("Member", "Member")


def test_highest_rank_carried_forward() -> None:
    ranks = [{"name": "Bronze", "min_pv": 10}, {"name": "Silver", "min_pv": 20}]
    result = rank_case(ranks, ONE_LEG, {"R": 10, "A": 20}, previous={"R": "Silver", "A": "Bronze"})
    assert result == {"R": ("Bronze", "Silver"), "A": ("Silver", "Silver")}
    # A name the plan no longer defines counts as Member.
    result = rank_case(ranks, ONE_LEG, {"R": 10, "A": 0}, previous={"R": "Diamond", "A": "Diamond"})
    assert result == {"R": ("Bronze", "Bronze"), "A": ("Member", "Member")}


# --- inputs, plans, scale ----------------------------------------------------------------------------


def test_volume_of_unknown_member_is_an_input_error() -> None:
    members = members_of(("R", None, None, None, "active"))
    volumes = volumes_of(("R", 1, 1), ("Z", 1, 1), ("Y", 1, 1), ("Z", 2, 2))
    with pytest.raises(ref.InputError) as info:
        ref.run_period_reference({}, members, volumes, None)
    assert info.value.ids == ["Z", "Y"]


def test_empty_plan_defaults() -> None:
    members = members_of(("R", None, None, None, "active"), ("A", "R", "R", "L", "inactive"))
    result = ref.run_period_reference({}, members, volumes_of(("A", -5, -7)), None)
    assert result == {
        "lines": [],
        "ranks": {"R": ("Member", "Member"), "A": ("Member", "Member")},
        "state": {"carry": {"R": (0, 0), "A": (0, 0)}, "highest": {"R": "Member", "A": "Member"}},
        "summary": {"total_bv": -7, "paid": {"binary": 0, "unilevel": 0, "matching": 0},
                    "breakage": {"binary": 0, "unilevel": 0, "matching": 0}},
    }


@pytest.mark.parametrize(
    "plan",
    [
        {"plan": {"rounding": "ceil"}},
        {"plan": {"rounding": "floor", "extra": 1}},
        {"bonus": {}},
        {"activity": {"min_pv": -1}},
        {"activity": {"min_pv": 1.5}},
        {"activity": {"min_pv": True}},
        {"ranks": [{"name": "Bronze", "legs": 1}]},
        {"ranks": [{"name": "Bronze", "leg_rank": "Bronze"}]},
        {"ranks": [{"name": "Bronze", "legs": 1, "leg_rank": "Gold"}]},
        {"ranks": [{"name": "Bronze"}, {"name": "Bronze"}]},
        {"ranks": [{"min_pv": 1}]},
        {"binary": {}},
        {"binary": {"rate_bp": 100, "pair_unit": 0}},
        {"binary": {"rate_bp": 100, "carry_cap": -1}},
        {"binary": {"rate_bp": 100, "unqualified": "keep"}},
        {"binary": {"rate_bp": 100, "cap_by_rank": {"Member": -1}}},
        {"unilevel": {"rates_bp": [100, -1]}},
        {"matching": {"compression": True}},
        {"binary": {"rate_bp": 100, "cap_by_rank": {"Gold": 5}}},
        {"ranks": [{"name": "Gold"}], "unilevel": {"rates_bp": [1], "depth_by_rank": {"Silver": 1}}},
        {"ranks": [{"name": "Member"}]},
    ],
)
def test_plan_errors(plan: dict) -> None:
    members = members_of(("R", None, None, None, "active"))
    with pytest.raises(ref.PlanError):
        ref.run_period_reference(plan, members, [], None)


def test_load_plan_path_forms() -> None:
    plan = ref.load_plan(EXAMPLE_PLAN)
    assert ref.load_plan(str(EXAMPLE_PLAN)) == plan == ref.load_plan(EXAMPLE_PLAN.read_text())
    assert plan["binary"]["cap_by_rank"] == {"Member": 500, "Bronze": 800}
    assert ref.load_plan('[plan]\nrounding = "half_even"') == {"plan": {"rounding": "half_even"}}


def test_int64_overflow_of_an_amount() -> None:
    plan = {"unilevel": {"rates_bp": [10000]}}
    members = members_of(("R", None, None, None, "active"), ("A", "R", "R", "L", "active"),
                         ("B", "R", "R", "R", "active"))
    big = 2**63 - 1
    volumes = volumes_of(("A", 0, big), ("B", 0, 0))
    assert ref.run_period_reference(plan, members, volumes, None)["lines"] == [("R", "unilevel", big)]
    volumes = volumes_of(("A", 0, big), ("B", 0, 1))
    with pytest.raises(ref.AmountOverflowError):
        ref.run_period_reference(plan, members, volumes, None)


def test_deep_chain_no_recursion() -> None:
    # A 1500-deep chain (sponsor = placement parent, every one on L), each with 100 PV and BV.
    n = 1500
    rows = [("m0", None, None, None, "active")] + [(f"m{i}", f"m{i - 1}", f"m{i - 1}", "L", "active")
                                                    for i in range(1, n)]
    plan = {
        "ranks": [{"name": "Deep", "min_gv": 100 * 1000}],  # a group of 1000 members
        "binary": {"rate_bp": 1000},
        "unilevel": {"rates_bp": [1000, 1000]},
    }
    volumes = volumes_of(*[(f"m{i}", 100, 100) for i in range(n)])
    result = ref.run_period_reference(plan, members_of(*rows), volumes, None)
    # Every member above the last two earns 10% of two downline members' 100 BV: 20; m_{n-2} earns 10.
    unilevel = lines_of(result, "unilevel")
    assert unilevel == {**{f"m{i}": 20 for i in range(n - 2)}, f"m{n - 2}": 10}
    assert lines_of(result, "binary") == {}  # nothing on any right leg
    # m_i's group is (n - i) members: Deep for i <= n - 1000.
    deep = [m for m, (rank, _) in result["ranks"].items() if rank == "Deep"]
    assert deep == [f"m{i}" for i in range(n - 1000 + 1)]
    assert result["state"]["carry"]["m0"] == (100 * (n - 1), 0)
