//! The worked example of `compensation-plan.md`, by hand, and small cases of each rule.
use super::*;
use crate::genealogy::{build_genealogy, BuildOptions};
use crate::keys::{IntKeys, OwnedStrKeys, Validity};

/// Members A..H as rows 0..7 (ids 0..7), shaped as in the spec's worked example.
pub(crate) fn example_genealogy() -> Genealogy {
    let ids: Vec<i64> = (0..8).collect();
    let sponsor = [0i64, 0, 0, 1, 1, 2, 3, 6];
    let placement = [0i64, 0, 0, 1, 1, 2, 3, 2];
    let valid = [0b1111_1110u8];
    let legs = OwnedStrKeys::new(&[None, Some("L"), Some("R"), Some("L"), Some("R"), Some("L"), Some("L"), Some("R")]);
    let member = IntKeys { values: &ids, validity: None };
    let s = IntKeys { values: &sponsor, validity: Some(Validity { bits: &valid, offset: 0 }) };
    let p = IntKeys { values: &placement, validity: Some(Validity { bits: &valid, offset: 0 }) };
    build_genealogy(&member, &s, &p, &legs.view(), BuildOptions::default()).unwrap().0
}

pub(crate) fn example_plan() -> PlanSpec {
    let rank = |min_gv, share, legs| RankRule {
        min_pv: Some(10_000),
        min_gv: Some(min_gv),
        max_leg_share_bp: share,
        legs,
        leg_rank: 1,
        assigned: false,
    };
    PlanSpec {
        rounding: Rounding::Floor,
        activity_min_pv: 10_000,
        ranks: vec![RankRule::default(), rank(30_000, 10_000, 0), rank(60_000, 5_000, 1), rank(100_000, 5_000, 2)],
        bonuses: vec![
            BonusRule::Binary(BinaryRule {
                base: 1,
                rate_bp: Some(1000),
                pay_per_pair: None,
                pair_unit: 100,
                carry_cap: 50_000,
                requires_active: true,
                requires_sponsored_legs: true,
                flush_unqualified: false,
                cap_by_rank: vec![Some(500), Some(800), None, None],
                max_pairs_by_tier: vec![],
                carry_over_cap: false,
                requires_tier: false,
                pay_on_new_volume: false,
            }),
            BonusRule::Level(LevelRule {
                base: Base::Column(1),
                rates_bp: vec![500, 300, 200],
                compression: true,
                depth_by_rank: vec![Some(1), Some(2), None, None],
                requires_active: true,
            }),
            BonusRule::Level(LevelRule {
                base: Base::BonusPay(0),
                rates_bp: vec![2000, 1000],
                compression: true,
                depth_by_rank: vec![Some(0), Some(1), None, None],
                requires_active: true,
            }),
        ],
        tiers: 0,
    }
}

