//! Unilevel and matching ("Unilevel bonus", "Matching bonus"; plan v2 `requires_active`): each member's
//! base pays up its sponsor line, one rate per level, summed per earner as numerators and rounded once.
use super::rounding::to_minor;
use super::{BonusOutput, LevelRule, PlanSpec};
use crate::error::Result;
use crate::genealogy::{Genealogy, Tree, NONE};

/// Each member's upline that occupies its first level: the sponsor, or with compression the nearest
/// upline allowed to earn (`eligible`). Computed top-down once, so a walk never crosses a run of skipped
/// members one by one, however long the run.
pub(crate) fn level_parents(genealogy: &Genealogy, eligible: &[bool], compression: bool) -> Vec<u32> {
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

pub(crate) fn eligible(rule: &LevelRule, active: &[bool]) -> Vec<bool> {
    if rule.requires_active {
        active.to_vec()
    } else {
        vec![true; active.len()]
    }
}

/// Whether an earner of this paid-as rank is paid on (1-based) `level`.
#[inline]
pub(crate) fn deep_enough(rule: &LevelRule, rank: u16, level: usize) -> bool {
    rule.depth_by_rank[rank as usize].is_none_or(|depth| level <= depth as usize)
}

/// An earner's amount from what reached it at each level (`reached(k)`: at level k + 1), as
/// [`level_sums`] settles it: the shares of the levels it is paid on, summed and rounded once.
#[inline]
pub(crate) fn amount_from_reached(
    plan: &PlanSpec,
    rule: &LevelRule,
    row: usize,
    eligible: bool,
    rank: u16,
    reached: impl Fn(usize) -> i64,
) -> Result<i64> {
    if !eligible {
        return Ok(0);
    }
    let mut numerator = 0i128;
    for (k, &rate) in rule.rates_bp.iter().enumerate() {
        if deep_enough(rule, rank, k + 1) {
            numerator += i128::from(reached(k)) * i128::from(rate);
        }
    }
    if numerator == 0 {
        return Ok(0);
    }
    to_minor(numerator, plan.rounding, || format!("level bonus of member row {row}"))
}

/// A per-earner numerator accumulator: i64 when the period's bases cannot overflow it (the usual
/// case: half the memory traffic), i128 otherwise.
pub(super) trait Numerator: Copy + Default + Send + Sync {
    fn add(&mut self, share: i128);
    fn get(self) -> i128;
}

impl Numerator for i64 {
    #[inline]
    fn add(&mut self, share: i128) {
        // Cannot overflow or truncate: the caller checked the bound of every share and partial sum
        // (Σ|base| × max |rate| ≤ i64::MAX).
        *self += share as i64;
    }
    fn get(self) -> i128 {
        i128::from(self)
    }
}

impl Numerator for i128 {
    #[inline]
    fn add(&mut self, share: i128) {
        *self += share;
    }
    fn get(self) -> i128 {
        self
    }
}

/// Who may earn and who occupies each member's first level under `rule`'s compression and activity
/// settings. Needs no ranks, so it is computed while they resolve; bonuses with the same settings
/// (unilevel and matching, usually) share one.
pub(super) struct Links {
    eligible: Vec<bool>,
    up: Vec<u32>,
}

pub(super) fn links(genealogy: &Genealogy, rule: &LevelRule, active: &[bool]) -> Links {
    let eligible = eligible(rule, active);
    let up = level_parents(genealogy, &eligible, rule.compression);
    Links { eligible, up }
}

pub(super) fn run(plan: &PlanSpec, rule: &LevelRule, base: &[i64], links: &Links, paid_as: &[u16]) -> Result<BonusOutput> {
    let total_abs: i128 = base.iter().map(|&b| i128::from(b).abs()).sum();
    let max_rate = rule.rates_bp.iter().map(|r| r.unsigned_abs()).max().unwrap_or(0).max(1);
    if total_abs * i128::from(max_rate) <= i128::from(i64::MAX) {
        level_sums::<i64>(plan, rule, base, links, paid_as)
    } else {
        level_sums::<i128>(plan, rule, base, links, paid_as)
    }
}

/// Level by level instead of one walk per member: the base reaching each member at level k is the sum,
/// over the members whose first level it occupies, of what reached them at level k − 1 (level 0: their
/// own base). One scatter pass per level, in any order, so the tree's depth and shape cost nothing; the
/// numerators are the walk's, grouped by level. Every partial sum is bounded by Σ|base|, every
/// numerator by Σ|base| × max |rate| (a member's base reaches an upline on one level only).
///
/// Each pass reads what reached the members at the level before in row order; it settles their share of
/// that level on the way (numerator or breakage), and the last level's shares are settled in the pass
/// that rounds the amounts.
fn level_sums<A: Numerator>(
    plan: &PlanSpec,
    rule: &LevelRule,
    base: &[i64],
    links: &Links,
    paid_as: &[u16],
) -> Result<BonusOutput> {
    let n = base.len();
    let up = &links.up;
    let mut numerators = vec![A::default(); n];
    let mut breakage = 0i128;
    // A member's share of what reached it at (1-based) `level`: earned, or, without compression for an
    // upline that may not earn (it still occupies its level), breakage.
    let mut settle = |v: usize, x: i128, level: usize, numerators: &mut [A]| {
        let share = x * i128::from(rule.rates_bp[level - 1]);
        if links.eligible[v] && deep_enough(rule, paid_as[v], level) {
            numerators[v].add(share);
        } else {
            breakage += share;
        }
    };
    // `reached[v]`: the base reaching v at this level; `below`: at the previous one (level 1: `base`).
    let mut reached = vec![A::default(); n];
    let mut below: Vec<A> = Vec::new();
    // The level whose shares are in `reached` and not yet settled (0: none).
    let mut unsettled = 0;
    for k in 0..rule.rates_bp.len() {
        if k > 0 {
            std::mem::swap(&mut below, &mut reached);
            if reached.is_empty() {
                reached = vec![A::default(); n];
            } else {
                reached.fill(A::default());
            }
        }
        let any = if k == 0 {
            scatter(up, &mut reached, |c| i128::from(base[c]), |_, _| {})
        } else {
            scatter(up, &mut reached, |c| below[c].get(), |c, x| settle(c, x, k, &mut numerators))
        };
        if !any {
            unsettled = 0;
            break;
        }
        unsettled = k + 1;
    }
    let mut amount = vec![0i64; n];
    for v in 0..n {
        if unsettled > 0 {
            let x = reached[v].get();
            if x != 0 {
                settle(v, x, unsettled, &mut numerators);
            }
        }
        let x = numerators[v].get();
        if x != 0 {
            amount[v] = to_minor(x, plan.rounding, || format!("level bonus of member row {v}"))?;
        }
    }
    Ok(BonusOutput { amount, breakage, carry: None })
}

/// Adds each member's non-zero `value` to the entry of the member occupying its first level (`up`), and
/// says whether anything was added; `each` sees every member's non-zero value, in row order. The
/// targets are random rows, so they are fetched ahead; only the members with something to add are
/// fetched: most bases are sparse (matching pays on the few binary earners, and each deeper level
/// reaches fewer members).
fn scatter<A: Numerator>(
    up: &[u32],
    reached: &mut [A],
    value: impl Fn(usize) -> i128,
    mut each: impl FnMut(usize, i128),
) -> bool {
    const BLOCK: usize = 4096;
    const AHEAD: usize = 16;
    let mut pending: Vec<(u32, i128)> = Vec::with_capacity(BLOCK);
    let mut any = false;
    for start in (0..up.len()).step_by(BLOCK) {
        pending.clear();
        for (c, &u) in up.iter().enumerate().skip(start).take(BLOCK) {
            let x = value(c);
            if x != 0 {
                each(c, x);
                if u != NONE {
                    pending.push((u, x));
                }
            }
        }
        any |= !pending.is_empty();
        for i in 0..pending.len() {
            if let Some(&(ahead, _)) = pending.get(i + AHEAD) {
                crate::id_index::prefetch(&reached[ahead as usize]);
            }
            let (u, x) = pending[i];
            reached[u as usize].add(x);
        }
    }
    any
}
