//! Paid-as ranks, bottom-up over the sponsor tree ("Ranks"; plan v2 "Rank overrides and assigned ranks").
use super::{PlanSpec, NO_VALUE};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree, NONE};

/// What each member passes up the sponsor tree, in one 16-byte entry so that a child's or a parent's
/// figures are one cache line: group PV so far (final once every child has folded in) and the highest
/// paid-as rank in the subtree.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct Upward {
    group_pv: i64,
    best: u16,
}

/// Per member: group PV (empty when no rank reads it) and the highest paid-as rank in its subtree.
pub(super) type Subtree = (Vec<i64>, Vec<u16>);

/// Each member's paid-as rank index. Children are resolved before parents, since a parent's `legs`
/// requirement reads the highest paid-as rank in each child's subtree; group PV (a leg's PV is its top
/// member's group PV) is summed in the same pass.
pub(super) fn resolve(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    pv: &[i64],
    status_active: &[bool],
    rank_override: Option<&[u16]>,
    keep_subtree: bool,
) -> Result<(Vec<u16>, Option<Subtree>)> {
    let n = genealogy.len();
    let tree = genealogy.tree(Tree::Sponsor);
    let needs_gv = plan.ranks.iter().any(|r| r.min_gv.is_some());
    if !reads_tree(plan) {
        // Ranks on the member's own PV only (many package plans): no tree walk, every core.
        return Ok((own_ranks(plan, pv, status_active, rank_override), None));
    }
    let mut up: Vec<Upward> = pv.iter().map(|&group_pv| Upward { group_pv, best: 0 }).collect();
    let mut paid_as = vec![0u16; n];
    let parent = tree.parent();
    let mut eval = RankEval::new(plan);
    let ahead = tree.rows_topological();
    let mut overflow = None;
    tree.for_each_bottom_up(|v| {
        if overflow.is_some() {
            return;
        }
        // Each member ends by folding into its parent: in row order (bottom-up = descending rows) the
        // parents of members a few rows ahead are known, so their lines are fetched early.
        if ahead && v >= 16 && parent[v - 16] != NONE {
            crate::id_index::prefetch(&up[parent[v - 16] as usize]);
        }
        let group_pv = up[v].group_pv;
        let overridden = rank_override.map_or(NO_VALUE, |o| o[v]);
        let rank = eval.rank(plan, pv[v], status_active[v], overridden, group_pv, || tree.children(v), |c| {
            let leg = up[c as usize];
            (leg.group_pv, leg.best)
        });
        paid_as[v] = rank;
        let best = up[v].best.max(rank);
        up[v].best = best;
        let p = parent[v];
        if p != NONE {
            let top = &mut up[p as usize];
            top.best = top.best.max(best);
            if needs_gv {
                match top.group_pv.checked_add(group_pv) {
                    Some(sum) => top.group_pv = sum,
                    None => overflow = Some(p as usize),
                }
            }
        }
    });
    if let Some(row) = overflow {
        return Err(crate::rollup::overflow(Tree::Sponsor, row));
    }
    // Group PV and the subtree's best rank, for a member's live figures ("what it still needs").
    // Group PV is summed only when a rank reads it.
    let subtree = keep_subtree.then(|| {
        let group_pv = if needs_gv { up.iter().map(|u| u.group_pv).collect() } else { Vec::new() };
        (group_pv, up.iter().map(|u| u.best).collect())
    });
    Ok((paid_as, subtree))
}

/// Whether a plan's ranks read the sponsor tree (group PV or legs); if not, [`own_rank`] decides.
pub(crate) fn reads_tree(plan: &PlanSpec) -> bool {
    plan.ranks.iter().any(|r| r.min_gv.is_some() || r.legs > 0)
}

/// One member's paid-as rank from its own figures and its legs', with the scratch space every member
/// reuses: still a candidate, capped leg sum and legs holding `leg_rank`, per rank.
pub(crate) struct RankEval {
    candidate: Vec<bool>,
    counted: Vec<i128>,
    qualifying: Vec<u32>,
    /// Below every earnable rank's PV or group PV, or inactive: rank 0 without the loops (most members).
    lowest_pv: Option<i64>,
    lowest_gv: Option<i64>,
}

