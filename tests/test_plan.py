"""Plan files: the example plan reads as the spec says; every kind of mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlm_core import Plan, PlanError

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"
EXAMPLE = SPEC / "example-plan.toml"


def test_example_plan_reads_as_written() -> None:
    plan = Plan.from_toml(EXAMPLE)
    assert plan.name == "Example hybrid" and plan.currency == "USD" and plan.rounding == "floor"
    assert plan.activity_min_pv == 10_000
    assert plan.rank_names == ("Member", "Bronze", "Silver", "Gold")
    silver = plan.ranks[2]
    assert (silver.min_pv, silver.min_gv, silver.max_leg_share_bp, silver.legs, silver.leg_rank) == (
        10_000, 60_000, 5_000, 1, "Bronze")
    assert plan.ranks[1].max_leg_share_bp == 10_000  # the default
    assert plan.bonus_names == ("binary", "unilevel", "matching")
    binary = plan.bonuses[0].settings
    assert binary["cap_by_rank"] == {"Member": 500, "Bronze": 800}
    assert (binary["rate_bp"], binary["pair_unit"], binary["carry_cap"]) == (1000, 100, 50_000)
    assert plan.bonuses[2].settings["depth_by_rank"] == {"Member": 0, "Bronze": 1}
    # Reading the same file as text gives the same plan.
    assert Plan.from_toml(EXAMPLE.read_text()).ranks == plan.ranks


def test_defaults_of_a_minimal_plan() -> None:
    plan = Plan.from_toml("[binary]\nrate_bp = 1000\n")
    settings = plan.bonuses[0].settings
    assert plan.rank_names == ("Member",) and plan.activity_min_pv == 0 and plan.rounding == "floor"
    assert (settings["pair_unit"], settings["carry_cap"], settings["requires_active"]) == (1, 0, True)
    assert (settings["requires_sponsored_legs"], settings["unqualified"]) == (False, "carry")


BASE = EXAMPLE.read_text() if EXAMPLE.exists() else ""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[plan]\nrounding = 'up'\n", "plan.rounding"),
        ("[plan]\ncolour = 'red'\n", "plan.colour"),
        ("[bonus_pool]\nrate_bp = 1\n", "bonus_pool"),
        ("[activity]\nmin_pv = 100.5\n", "activity.min_pv"),
        ("[activity]\nmin_pv = -1\n", "activity.min_pv"),
        ("[activity]\nmin_pv = 1e3\n", "activity.min_pv"),
        ("[activity]\nmin_pv = true\n", "activity.min_pv"),
        ("[[ranks]]\nname = 'A'\nlegs = 1\n", "ranks[0].leg_rank"),
        ("[[ranks]]\nname = 'A'\nleg_rank = 'Member'\n", "ranks[0].legs"),
        ("[[ranks]]\nname = 'A'\nlegs = 0\nleg_rank = 'Platinum'\n", "ranks[0].leg_rank"),
        ("[[ranks]]\nname = 'A'\n[[ranks]]\nname = 'A'\n", "ranks[1].name"),
        ("[[ranks]]\nname = 'Member'\n", "ranks[0].name"),
        ("[[ranks]]\nmin_pv = 1\n", "ranks[0].name"),
        ("[[ranks]]\nname = 'A'\nmin_gpv = 1\n", "ranks[0].min_gpv"),
        ("[binary]\nrate_bp = -5\n", "binary.rate_bp"),
        ("[binary]\npair_unit = 1\n", "binary.rate_bp"),
        ("[binary]\nrate_bp = 1\npair_unit = 0\n", "binary.pair_unit"),
        ("[binary]\nrate_bp = 1\nunqualified = 'keep'\n", "binary.unqualified"),
        ("[binary]\nrate_bp = 1\ncap_by_rank = { Diamond = 5 }\n", "binary.cap_by_rank.Diamond"),
        ("[binary]\nrate_bp = 1\nrequires_active = 1\n", "binary.requires_active"),
        ("[unilevel]\nrates_bp = [500, -1]\n", "unilevel.rates_bp[1]"),
        ("[unilevel]\nrates_bp = [500]\ndepth_by_rank = { Gold = 1 }\n", "unilevel.depth_by_rank.Gold"),
        ("[matching]\nrates_bp = [500]\nbase = 'bv'\n", "matching.base"),
        ("[unilevel]\n", "unilevel.rates_bp"),
    ],
)
def test_plan_mistakes_name_their_key(text: str, key: str) -> None:
    with pytest.raises(PlanError) as caught:
        Plan.from_toml(text)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_not_toml_and_missing_file() -> None:
    with pytest.raises(PlanError, match="not valid TOML"):
        Plan.from_toml("[plan\nname = 1\n")
    with pytest.raises(PlanError, match="cannot read plan file"):
        Plan.from_toml(Path("/nonexistent/plan.toml"))


def test_packaged_example_plan_is_the_spec_example() -> None:
    from mlm_core.demo import EXAMPLE_PLAN

    assert EXAMPLE_PLAN.read_text() == EXAMPLE.read_text()
