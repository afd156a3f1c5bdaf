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

/// What a walk reads of each upline, packed so that one cache line answers a level.
#[derive(Clone, Copy)]
struct Upline {
    /// The next upline that occupies a level (`NONE` above the root).
    next: u32,
    rank: u16,
    eligible: bool,
}

/// Members walked at once: their loads are independent, so their cache misses overlap.
const BATCH: usize = 16;

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
    let nodes: Vec<Upline> =
        (0..n).map(|v| Upline { next: up[v], rank: paid_as[v], eligible: eligible[v] }).collect();
    drop(up);
    drop(eligible);
    let mut numerators = vec![0i128; n];
    let mut breakage = 0i128;
    let mut batch_members = [0usize; BATCH];
    let mut filled = 0;
    let walk = |members: &[usize], numerators: &mut [i128], breakage: &mut i128| {
        let mut at = [NONE; BATCH];
        for (i, &m) in members.iter().enumerate() {
            at[i] = nodes[m].next;
        }
        for (k, &rate) in rule.rates_bp.iter().enumerate() {
            let mut any = false;
            for &u in &at[..members.len()] {
                if u != NONE {
                    crate::id_index::prefetch(&nodes[u as usize]);
                    crate::id_index::prefetch(&numerators[u as usize]);
                    any = true;
                }
            }
            if !any {
                break;
            }
            for (i, &m) in members.iter().enumerate() {
                let u = at[i];
                if u == NONE {
                    continue;
                }
                let node = nodes[u as usize];
                let share = i128::from(base[m]) * i128::from(rate);
                // Without compression an upline that may not earn still occupies its level: breakage.
                if node.eligible && deep_enough(rule, node.rank, k + 1) {
                    numerators[u as usize] += share;
                } else {
                    *breakage += share;
                }
                at[i] = node.next;
            }
        }
    };
    for (m, &b) in base.iter().enumerate() {
        if b == 0 {
            continue;
        }
        batch_members[filled] = m;
        filled += 1;
        if filled == BATCH {
            walk(&batch_members, &mut numerators, &mut breakage);
            filled = 0;
        }
    }
    walk(&batch_members[..filled], &mut numerators, &mut breakage);
    let amount = numerators
        .iter()
        .enumerate()
        .map(|(row, &x)| to_minor(x, plan.rounding, || format!("level bonus of member row {row}")))
        .collect::<Result<Vec<i64>>>()?;
    Ok(BonusOutput { amount, breakage, carry: None })
}