impl RankEval {
    pub(crate) fn new(plan: &PlanSpec) -> Self {
        let ranks = &plan.ranks;
        RankEval {
            candidate: vec![false; ranks.len()],
            counted: vec![0i128; ranks.len()],
            qualifying: vec![0u32; ranks.len()],
            lowest_pv: ranks.iter().skip(1).filter(|r| !r.assigned).map(|r| r.min_pv.unwrap_or(i64::MIN)).min(),
            lowest_gv: ranks.iter().skip(1).filter(|r| !r.assigned).map(|r| r.min_gv.unwrap_or(i64::MIN)).min(),
        }
    }

    /// The paid-as rank of a member with `pv`, `group_pv` and sponsor-tree `children` (asked for
    /// only when a rank reads the legs); `leg(c)` is child
    /// `c`'s group PV and the highest paid-as rank in its subtree.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rank<'t>(
        &mut self,
        plan: &PlanSpec,
        pv: i64,
        status_active: bool,
        overridden: u16,
        group_pv: i64,
        children: impl FnOnce() -> &'t [u32],
        leg: impl Fn(u32) -> (i64, u16),
    ) -> u16 {
        let ranks = &plan.ranks;
        if overridden != NO_VALUE {
            return overridden;
        }
        if !status_active || self.lowest_pv.is_none_or(|min| pv < min) || self.lowest_gv.is_some_and(|min| group_pv < min) {
            return 0;
        }
        let RankEval { candidate, counted, qualifying, .. } = self;
        // Cheap tests first. min(x, cap) ≤ x, so 10000·PV + Σ min(10000·leg, cap) never exceeds
        // 10000·group PV: a member whose group PV is below min_gv fails without reading its legs.
        let mut any = false;
        let mut needs_legs = false;
        for (r, rule) in ranks.iter().enumerate().skip(1) {
            let ok = !rule.assigned && rule.min_pv.is_none_or(|min| pv >= min) && rule.min_gv.is_none_or(|min| group_pv >= min);
            candidate[r] = ok;
            any |= ok;
            needs_legs |= ok && (rule.min_gv.is_some() || rule.legs > 0);
        }
        if any && needs_legs {
            // One pass over the legs serves every rank.
            counted.iter_mut().for_each(|c| *c = 0);
            qualifying.iter_mut().for_each(|q| *q = 0);
            for &c in children() {
                let (leg_gv, leg_best) = leg(c);
                let leg_pv = 10_000 * i128::from(leg_gv);
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
                    && rule.min_gv.is_none_or(|min| 10_000 * i128::from(pv) + counted[r] >= 10_000 * i128::from(min))
                    && (rule.legs == 0 || qualifying[r] >= rule.legs)
            })
            .unwrap_or(0) as u16
    }
}

/// A member's paid-as rank when no rank reads the downline: the highest rank whose `min_pv` it meets.
#[inline]
pub(crate) fn own_rank(plan: &PlanSpec, pv: i64, status_active: bool, overridden: u16) -> u16 {
    if overridden != NO_VALUE {
        return overridden;
    }
    if !status_active {
        return 0;
    }
    (1..plan.ranks.len())
        .rev()
        .find(|&r| !plan.ranks[r].assigned && plan.ranks[r].min_pv.is_none_or(|min| pv >= min))
        .unwrap_or(0) as u16
}

/// Paid-as ranks when no rank reads the downline: the highest rank whose `min_pv` the member meets.
fn own_ranks(plan: &PlanSpec, pv: &[i64], status_active: &[bool], rank_override: Option<&[u16]>) -> Vec<u16> {
    use rayon::prelude::*;
    (0..pv.len())
        .into_par_iter()
        .with_min_len(1 << 16)
        .map(|v| own_rank(plan, pv[v], status_active[v], rank_override.map_or(NO_VALUE, |o| o[v])))
        .collect()
}
