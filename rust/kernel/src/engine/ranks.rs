//! Paid-as ranks, bottom-up over the sponsor tree ("Ranks"; plan v2 "Rank overrides and assigned ranks").
use super::{PlanSpec, RankRule, NO_VALUE};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree};
use crate::rollup::RollupOp;

/// Each member's paid-as rank index. Children are resolved before parents, since a parent's `legs`
/// requirement reads the highest paid-as rank in each child's subtree.
pub(super) fn resolve(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    pv: &[i64],
    status_active: &[bool],
    rank_override: Option<&[u16]>,
) -> Result<Vec<u16>> {
    let n = genealogy.len();
    let tree = genealogy.tree(Tree::Sponsor);
    let needs_gv = plan.ranks.iter().any(|r| r.min_gv.is_some());
    // A leg's PV is its top member's group PV (subtree sum).
    let group_pv = if needs_gv { genealogy.rollup(Tree::Sponsor, RollupOp::Sum, Some(pv))? } else { Vec::new() };
    let mut paid_as = vec![0u16; n];
    // Highest paid-as rank anywhere in each member's subtree.
    let mut subtree_best = vec![0u16; n];
    let top = plan.ranks.len() - 1;
    tree.for_each_bottom_up(|v| {
        let children = tree.children(v);
        let overridden = rank_override.map_or(NO_VALUE, |o| o[v]);
        let rank = if overridden != NO_VALUE {
            overridden
        } else if !status_active[v] {
            0
        } else {
            (1..=top)
                .rev()
                .find(|&r| meets(&plan.ranks[r], pv[v], children, &group_pv, &subtree_best))
                .unwrap_or(0) as u16
        };
        paid_as[v] = rank;
        subtree_best[v] = children.iter().fold(rank, |best, &c| best.max(subtree_best[c as usize]));
    });
    Ok(paid_as)
}

fn meets(rule: &RankRule, pv: i64, legs: &[u32], group_pv: &[i64], subtree_best: &[u16]) -> bool {
    if rule.assigned {
        return false;
    }
    if rule.min_pv.is_some_and(|min| pv < min) {
        return false;
    }
    if let Some(min_gv) = rule.min_gv {
        // 10000·PV + Σ_legs min(10000·legPV, min_gv·share) ≥ 10000·min_gv, exactly, in i128.
        let cap = i128::from(min_gv) * i128::from(rule.max_leg_share_bp);
        let counted: i128 = legs.iter().map(|&c| (10_000 * i128::from(group_pv[c as usize])).min(cap)).sum();
        if 10_000 * i128::from(pv) + counted < 10_000 * i128::from(min_gv) {
            return false;
        }
    }
    if rule.legs > 0 {
        let qualifying = legs.iter().filter(|&&c| subtree_best[c as usize] >= rule.leg_rank).count();
        if qualifying < rule.legs as usize {
            return false;
        }
    }
    true
}
