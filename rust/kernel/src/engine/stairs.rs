//! The differential (stair-step) and rebate bonuses of plan v2 ("Differential bonus", "Rebate").
use super::rounding::to_minor;
use super::{BonusOutput, DifferentialRule, PlanSpec, RebateRule};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree, NONE};

/// Each earner is paid the difference between its rank's rate and the rate already paid below it, up
/// the sponsor line. The walk jumps: for every distinct rate r_j there is a pointer from each member to
/// its nearest eligible ancestor-or-self whose rate reaches r_j, so a member's walk takes at most one
/// step per distinct rate, however deep the tree (a 1M-deep chain costs O(members × rates)).
pub(super) fn differential(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    rule: &DifferentialRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
) -> Result<BonusOutput> {
    let n = genealogy.len();
    let tree = genealogy.tree(Tree::Sponsor);
    let parent = tree.parent();
    let rate_of = |v: usize| rule.rate_bp_by_rank[paid_as[v] as usize];
    let eligible = |v: usize| !rule.requires_active || active[v];
    let mut levels: Vec<i64> = rule.rate_bp_by_rank.iter().copied().filter(|&r| r > 0).collect();
    levels.sort_unstable();
    levels.dedup();
    // reach[v * k + j]: nearest ancestor-or-self of v that may earn and whose rate is at least levels[j].
    // A member's k pointers sit side by side, so one cache line answers every level.
    let k = levels.len();
    if k == 0 {
        // No rank has a rate: nobody earns.
        return Ok(BonusOutput { amount: vec![0; n], breakage: 0, carry: None });
    }
    let mut reach: Vec<u32> = vec![NONE; n * k];
    let ahead = tree.rows_topological();
    tree.for_each_top_down(|v| {
        // In row order the parents of the next members are known: fetch their pointers early.
        if ahead && v + 16 < n && parent[v + 16] != NONE {
            crate::id_index::prefetch(&reach[parent[v + 16] as usize * k]);
        }
        let p = parent[v];
        let rate = if eligible(v) { rate_of(v) } else { 0 };
        for (j, &level) in levels.iter().enumerate() {
            reach[v * k + j] =
                if rate >= level { v as u32 } else if p == NONE { NONE } else { reach[p as usize * k + j] };
        }
    });
    // What a step of a walk reads of an earner, packed: its rate (0 if it may not earn) and its sponsor.
    let step: Vec<(i64, u32)> =
        (0..n).map(|v| (if eligible(v) { rate_of(v) } else { 0 }, parent[v])).collect();
    let mut numerators = vec![0i128; n];
    // Walks go 16 members at a time, step by step, with the next lookups prefetched, so their cache
    // misses overlap instead of queueing one after another.
    const BATCH: usize = 16;
    let mut walkers: Vec<(usize, u32, i64, usize)> = Vec::with_capacity(BATCH); // (member, at, paid_bp, level)
    let run_batch = |walkers: &mut Vec<(usize, u32, i64, usize)>, numerators: &mut [i128]| {
        while !walkers.is_empty() {
            for &(_, at, _, level) in walkers.iter() {
                crate::id_index::prefetch(&reach[at as usize * k + level]);
            }
            let mut i = 0;
            while i < walkers.len() {
                let (m, at, paid_bp, mut level) = walkers[i];
                let earner = reach[at as usize * k + level];
                if earner == NONE {
                    walkers.swap_remove(i);
                    continue;
                }
                let (rate, up) = step[earner as usize];
                numerators[earner as usize] += i128::from(base[m]) * i128::from(rate - paid_bp);
                while level < k && levels[level] <= rate {
                    level += 1;
                }
                if up == NONE || level >= k {
                    walkers.swap_remove(i);
                    continue;
                }
                walkers[i] = (m, up, rate, level);
                crate::id_index::prefetch(&step[up as usize]);
                i += 1;
            }
        }
    };
    for (m, &b) in base.iter().enumerate() {
        if b == 0 || k == 0 {
            continue;
        }
        let start = if rule.include_self { m as u32 } else { parent[m] };
        if start == NONE {
            continue;
        }
        walkers.push((m, start, 0, 0));
        if walkers.len() == BATCH {
            run_batch(&mut walkers, &mut numerators);
        }
    }
    run_batch(&mut walkers, &mut numerators);
    let amount = numerators
        .iter()
        .enumerate()
        .map(|(row, &x)| to_minor(x, plan.rounding, || format!("differential bonus of member row {row}")))
        .collect::<Result<Vec<i64>>>()?;
    Ok(BonusOutput { amount, breakage: 0, carry: None })
}

/// A member's own base pays the member.
pub(super) fn rebate(plan: &PlanSpec, rule: &RebateRule, base: &[i64], active: &[bool]) -> Result<BonusOutput> {
    let amount = base
        .iter()
        .enumerate()
        .map(|(m, &b)| {
            if rule.requires_active && !active[m] {
                return Ok(0);
            }
            to_minor(i128::from(b) * i128::from(rule.rate_bp), plan.rounding, || format!("rebate of member row {m}"))
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok(BonusOutput { amount, breakage: 0, carry: None })
}
