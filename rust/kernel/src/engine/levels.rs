//! Unilevel and matching ("Unilevel bonus", "Matching bonus"; plan v2 `requires_active`): each member's
//! base pays up its sponsor line, one rate per level, summed per earner as numerators and rounded once.
use super::rounding::to_minor;
use super::{BonusOutput, LevelRule, PlanSpec};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree, NONE};

/// Each member's upline that occupies its first level: the sponsor, or with compression the nearest
/// upline allowed to earn (`eligible`). Computed top-down once, so a walk never crosses a run of skipped
/// members one by one, however long the run.
pub(super) fn level_parents(genealogy: &Genealogy, eligible: &[bool], compression: bool) -> Vec<u32> {
    let tree = genealogy.tree(Tree::Sponsor);
    let parent = tree.parent();
    if !compression {
        return parent.to_vec();
    }
    let mut up = vec![NONE; parent.len()];
    tree.for_each_top_down(|v| {
        let p = parent[v];
        if p != NONE {
            up[v] = if eligible[p as usize] { p } else { up[p as usize] };
        }
    });
    up
}

pub(super) fn eligible(rule: &LevelRule, active: &[bool]) -> Vec<bool> {
    if rule.requires_active {
        active.to_vec()
    } else {
        vec![true; active.len()]
    }
}

/// Whether an earner of this paid-as rank is paid on (1-based) `level`.
#[inline]
pub(super) fn deep_enough(rule: &LevelRule, rank: u16, level: usize) -> bool {
    rule.depth_by_rank[rank as usize].is_none_or(|depth| level <= depth as usize)
}

pub(super) fn run(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    rule: &LevelRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
) -> Result<BonusOutput> {
    let n = genealogy.len();
    let eligible = eligible(rule, active);
    let up = level_parents(genealogy, &eligible, rule.compression);
    let mut numerators = vec![0i128; n];
    let mut breakage = 0i128;
    for (m, &b) in base.iter().enumerate() {
        if b == 0 {
            continue;
        }
        let mut u = up[m];
        for (k, &rate) in rule.rates_bp.iter().enumerate() {
            if u == NONE {
                break;
            }
            let share = i128::from(b) * i128::from(rate);
            let earner = u as usize;
            // Without compression an upline that may not earn still occupies its level: breakage.
            if eligible[earner] && deep_enough(rule, paid_as[earner], k + 1) {
                numerators[earner] += share;
            } else {
                breakage += share;
            }
            u = up[earner];
        }
    }
    let amount = numerators
        .iter()
        .enumerate()
        .map(|(row, &x)| to_minor(x, plan.rounding, || format!("level bonus of member row {row}")))
        .collect::<Result<Vec<i64>>>()?;
    Ok(BonusOutput { amount, breakage, carry: None })
}
