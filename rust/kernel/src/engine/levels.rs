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
pub(super) struct Upline {
    /// The next upline that occupies a level (`NONE` above the root).
    next: u32,
    rank: u16,
    eligible: bool,
}

/// Members walked at once: their loads are independent, so their cache misses overlap.
const BATCH: usize = 16;

/// A per-earner numerator accumulator: i64 when the period's bases cannot overflow it (the usual
/// case: half the memory traffic), i128 otherwise.
trait Numerator: Copy + Default + Send {
    fn add(&mut self, share: i128);
    fn get(self) -> i128;
}

impl Numerator for i64 {
    #[inline]
    fn add(&mut self, share: i128) {
        // Cannot overflow or truncate: the caller checked Σ|base| × max |rate| ≤ i64::MAX, which bounds
        // every share and every partial sum.
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
/// settings. Needs no ranks, so it is computed while they resolve.
pub(super) struct Links {
    eligible: Vec<bool>,
    up: Vec<u32>,
}

pub(super) fn links(genealogy: &Genealogy, rule: &LevelRule, active: &[bool]) -> Links {
    let eligible = eligible(rule, active);
    let up = level_parents(genealogy, &eligible, rule.compression);
    Links { eligible, up }
}

/// The uplines a walk follows, with the paid-as ranks packed in: bonuses with the same settings
/// (unilevel and matching, usually) share one.
pub(super) fn uplines(links: &Links, paid_as: &[u16]) -> Vec<Upline> {
    (0..links.up.len()).map(|v| Upline { next: links.up[v], rank: paid_as[v], eligible: links.eligible[v] }).collect()
}

pub(super) fn run(
    plan: &PlanSpec,
    rule: &LevelRule,
    base: &[i64],
    nodes: &[Upline],
) -> Result<BonusOutput> {
    let total_abs: i128 = base.iter().map(|&b| i128::from(b).abs()).sum();
    let max_rate = rule.rates_bp.iter().map(|r| r.unsigned_abs()).max().unwrap_or(0);
    if total_abs * i128::from(max_rate) <= i128::from(i64::MAX) {
        walk::<i64>(plan, rule, base, nodes)
    } else {
        walk::<i128>(plan, rule, base, nodes)
    }
}

fn walk<A: Numerator>(plan: &PlanSpec, rule: &LevelRule, base: &[i64], nodes: &[Upline]) -> Result<BonusOutput> {
    let n = nodes.len();
    let mut numerators = vec![A::default(); n];
    let mut breakage = 0i128;
    let mut batch_members = [0usize; BATCH];
    let mut filled = 0;
    let walk_batch = |members: &[usize], numerators: &mut [A], breakage: &mut i128| {
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
                    numerators[u as usize].add(share);
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
            walk_batch(&batch_members, &mut numerators, &mut breakage);
            filled = 0;
        }
    }
    walk_batch(&batch_members[..filled], &mut numerators, &mut breakage);
    let amount = numerators
        .iter()
        .enumerate()
        .map(|(row, &x)| to_minor(x.get(), plan.rounding, || format!("level bonus of member row {row}")))
        .collect::<Result<Vec<i64>>>()?;
    Ok(BonusOutput { amount, breakage, carry: None })
}
