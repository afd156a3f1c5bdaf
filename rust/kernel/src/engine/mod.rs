//! One commission period (`compensation-plan.md`): ranks bottom-up, then each bonus in plan order over the
//! genealogy's arrays. The plan arrives compiled into plain structs; every amount is an integer, every
//! accumulation of money is i128, and a result that leaves int64 is an error.
pub(crate) mod binary;
pub mod explain;
pub(crate) mod levels;
pub(crate) mod ranks;
pub mod rounding;
pub(crate) mod stairs;
#[cfg(test)]
pub(crate) mod tests;

pub use rounding::Rounding;

use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{invalid, Result};
use crate::genealogy::Genealogy;

/// "No override" / "no tier" in the per-member u16 columns.
pub const NO_VALUE: u16 = u16::MAX;

/// One rank's requirements ("Ranks"); an absent requirement is not checked. Rank 0 is `Member`.
#[derive(Debug, Clone, Default)]
pub struct RankRule {
    pub min_pv: Option<i64>,
    pub min_gv: Option<i64>,
    /// Share of `min_gv` one sponsor leg may count for, in basis points (default 10 000).
    pub max_leg_share_bp: i64,
    /// Legs (personally sponsored members with their downlines) that must hold `leg_rank` or higher.
    pub legs: u32,
    pub leg_rank: u16,
    /// Reached only through a rank override (plan v2).
    pub assigned: bool,
}

/// The binary bonus ("Binary bonus"), with plan v2's pair counting and caps.
#[derive(Debug, Clone)]
pub struct BinaryRule {
    /// Volume column paired (default `bv`).
    pub base: usize,
    /// Exactly one of the two is set.
    pub rate_bp: Option<i64>,
    pub pay_per_pair: Option<i64>,
    pub pair_unit: i64,
    /// 0: no cap.
    pub carry_cap: i64,
    pub requires_active: bool,
    pub requires_sponsored_legs: bool,
    pub flush_unqualified: bool,
    /// Pay cap per paid-as rank (indexed by rank).
    pub cap_by_rank: Vec<Option<i64>>,
    /// Pair cap per tier (indexed by tier).
    pub max_pairs_by_tier: Vec<Option<i64>>,
    /// `over_cap = "carry"`: pairs beyond the tier cap stay in the legs.
    pub carry_over_cap: bool,
    pub requires_tier: bool,
    /// `pay_on = "new_volume"`: pair only when new volume reached a leg this period.
    pub pay_on_new_volume: bool,
}

/// What a level bonus pays on: a volume column, or an earlier bonus's pay (matching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Column(usize),
    BonusPay(usize),
}

/// Unilevel and matching ("Unilevel bonus", "Matching bonus"): a share per sponsor-tree level.
#[derive(Debug, Clone)]
pub struct LevelRule {
    pub base: Base,
    pub rates_bp: Vec<i64>,
    pub compression: bool,
    /// Levels paid per paid-as rank (indexed by rank); `None` pays every level.
    pub depth_by_rank: Vec<Option<u32>>,
    pub requires_active: bool,
}

/// The stair-step bonus of plan v2 ("Differential bonus").
#[derive(Debug, Clone)]
pub struct DifferentialRule {
    pub base: usize,
    /// Rate per paid-as rank (indexed by rank; 0 for a rank not named).
    pub rate_bp_by_rank: Vec<i64>,
    pub include_self: bool,
    pub requires_active: bool,
}

/// A member's own purchase pays the member (plan v2, "Rebate").
#[derive(Debug, Clone)]
pub struct RebateRule {
    pub base: usize,
    pub rate_bp: i64,
    pub requires_active: bool,
}

#[derive(Debug, Clone)]
pub enum BonusRule {
    Binary(BinaryRule),
    Level(LevelRule),
    Differential(DifferentialRule),
    Rebate(RebateRule),
}

#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub rounding: Rounding,
    pub activity_min_pv: i64,
    /// Index 0 is `Member`, with no requirement.
    pub ranks: Vec<RankRule>,
    pub bonuses: Vec<BonusRule>,
    pub tiers: usize,
}

/// A period's inputs, aligned to member rows.
pub struct PeriodInput<'a> {
    /// Period sums per member: column 0 is PV, column 1 is BV, then the plan's declared columns.
    pub columns: Vec<&'a [i64]>,
    /// The member's status is `active` (not yet the PV test).
    pub status_active: &'a [bool],
    /// Highest rank carried in the state (0 = `Member`).
    pub prev_highest: &'a [u16],
    /// Incoming carries per bonus (used for binary bonuses; `None` means zeros).
    pub carries: Vec<Option<(&'a [i64], &'a [i64])>>,
    pub rank_override: Option<&'a [u16]>,
    pub tier: Option<&'a [u16]>,
}

