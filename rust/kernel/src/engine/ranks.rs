//! Paid-as ranks, bottom-up over the sponsor tree ("Ranks"; plan v2 "Rank overrides and assigned ranks").
use super::{PlanSpec, NO_VALUE};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree, NONE};
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
    if !needs_gv && plan.ranks.iter().all(|r| r.legs == 0) {
        // Ranks on the member's own PV only (many package plans): no tree walk, every core.
        return Ok(own_ranks(plan, pv, status_active, rank_override));
    }
    // A leg's PV is its top member's group PV (subtree sum).
    let group_pv = if needs_gv { genealogy.rollup(Tree::Sponsor, RollupOp::Sum, Some(pv))? } else { Vec::new() };
    let mut paid_as = vec![0u16; n];
    // Highest paid-as rank anywhere in each member's subtree, pushed up from children as they finish.
    let mut subtree_best = vec![0u16; n];
    let parent = tree.parent();
    let ranks = &plan.ranks;
    // Per rank, reused for every member: still a candidate, capped leg sum, legs holding leg_rank.
    let mut candidate = vec![false; ranks.len()];
    let mut counted = vec![0i128; ranks.len()];
    let mut qualifying = vec![0u32; ranks.len()];
    let ahead = tree.rows_topological();
    tree.for_each_bottom_up(|v| {
        // Each member ends by writing its parent's subtree_best: in row order (bottom-up = descending
        // rows) the parents of members a few rows ahead are known, so their lines are fetched early.
        if ahead && v >= 16 && parent[v - 16] != NONE {
            crate::id_index::prefetch(&subtree_best[parent[v - 16] as usize]);
        }
        let overridden = rank_override.map_or(NO_VALUE, |o| o[v]);
        let rank = if overridden != NO_VALUE {
            overridden
        } else if !status_active[v] {
            0
        } else {
            // Cheap tests first. min(x, cap) ≤ x, so 10000·PV + Σ min(10000·leg, cap) never exceeds
            // 10000·group PV: a member whose group PV is below min_gv fails without reading its legs.
            let mut any = false;
            let mut needs_legs = false;
            for (r, rule) in ranks.iter().enumerate().skip(1) {
                let ok = !rule.assigned
                    && rule.min_pv.is_none_or(|min| pv[v] >= min)
                    && rule.min_gv.is_none_or(|min| group_pv[v] >= min);
                candidate[r] = ok;
                any |= ok;
                needs_legs |= ok && (rule.min_gv.is_some() || rule.legs > 0);
            }
            if any && needs_legs {
                // One pass over the legs serves every rank.
                counted.iter_mut().for_each(|c| *c = 0);
                qualifying.iter_mut().for_each(|q| *q = 0);
                for &c in tree.children(v) {
                    let leg_pv = 10_000 * i128::from(if needs_gv { group_pv[c as usize] } else { 0 });
                    let leg_best = subtree_best[c as usize];
                    for (r, rule) in ranks.iter().enumerate().skip(1) {
                        if candidate[r] {
                            if let Some(min_gv) = rule.min_gv {
                                counted[r] += leg_pv.min(i128::from(min_gv) * i128::from(rule.max_leg_share_bp));
                            }
                            qualifying[r] += (leg_best >= rule.leg_rank) as u32;
                        }
                    }
                }
            }
            (1..ranks.len())
                .rev()
                .find(|&r| {
                    let rule = &ranks[r];
                    candidate[r]
                        && rule.min_gv.is_none_or(|min| {
                            10_000 * i128::from(pv[v]) + counted[r] >= 10_000 * i128::from(min)
                        })
                        && (rule.legs == 0 || qualifying[r] >= rule.legs)
                })
                .unwrap_or(0) as u16
        };
        paid_as[v] = rank;
        let best = subtree_best[v].max(rank);
        subtree_best[v] = best;
        let p = parent[v];
        if p != NONE && subtree_best[p as usize] < best {
            subtree_best[p as usize] = best;
        }
    });
    Ok(paid_as)
}

/// Paid-as ranks when no rank reads the downline: the highest rank whose `min_pv` the member meets.
fn own_ranks(plan: &PlanSpec, pv: &[i64], status_active: &[bool], rank_override: Option<&[u16]>) -> Vec<u16> {
    use rayon::prelude::*;
    (0..pv.len())
        .into_par_iter()
        .with_min_len(1 << 16)
        .map(|v| {
            let overridden = rank_override.map_or(NO_VALUE, |o| o[v]);
            if overridden != NO_VALUE {
                return overridden;
            }
            if !status_active[v] {
                return 0;
            }
            (1..plan.ranks.len())
                .rev()
                .find(|&r| !plan.ranks[r].assigned && plan.ranks[r].min_pv.is_none_or(|min| pv[v] >= min))
                .unwrap_or(0) as u16
        })
        .collect()
}
