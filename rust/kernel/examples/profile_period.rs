//! Times one period of a plan like example-plan.toml on N synthetic members (int ids), stage by stage:
//! `cargo run --release --example profile_period -p mlm_kernel -- 10000000`.
use std::time::Instant;

use mlm_kernel::engine::*;
use mlm_kernel::keys::{IntKeys, OwnedStrKeys, Validity};
use mlm_kernel::rng::SplitMix64;
use mlm_kernel::*;

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let s = synth::sponsors(n, 1).unwrap();
    let (p, l) = synth::spillover_placement(&s, 1).unwrap();
    let ids: Vec<i64> = (0..n as i64).collect();
    let sp: Vec<i64> = s.iter().map(|&x| x as i64).collect();
    let pl: Vec<i64> = p.iter().map(|&x| x as i64).collect();
    let mut valid = vec![0xFFu8; n.div_ceil(8)];
    valid[0] &= !1;
    let legs = OwnedStrKeys::new(&l.iter().map(|&x| match x { 1 => Some("L"), 2 => Some("R"), _ => None }).collect::<Vec<_>>());
    let v = Some(Validity { bits: &valid, offset: 0 });
    let t = Instant::now();
    let (g, _) = build_genealogy(
        &IntKeys { values: &ids, validity: None },
        &IntKeys { values: &sp, validity: v },
        &IntKeys { values: &pl, validity: v },
        &legs.view(),
        BuildOptions::default(),
    )
    .unwrap();
    eprintln!("build {:?}", t.elapsed());
    let mut rng = SplitMix64::new(5);
    let pv: Vec<i64> = (0..n).map(|_| [0, 2500, 5000, 10000, 20000][rng.below(5) as usize]).collect();
    let status: Vec<bool> = (0..n).map(|_| rng.chance(850)).collect();
    let plan = example_plan();
    let highest = vec![0u16; n];
    let input = PeriodInput {
        columns: vec![&pv, &pv],
        status_active: &status,
        prev_highest: &highest,
        carries: vec![None, None, None],
        rank_override: None,
        tier: None,
    };
    for _ in 0..3 {
        let t = Instant::now();
        let out = run_period(&g, &plan, &input).unwrap();
        let lines = lines(&out);
        eprintln!("period {:?} ({} lines)", t.elapsed(), lines.row.len());
    }
}

fn example_plan() -> PlanSpec {
    let rank = |min_gv, share, legs| RankRule { min_pv: Some(10_000), min_gv: Some(min_gv), max_leg_share_bp: share, legs, leg_rank: 1, assigned: false };
    PlanSpec {
        rounding: Rounding::Floor,
        activity_min_pv: 10_000,
        ranks: vec![RankRule::default(), rank(30_000, 10_000, 0), rank(60_000, 5_000, 1), rank(100_000, 5_000, 2)],
        bonuses: vec![
            BonusRule::Binary(BinaryRule {
                base: 1, rate_bp: Some(1000), pay_per_pair: None, pair_unit: 100, carry_cap: 50_000,
                requires_active: true, requires_sponsored_legs: true, flush_unqualified: false,
                cap_by_rank: vec![Some(500), Some(800), None, None], max_pairs_by_tier: vec![],
                carry_over_cap: false, requires_tier: false, pay_on_new_volume: false,
            }),
            BonusRule::Level(LevelRule { base: Base::Column(1), rates_bp: vec![500, 300, 200], compression: true, depth_by_rank: vec![Some(1), Some(2), None, None], requires_active: true }),
            BonusRule::Level(LevelRule { base: Base::BonusPay(0), rates_bp: vec![2000, 1000], compression: true, depth_by_rank: vec![Some(0), Some(1), None, None], requires_active: true }),
        ],
        tiers: 0,
    }
}