#[derive(Debug, Clone, Default)]
pub struct BonusOutput {
    pub amount: Vec<i64>,
    /// Money not paid by the plan's limits, in ten-thousandths of a minor unit.
    pub breakage: i128,
    /// Next period's carries (binary bonuses).
    pub carry: Option<(Vec<i64>, Vec<i64>)>,
}

#[derive(Debug, Clone)]
pub struct PeriodOutput {
    /// Active this period: status `active` and PV ≥ `activity.min_pv`.
    pub active: Vec<bool>,
    pub paid_as: Vec<u16>,
    pub highest: Vec<u16>,
    pub bonuses: Vec<BonusOutput>,
}

/// What a live projection shows beside a member's lines (`crate::live`): figures the period computes on
/// the way and otherwise drops.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Group PV (the member's sponsor subtree), when a rank reads it or counts legs; else empty.
    pub group_pv: Vec<i64>,
    /// The highest paid-as rank in each member's sponsor subtree (itself included), same condition.
    pub subtree_best: Vec<u16>,
    /// Per bonus, for binary bonuses: this period's new volume in the left and right leg.
    pub new_legs: Vec<Option<(Vec<i64>, Vec<i64>)>>,
}

/// Runs one period of `plan` over `genealogy`.
pub fn run_period(genealogy: &Genealogy, plan: &PlanSpec, input: &PeriodInput<'_>) -> Result<PeriodOutput> {
    run(genealogy, plan, input, false).map(|(output, _)| output)
}

/// [`run_period`], keeping the [`Detail`] a member's live figures need.
pub fn run_period_detailed(
    genealogy: &Genealogy,
    plan: &PlanSpec,
    input: &PeriodInput<'_>,
) -> Result<(PeriodOutput, Detail)> {
    run(genealogy, plan, input, true).map(|(output, detail)| (output, detail.unwrap_or_default()))
}

