//! The differential (stair-step) and rebate bonuses of plan v2 ("Differential bonus", "Rebate").
use super::rounding::to_minor;
use super::{BonusOutput, DifferentialRule, PlanSpec, RebateRule};
use super::levels::Numerator;
use crate::error::{KernelError, Result};
use crate::genealogy::{Genealogy, Tree, NONE};

/// Each earner is paid the difference between its rank's rate and the rate already paid below it, up
/// the sponsor line. Computed bottom-up instead of one walk per member: every member carries, per rate
/// level, the base of the members below it whose walks have been paid up to that level so far. An earner
/// pays each bucket below its rate the difference, then moves those bases into its own level; bases paid
/// the top rate drop out. One pass over the tree, whatever its depth (a 10M-deep chain is one pass), and
/// the same exact numerators as the walk, grouped by level.
pub(super) fn differential(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    rule: &DifferentialRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
) -> Result<BonusOutput> {
    let mut levels: Vec<i64> = rule.rate_bp_by_rank.iter().copied().filter(|&r| r > 0).collect();
    levels.sort_unstable();
    levels.dedup();
    if levels.is_empty() {
        // No rank has a rate: nobody earns.
        return Ok(BonusOutput { amount: vec![0; genealogy.len()], breakage: 0, carry: None });
    }
    // Every bucket is a partial sum of bases: i64 holds it when Σ|base| does (half the memory).
    let total_abs: i128 = base.iter().map(|&b| i128::from(b).abs()).sum();
    if total_abs <= i128::from(i64::MAX) {
        stair_sums::<i64>(genealogy, plan, rule, base, active, paid_as, &levels)
    } else {
        stair_sums::<i128>(genealogy, plan, rule, base, active, paid_as, &levels)
    }
}

fn stair_sums<A: Numerator>(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    rule: &DifferentialRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
    levels: &[i64],
) -> Result<BonusOutput> {
    let n = genealogy.len();
    let tree = genealogy.tree(Tree::Sponsor);
    let parent = tree.parent();
    let k = levels.len();
    // sums[v * k + j]: base of the members whose walks reach v having been paid `paid(j)` so far (0, then
    // levels[j - 1]); a member's k buckets sit side by side, in one cache line for the usual few rates.
    let paid = |j: usize| if j == 0 { 0 } else { levels[j - 1] };
    let mut sums = vec![A::default(); n * k];
    let mut amount = vec![0i64; n];
    let mut failure: Option<KernelError> = None;
    let ahead = tree.rows_topological();
    tree.for_each_bottom_up(|v| {
        // Bottom-up in row order is descending rows: the parents of members a few rows ahead are known.
        if ahead && v >= 16 && parent[v - 16] != NONE {
            crate::id_index::prefetch(&sums[parent[v - 16] as usize * k]);
        }
        let row = v * k;
        if rule.include_self {
            sums[row].add(i128::from(base[v]));
        }
        let rate = if !rule.requires_active || active[v] { rule.rate_bp_by_rank[paid_as[v] as usize] } else { 0 };
        // Buckets 0..reached were paid less than `rate`: they pay v the difference.
        let reached = levels.partition_point(|&level| level <= rate);
        if reached > 0 {
            let mut numerator = Some(0i128);
            let mut moved = A::default();
            for j in 0..reached {
                let bucket = std::mem::take(&mut sums[row + j]);
                numerator = numerator
                    .and_then(|x| bucket.get().checked_mul(i128::from(rate - paid(j))).and_then(|s| x.checked_add(s)));
                moved.add(bucket.get());
            }
            if reached < k {
                sums[row + reached].add(moved.get());
            }
            let pay = match numerator {
                Some(x) => to_minor(x, plan.rounding, || format!("differential bonus of member row {v}")),
                None => Err(KernelError::Overflow { context: "differential bonus".into(), row: Some(v) }),
            };
            match pay {
                Ok(x) => amount[v] = x,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if !rule.include_self {
            sums[row].add(i128::from(base[v]));
        }
        let p = parent[v];
        if p != NONE {
            let up = p as usize * k;
            for j in 0..k {
                let x = sums[row + j].get();
                sums[up + j].add(x);
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(BonusOutput { amount, breakage: 0, carry: None }),
    }
}

/// A member's own base pays the member.
pub(super) fn rebate(plan: &PlanSpec, rule: &RebateRule, base: &[i64], active: &[bool]) -> Result<BonusOutput> {
    use rayon::prelude::*;
    let amount = base
        .par_iter()
        .with_min_len(1 << 16)
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