#[test]
fn worked_example_of_the_spec() {
    let g = example_genealogy();
    let plan = example_plan();
    let volume = [12_000i64, 15_000, 10_000, 30_000, 10_000, 20_000, 40_000, 10_000];
    let status = [true, true, true, true, true, true, false, true];
    let prev_highest = [0u16, 0, 2, 0, 0, 0, 0, 0];
    let carry_left = [0i64, 700, 0, 0, 0, 0, 0, 0];
    let carry_right = [2_500i64, 0, 0, 0, 0, 0, 0, 0];
    let input = PeriodInput {
        columns: vec![&volume, &volume],
        status_active: &status,
        prev_highest: &prev_highest,
        carries: vec![Some((&carry_left, &carry_right)), None, None],
        rank_override: None,
        tier: None,
    };
    let out = run_period(&g, &plan, &input).unwrap();
    assert_eq!(out.bonuses[0].amount, vec![4250, 800, 0, 0, 0, 0, 0, 0]);
    assert_eq!(out.bonuses[1].amount, vec![4050, 3500, 1000, 2500, 0, 0, 0, 0]);
    assert_eq!(out.bonuses[2].amount, vec![160, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(out.paid_as, vec![2, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(out.highest, vec![2, 1, 2, 1, 0, 0, 0, 0]);
    let (left, right) = out.bonuses[0].carry.clone().unwrap();
    assert_eq!(left, vec![50_000, 50_000, 20_000, 40_000, 0, 0, 0, 0]);
    assert_eq!(right, vec![0, 0, 10_000, 0, 0, 0, 0, 0]);
}

#[test]
fn compression_skips_inactive_uplines_and_long_inactive_runs_stay_linear() {
    // A chain: row 0 active, rows 1..n-2 inactive, row n-1 buys. With compression row 0 is level 1.
    let n = 200_000usize;
    let ids: Vec<i64> = (0..n as i64).collect();
    let up: Vec<i64> = (0..n as i64).map(|i| i - 1).collect();
    let mut valid = vec![0xFFu8; n.div_ceil(8)];
    valid[0] &= !1;
    let legs = OwnedStrKeys::new(&(0..n).map(|i| if i == 0 { None } else { Some("L") }).collect::<Vec<_>>());
    let member = IntKeys { values: &ids, validity: None };
    let parent = IntKeys { values: &up, validity: Some(Validity { bits: &valid, offset: 0 }) };
    let g = build_genealogy(&member, &parent, &parent, &legs.view(), BuildOptions::default()).unwrap().0;
    let mut plan = example_plan();
    plan.bonuses = vec![BonusRule::Level(LevelRule {
        base: Base::Column(1),
        rates_bp: vec![500, 300],
        compression: true,
        depth_by_rank: vec![None; 4],
        requires_active: true,
    })];
    let mut bv = vec![0i64; n];
    bv[n - 1] = 10_001; // 5% of 100.01 = 5.0005 -> floor 5.00 (500.05 minor units -> 500)
    let pv = vec![10_000i64; n];
    let mut status = vec![false; n];
    status[0] = true;
    let input = PeriodInput {
        columns: vec![&pv, &bv],
        status_active: &status,
        prev_highest: &vec![0; n],
        carries: vec![None],
        rank_override: None,
        tier: None,
    };
    let out = run_period(&g, &plan, &input).unwrap();
    assert_eq!(out.bonuses[0].amount[0], 500);
    assert_eq!(out.bonuses[0].amount.iter().filter(|&&a| a != 0).count(), 1);
    // Without compression every inactive upline occupies a level: both shares are breakage.
    if let BonusRule::Level(rule) = &mut plan.bonuses[0] {
        rule.compression = false;
    }
    let out = run_period(&g, &plan, &input).unwrap();
    assert!(out.bonuses[0].amount.iter().all(|&a| a == 0));
    assert_eq!(out.bonuses[0].breakage, 10_001 * 500 + 10_001 * 300);
}

#[test]
fn huge_bases_take_the_i128_path_and_overflow_is_an_error() {
    // A star: row 0 sponsors rows 1..=3, each with a base near i64::MAX / 2 at a 100% level-1 rate.
    let ids = [0i64, 1, 2, 3];
    let up = [0i64, 0, 0, 0];
    let valid = [0b1110u8];
    let legs = OwnedStrKeys::new(&[None, Some("L"), Some("R"), Some("L")]);
    let placement = [0i64, 0, 0, 1];
    let member = IntKeys { values: &ids, validity: None };
    let s = IntKeys { values: &up, validity: Some(Validity { bits: &valid, offset: 0 }) };
    let p = IntKeys { values: &placement, validity: Some(Validity { bits: &valid, offset: 0 }) };
    let g = build_genealogy(&member, &s, &p, &legs.view(), BuildOptions::default()).unwrap().0;
    let mut plan = example_plan();
    plan.bonuses = vec![BonusRule::Level(LevelRule {
        base: Base::Column(1),
        rates_bp: vec![10_000],
        compression: false,
        depth_by_rank: vec![None; 4],
        requires_active: false,
    })];
    let half = i64::MAX / 2;
    let run = |bv: &[i64]| {
        let pv = [0i64; 4];
        let input = PeriodInput {
            columns: vec![&pv, bv],
            status_active: &[true; 4],
            prev_highest: &[0; 4],
            carries: vec![None],
            rank_override: None,
            tier: None,
        };
        run_period(&g, &plan, &input)
    };
    let out = run(&[0, half, half, -5]).unwrap();
    assert_eq!(out.bonuses[0].amount[0], 2 * half - 5);
    assert!(matches!(run(&[0, half, half, 5]), Err(crate::error::KernelError::Overflow { .. })));
}

#[test]
fn a_huge_pay_cut_by_the_cap_is_not_an_overflow_and_negative_plans_are_refused() {
    let g = example_genealogy();
    let mut plan = example_plan();
    if let BonusRule::Binary(rule) = &mut plan.bonuses[0] {
        rule.rate_bp = Some(20_000);
        rule.pair_unit = 1;
        rule.carry_cap = 0;
        rule.requires_sponsored_legs = false;
        rule.requires_active = false;
    }
    plan.bonuses.truncate(1);
    let big = 1i64 << 62;
    let pv = [0i64; 8]; // no PV: nobody meets a rank, A is paid as Member (cap 500)
    let carry = [big, 0, 0, 0, 0, 0, 0, 0];
    let zeros = [0i64; 8];
    let input = PeriodInput {
        columns: vec![&pv, &zeros],
        status_active: &[true; 8],
        prev_highest: &[0; 8],
        carries: vec![Some((&carry, &carry))],
        rank_override: None,
        tier: None,
    };
    // A's 2 x 2^62 uncapped pay (200% of 2^62 matched) is capped at Member's 500.
    let out = run_period(&g, &plan, &input).unwrap();
    assert_eq!(out.bonuses[0].amount[0], 500);
    assert_eq!(out.bonuses[0].breakage, 10_000 * (2 * i128::from(big) - 500));
    if let BonusRule::Binary(rule) = &mut plan.bonuses[0] {
        rule.rate_bp = Some(-1);
    }
    assert!(matches!(run_period(&g, &plan, &input), Err(crate::error::KernelError::Plan { .. })));
}

#[test]
fn a_differential_without_any_rate_pays_nothing_and_does_not_panic() {
    let g = example_genealogy();
    let mut plan = example_plan();
    plan.bonuses = vec![BonusRule::Differential(DifferentialRule {
        base: 1,
        rate_bp_by_rank: vec![0; 4],
        include_self: false,
        requires_active: false,
    })];
    let volume = [1_000i64; 8];
    let input = PeriodInput {
        columns: vec![&volume, &volume],
        status_active: &[true; 8],
        prev_highest: &[0; 8],
        carries: vec![None],
        rank_override: None,
        tier: None,
    };
    let out = run_period(&g, &plan, &input).unwrap();
    assert!(out.bonuses[0].amount.iter().all(|&a| a == 0));
}

#[test]
fn lines_in_blocks_equal_the_sequential_definition() {
    // More rows than one block of the parallel writer, with zeros, negatives and empty blocks.
    let n = 300_000;
    let mut rng = crate::rng::SplitMix64::new(9);
    let bonus = |rng: &mut crate::rng::SplitMix64, density: u64| BonusOutput {
        amount: (0..n)
            .map(|row| if (70_000..140_000).contains(&row) || rng.below(100) >= density { 0 } else { rng.below(2_000) as i64 - 1_000 })
            .collect(),
        ..Default::default()
    };
    let bonuses = vec![bonus(&mut rng, 30), bonus(&mut rng, 1), bonus(&mut rng, 90)];
    let output = PeriodOutput { active: vec![true; n], paid_as: vec![0; n], highest: vec![0; n], bonuses };
    let mut expected = Lines::default();
    for row in 0..n {
        for (b, bonus) in output.bonuses.iter().enumerate() {
            if bonus.amount[row] != 0 {
                expected.row.push(row as u32);
                expected.bonus.push(b as u16);
                expected.amount.push(bonus.amount[row]);
            }
        }
    }
    assert!(expected.row.len() > 100_000);
    assert_eq!(lines(&output), expected);
}