fn run(genealogy: &Genealogy, plan: &PlanSpec, input: &PeriodInput<'_>, detail: bool) -> Result<(PeriodOutput, Option<Detail>)> {
    check_input(genealogy, plan, input)?;
    let pv = input.columns[0];
    let active: Vec<bool> =
        pv.iter().zip(input.status_active).map(|(&p, &status)| status && p >= plan.activity_min_pv).collect();
    // Level bonuses with the same compression and activity settings share who occupies each level.
    let mut walk_settings: Vec<(bool, bool)> = Vec::new();
    for bonus in &plan.bonuses {
        if let BonusRule::Level(rule) = bonus {
            let key = (rule.compression, rule.requires_active);
            if !walk_settings.contains(&key) {
                walk_settings.push(key);
            }
        }
    }
    // Ranks resolve on one core while the other prepares what the bonuses need without ranks: binary
    // leg volumes and sponsored legs, and who occupies each level.
    let (paid_as, prep) = rayon::join(
        || ranks::resolve(genealogy, plan, pv, input.status_active, input.rank_override, detail),
        || -> Result<_> {
            let prepared = plan
                .bonuses
                .iter()
                .map(|b| match b {
                    BonusRule::Binary(rule) => binary::prepare(genealogy, rule, input, &active).map(|p| Mutex::new(Some(p))),
                    _ => Ok(Mutex::new(None)),
                })
                .collect::<Result<Vec<_>>>()?;
            let links: Vec<levels::Links> = walk_settings
                .iter()
                .map(|&(compression, requires_active)| {
                    let rule = LevelRule {
                        base: Base::Column(0),
                        rates_bp: Vec::new(),
                        compression,
                        depth_by_rank: Vec::new(),
                        requires_active,
                    };
                    levels::links(genealogy, &rule, &active)
                })
                .collect();
            Ok((prepared, links))
        },
    );
    let (paid_as, subtree) = paid_as?;
    let (prepared, links) = prep?;
    let mut new_legs: Vec<Option<(Vec<i64>, Vec<i64>)>> = vec![None; plan.bonuses.len()];
    if detail {
        for (slot, prepared) in new_legs.iter_mut().zip(&prepared) {
            if let Some(p) = prepared.lock().map_err(|_| invalid("binary preparation poisoned"))?.as_ref() {
                let (left, right) = p.new_legs();
                *slot = Some((left.to_vec(), right.to_vec()));
            }
        }
    }
    let highest = paid_as.iter().zip(input.prev_highest).map(|(&p, &h)| p.max(h)).collect();
    let links_for = |rule: &LevelRule| -> Result<&levels::Links> {
        let key = (rule.compression, rule.requires_active);
        let at = walk_settings.iter().position(|&k| k == key).ok_or_else(|| invalid("walk settings not prepared"))?;
        Ok(&links[at])
    };
    // Bonuses on volume columns do not depend on each other: they run side by side; a bonus on another
    // bonus's pay (matching) runs after, in plan order.
    // `base_pay`: the pay of the bonus this one is based on, when it is based on one.
    let run_one = |index: usize, base_pay: Option<&[i64]>| -> Result<BonusOutput> {
        match &plan.bonuses[index] {
            BonusRule::Binary(rule) => {
                let taken = prepared[index].lock().map_err(|_| invalid("binary preparation poisoned"))?.take();
                let prepared = match taken {
                    Some(p) => p,
                    None => binary::prepare(genealogy, rule, input, &active)?,
                };
                binary::run(prepared, plan, rule, input, index, &active, &paid_as)
            }
            BonusRule::Level(rule) => {
                let base = match rule.base {
                    Base::Column(c) => input.columns[c],
                    Base::BonusPay(_) => match base_pay {
                        Some(amount) => amount,
                        None => return Err(invalid("a bonus's base was not computed before it")),
                    },
                };
                levels::run(plan, rule, base, links_for(rule)?, &paid_as)
            }
            BonusRule::Differential(rule) => {
                stairs::differential(genealogy, plan, rule, input.columns[rule.base], &active, &paid_as)
            }
            BonusRule::Rebate(rule) => stairs::rebate(plan, rule, input.columns[rule.base], &active),
        }
    };
    // Each bonus on a volume column starts a task on its own core; a bonus on its pay (matching on
    // binary) follows in the same task as soon as that pay is known.
    let depends_on = |rule: &BonusRule| match rule {
        BonusRule::Level(LevelRule { base: Base::BonusPay(b), .. }) => Some(*b),
        _ => None,
    };
    let tasks: Vec<Vec<(usize, Result<BonusOutput>)>> = (0..plan.bonuses.len())
        .into_par_iter()
        .filter(|&i| depends_on(&plan.bonuses[i]).is_none())
        .map(|i| {
            let first = run_one(i, None);
            let mut followers = Vec::new();
            if let Ok(output) = &first {
                for j in (i + 1)..plan.bonuses.len() {
                    if depends_on(&plan.bonuses[j]) == Some(i) {
                        followers.push((j, run_one(j, Some(&output.amount))));
                    }
                }
            }
            let mut outputs = vec![(i, first)];
            outputs.extend(followers);
            outputs
        })
        .collect();
    let mut slots: Vec<Option<BonusOutput>> = vec![None; plan.bonuses.len()];
    for (i, output) in tasks.into_iter().flatten() {
        slots[i] = Some(output?);
    }
    if slots.iter().any(Option::is_none) {
        return Err(invalid("a bonus depends on a bonus that is not computed before it"));
    }
    let bonuses: Vec<BonusOutput> = slots.into_iter().flatten().collect();
    let detail = detail.then(|| {
        let (group_pv, subtree_best) = subtree.unwrap_or_default();
        Detail { group_pv, subtree_best, new_legs }
    });
    Ok((PeriodOutput { active, paid_as, highest, bonuses }, detail))
}

/// The commission lines of a period: every non-zero amount, by member row, then bonus in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    pub row: Vec<u32>,
    pub bonus: Vec<u16>,
    pub amount: Vec<i64>,
}

/// Exact totals (i128) of per-member amounts or volumes, for summaries that must not wrap.
pub fn total(values: &[i64]) -> i128 {
    values.par_chunks(1 << 16).map(|chunk| chunk.iter().map(|&v| i128::from(v)).sum::<i128>()).sum()
}

