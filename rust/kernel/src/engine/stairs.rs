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
    let mut reach: Vec<u32> = vec![NONE; n * k];
    tree.for_each_top_down(|v| {
        let p = parent[v];
        let rate = if eligible(v) { rate_of(v) } else { 0 };
        for (j, &level) in levels.iter().enumerate() {
            reach[v * k + j] =
                if rate >= level { v as u32 } else if p == NONE { NONE } else { reach[p as usize * k + j] };
        }
    });
    let mut numerators = vec![0i128; n];
    for (m, &b) in base.iter().enumerate() {
        if b == 0 || levels.is_empty() {
            continue;
        }
        let start = if rule.include_self { m as u32 } else { parent[m] };
        let mut at = start;
        let mut paid_bp = 0i64;
        let mut level = 0usize; // the lowest rate level still above paid_bp
        while at != NONE && level < levels.len() {
            let earner = reach[at as usize * k + level];
            if earner == NONE {
                break;
            }
            let rate = rate_of(earner as usize);
            numerators[earner as usize] += i128::from(b) * i128::from(rate - paid_bp);
            paid_bp = rate;
            while level < levels.len() && levels[level] <= paid_bp {
                level += 1;
            }
            at = parent[earner as usize];
        }
    }
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
