//! Times `View::update` against `View::compute` on N synthetic members (int ids): rounds of R random
//! orders (default 150,000: 1.5 s of a writer at 100,000 events/s), each brought into the view.
//!
//!     cargo run --release --example profile_update -p mlm_kernel -- 10000000 150000
use std::sync::Arc;
use std::time::Instant;

use mlm_kernel::engine::*;
use mlm_kernel::keys::{IntKeys, OwnedStrKeys, Validity};
use mlm_kernel::live::{Carried, Changes, Inputs, View};
use mlm_kernel::rng::SplitMix64;
use mlm_kernel::*;

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let orders: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(150_000);
    let s = synth::sponsors(n, 1).unwrap();
    let (p, l) = synth::spillover_placement(&s, 1).unwrap();
    let ids: Vec<i64> = (0..n as i64).collect();
    let sp: Vec<i64> = s.iter().map(|&x| x as i64).collect();
    let pl: Vec<i64> = p.iter().map(|&x| x as i64).collect();
    let mut valid = vec![0xFFu8; n.div_ceil(8)];
    valid[0] &= !1;
    let legs = OwnedStrKeys::new(&l.iter().map(|&x| match x { 1 => Some("L"), 2 => Some("R"), _ => None }).collect::<Vec<_>>());
    let v = Some(Validity { bits: &valid, offset: 0 });
    let (g, _) = build_genealogy(
        &IntKeys { values: &ids, validity: None },
        &IntKeys { values: &sp, validity: v },
        &IntKeys { values: &pl, validity: v },
        &legs.view(),
        BuildOptions::default(),
    )
    .unwrap();
    let g = Arc::new(g);
    let plan = example_plan();
    let mut rng = SplitMix64::new(5);
    let mut inputs = Inputs {
        seq: 0,
        sums: vec![vec![0; n], vec![0; n]],
        status_active: vec![true; n],
        tier: vec![NO_VALUE; n],
        rank_override: vec![NO_VALUE; n],
    };
    let carried = Carried { prev_highest: vec![0; n], carries: vec![Some((vec![0; n], vec![0; n])), None, None] };
    let t = Instant::now();
    let mut view = View::compute(g.clone(), &plan, inputs.clone(), &carried).unwrap();
    eprintln!("compute {:?}", t.elapsed());
    for round in 0..6 {
        let mut rows: Vec<u32> = Vec::with_capacity(orders);
        for _ in 0..orders {
            let m = rng.below(n as u64) as usize;
            let pv = (rng.below(20_000)) as i64;
            inputs.sums[0][m] += pv;
            inputs.sums[1][m] += pv * 4 / 5;
            rows.push(m as u32);
        }
        inputs.seq += orders as u64;
        let t = Instant::now();
        rows.sort_unstable();
        rows.dedup();
        let changes = Changes {
            seq: inputs.seq,
            sums: inputs.sums.iter().map(|c| rows.iter().map(|&r| c[r as usize]).collect()).collect(),
            status_active: rows.iter().map(|&r| inputs.status_active[r as usize]).collect(),
            tier: rows.iter().map(|&r| inputs.tier[r as usize]).collect(),
            rank_override: rows.iter().map(|&r| inputs.rank_override[r as usize]).collect(),
            rows,
        };
        let gather = t.elapsed();
        let t = Instant::now();
        assert!(view.update(&plan, &changes, &carried).unwrap());
        eprintln!("round {round}: changes {gather:?}, update {:?}", t.elapsed());
    }
    let t = Instant::now();
    let full = View::compute(g.clone(), &plan, inputs.clone(), &carried).unwrap();
    eprintln!("compute {:?}", t.elapsed());
    assert_eq!(full.output.paid_as, view.output.paid_as);
    for (a, b) in full.output.bonuses.iter().zip(&view.output.bonuses) {
        assert_eq!(a.amount, b.amount);
    }
    eprintln!("the updated view equals the whole one");
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