pub fn lines(output: &PeriodOutput) -> Lines {
    // One pass over blocks of members on every core, each block's lines gathered on its own (they are
    // few: most members earn nothing), then joined in block order: the order is the sequential one,
    // member row, then bonus in plan order.
    const BLOCK: usize = 1 << 16;
    let n = output.paid_as.len();
    let bonuses = &output.bonuses;
    let parts: Vec<Lines> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut part = Lines::default();
            for row in b * BLOCK..((b + 1) * BLOCK).min(n) {
                for (k, bonus) in bonuses.iter().enumerate() {
                    let amount = bonus.amount[row];
                    if amount != 0 {
                        part.row.push(row as u32);
                        part.bonus.push(k as u16);
                        part.amount.push(amount);
                    }
                }
            }
            part
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.row.len()).sum();
    let mut lines =
        Lines { row: Vec::with_capacity(total), bonus: Vec::with_capacity(total), amount: Vec::with_capacity(total) };
    for part in parts {
        lines.row.extend_from_slice(&part.row);
        lines.bonus.extend_from_slice(&part.bonus);
        lines.amount.extend_from_slice(&part.amount);
    }
    lines
}

fn check_input(genealogy: &Genealogy, plan: &PlanSpec, input: &PeriodInput<'_>) -> Result<()> {
    let n = genealogy.len();
    let lengths_ok = input.columns.iter().all(|c| c.len() == n)
        && input.status_active.len() == n
        && input.prev_highest.len() == n
        && input.rank_override.is_none_or(|o| o.len() == n)
        && input.tier.is_none_or(|t| t.len() == n)
        && input.carries.iter().flatten().all(|(l, r)| l.len() == n && r.len() == n);
    if !lengths_ok || input.columns.len() < 2 {
        return Err(invalid("period inputs must hold pv, bv and every column for each member row"));
    }
    if input.carries.len() != plan.bonuses.len() {
        return Err(invalid("carries must be given per bonus"));
    }
    if plan.ranks.is_empty() || plan.ranks.len() >= NO_VALUE as usize {
        return Err(crate::error::KernelError::Plan { message: "a plan has 1 to 65534 ranks (Member first)".into() });
    }
    let ranks = plan.ranks.len() as u16;
    let bad_rank = input.prev_highest.iter().any(|&r| r >= ranks)
        || input.rank_override.is_some_and(|o| o.iter().any(|&r| r != NO_VALUE && r >= ranks));
    let bad_tier = input.tier.is_some_and(|t| t.iter().any(|&x| x != NO_VALUE && x as usize >= plan.tiers));
    // Every number of a plan is a non-negative integer (the spec's "Units"): checked again here, since
    // a plan can reach the kernel without the Python loader.
    let negative = plan.activity_min_pv < 0
        || plan.ranks.iter().any(|r| {
            r.min_pv.is_some_and(|x| x < 0) || r.min_gv.is_some_and(|x| x < 0) || r.max_leg_share_bp < 0
                || r.leg_rank as usize >= plan.ranks.len()
        })
        || plan.bonuses.iter().any(|b| match b {
            BonusRule::Binary(b) => {
                b.rate_bp.is_some_and(|x| x < 0)
                    || b.pay_per_pair.is_some_and(|x| x < 0)
                    || b.cap_by_rank.iter().flatten().any(|&x| x < 0)
                    || b.max_pairs_by_tier.iter().flatten().any(|&x| x < 0)
            }
            BonusRule::Level(l) => l.rates_bp.iter().any(|&x| x < 0),
            BonusRule::Differential(d) => d.rate_bp_by_rank.iter().any(|&x| x < 0),
            BonusRule::Rebate(r) => r.rate_bp < 0,
        });
    if negative {
        return Err(crate::error::KernelError::Plan { message: "plan numbers must be non-negative".into() });
    }
    if bad_rank || bad_tier {
        return Err(invalid("rank or tier index out of range"));
    }
    for (index, rule) in plan.bonuses.iter().enumerate() {
        let ok = match rule {
            BonusRule::Binary(b) => {
                b.base < input.columns.len()
                    && b.pair_unit >= 1
                    && b.carry_cap >= 0
                    && b.rate_bp.is_some() != b.pay_per_pair.is_some()
                    && b.cap_by_rank.len() == plan.ranks.len()
                    && b.max_pairs_by_tier.len() == plan.tiers
            }
            BonusRule::Level(l) => {
                l.depth_by_rank.len() == plan.ranks.len()
                    && match l.base {
                        Base::Column(c) => c < input.columns.len(),
                        Base::BonusPay(b) => b < index && matches!(plan.bonuses[b], BonusRule::Binary(_)),
                    }
            }
            BonusRule::Differential(d) => d.base < input.columns.len() && d.rate_bp_by_rank.len() == plan.ranks.len(),
            BonusRule::Rebate(r) => r.base < input.columns.len(),
        };
        if !ok {
            return Err(crate::error::KernelError::Plan { message: format!("bonus {index} is inconsistent") });
        }
    }
    Ok(())
}
