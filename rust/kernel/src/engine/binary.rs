//! The binary bonus over the placement tree ("Binary bonus"; plan v2 "Binary, additions").
use super::{BinaryRule, BonusOutput, PeriodInput, PlanSpec, NO_VALUE};
use crate::error::{KernelError, Result};
use crate::genealogy::{Genealogy, Leg, Tree, NONE};

/// What a binary bonus needs before ranks are known: this period's leg volumes and the sponsored-legs
/// test. Computed while the ranks resolve, on the other core.
pub(super) struct Prepared {
    new_left: Vec<i64>,
    new_right: Vec<i64>,
    /// Per member: bit 1, an active member it sponsored is in its left placement subtree; bit 2, right.
    sponsored_legs: Option<Vec<u8>>,
}

impl Prepared {
    /// This period's new volume in each member's left and right leg.
    pub(super) fn new_legs(&self) -> (&[i64], &[i64]) {
        (&self.new_left, &self.new_right)
    }
}

pub(super) fn prepare(genealogy: &Genealogy, rule: &BinaryRule, input: &PeriodInput<'_>, active: &[bool]) -> Result<Prepared> {
    let (new_left, new_right) = genealogy.leg_volumes(input.columns[rule.base])?;
    let sponsored_legs = if rule.requires_sponsored_legs { Some(sponsored_legs(genealogy, active)) } else { None };
    Ok(Prepared { new_left, new_right, sponsored_legs })
}

pub(super) fn run(
    prepared: Prepared,
    plan: &PlanSpec,
    rule: &BinaryRule,
    input: &PeriodInput<'_>,
    index: usize,
    active: &[bool],
    paid_as: &[u16],
) -> Result<BonusOutput> {
    let n = active.len();
    // The leg volumes become the next carries in place: each member's slot is read before it is written.
    let Prepared { new_left: mut next_left, new_right: mut next_right, sponsored_legs } = prepared;
    let (carry_left, carry_right) = match input.carries[index] {
        Some((l, r)) => (Some(l), Some(r)),
        None => (None, None),
    };
    let mut pay = vec![0i64; n];
    let mut breakage = 0i128;
    for m in 0..n {
        let settled = settle(
            plan,
            rule,
            m,
            (carry_left.map_or(0, |c| c[m]), carry_right.map_or(0, |c| c[m])),
            (next_left[m], next_right[m]),
            active[m],
            sponsored_legs.as_ref().map(|legs| legs[m]),
            input.tier.map_or(NO_VALUE, |t| t[m]),
            paid_as[m],
        )?;
        pay[m] = settled.pay;
        breakage += settled.breakage;
        next_left[m] = settled.left;
        next_right[m] = settled.right;
    }
    Ok(BonusOutput { amount: pay, breakage, carry: Some((next_left, next_right)) })
}

/// One member's binary settlement: its pay, the breakage, and its carries out.
pub(crate) struct Settled {
    pub pay: i64,
    pub breakage: i128,
    pub left: i64,
    pub right: i64,
}

/// Settles member row `m`'s legs: `carry` in and this period's `new` volume (left, right); `legs` is its
/// sponsored-legs flags when the rule reads them.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn settle(
    plan: &PlanSpec,
    rule: &BinaryRule,
    m: usize,
    carry: (i64, i64),
    new: (i64, i64),
    active: bool,
    legs: Option<u8>,
    tier: u16,
    paid_as: u16,
) -> Result<Settled> {
    let overflow = || KernelError::Overflow { context: "binary leg volume".into(), row: Some(m) };
    let (new_left, new_right) = new;
    let mut left = carry.0.checked_add(new_left).ok_or_else(overflow)?;
    let mut right = carry.1.checked_add(new_right).ok_or_else(overflow)?;
    let mut out = Settled { pay: 0, breakage: 0, left, right };
    if rule.pay_on_new_volume && new_left == 0 && new_right == 0 {
        // Passed over: no pay, carries unchanged (no flush, no carry cap).
        return Ok(out);
    }
    let qualified = (!rule.requires_active || active)
        && legs.is_none_or(|legs| legs == BOTH_LEGS)
        && (!rule.requires_tier || tier != NO_VALUE);
    if qualified {
        let weaker = left.min(right);
        if weaker > 0 {
            let pairs = weaker / rule.pair_unit;
            let tier_cap = if tier == NO_VALUE { None } else { rule.max_pairs_by_tier[tier as usize] };
            let paid_pairs = tier_cap.map_or(pairs, |cap| pairs.min(cap));
            let consumed_pairs = if rule.carry_over_cap { paid_pairs } else { pairs };
            let matched = consumed_pairs * rule.pair_unit;
            // Pay before the rank cap, exact in i128: a huge uncapped pay that the cap brings back
            // into range is not an overflow.
            let gross = |pairs: i64| -> i128 {
                match (rule.rate_bp, rule.pay_per_pair) {
                    (Some(rate), _) => super::rounding::div_round(
                        i128::from(pairs) * i128::from(rule.pair_unit) * i128::from(rate),
                        10_000,
                        plan.rounding,
                    ),
                    (None, Some(per_pair)) => i128::from(pairs) * i128::from(per_pair),
                    (None, None) => 0,
                }
            };
            let earned = gross(paid_pairs);
            let capped = rule.cap_by_rank[paid_as as usize].map_or(earned, |cap| earned.min(i128::from(cap)));
            out.pay = i64::try_from(capped)
                .map_err(|_| KernelError::Overflow { context: "binary pay after the rank cap".into(), row: Some(m) })?;
            // What the consumed volume would have paid, less what was paid: cap and pair-cap breakage.
            out.breakage = 10_000 * (gross(consumed_pairs) - capped);
            left -= matched;
            right -= matched;
        }
    } else if rule.flush_unqualified {
        left = 0;
        right = 0;
    }
    if rule.carry_cap > 0 {
        left = left.min(rule.carry_cap);
        right = right.min(rule.carry_cap);
    }
    out.left = left;
    out.right = right;
    Ok(out)
}

pub(crate) const LEFT_LEG: u8 = 1;
pub(crate) const RIGHT_LEG: u8 = 2;
pub(crate) const BOTH_LEGS: u8 = LEFT_LEG | RIGHT_LEG;

/// For each member, whether its left and right placement subtrees each hold an active member it
/// personally sponsored (bits [`LEFT_LEG`], [`RIGHT_LEG`]). Placement intervals numbered left first:
/// the sponsor's one entry tells on which side the recruit is, O(1) per sponsored member, and the
/// sponsors' entries are fetched ahead.
fn sponsored_legs(genealogy: &Genealogy, active: &[bool]) -> Vec<u8> {
    let n = genealogy.len();
    let placement = genealogy.tree(Tree::Placement);
    let legs = genealogy.leg();
    // Numbered left children first (see `TreeIndex::intervals`).
    let iv = placement.intervals();
    let placement_parent = placement.parent();
    let sponsor_parent = genealogy.tree(Tree::Sponsor).parent();
    let mut flags = vec![0u8; n];
    const AHEAD: usize = 16;
    for v in 0..n {
        if let Some(&s) = sponsor_parent.get(v + AHEAD) {
            if s != NONE && active[v + AHEAD] {
                crate::id_index::prefetch(&iv[s as usize]);
                crate::id_index::prefetch(&flags[s as usize]);
            }
        }
        let s = sponsor_parent[v];
        if s == NONE || !active[v] {
            continue;
        }
        let bit = sponsor_side(legs, iv, placement_parent, v, s);
        flags[s as usize] |= bit;
    }
    flags
}

/// On which side of its sponsor `s`'s placement subtree member `v` is: [`LEFT_LEG`], [`RIGHT_LEG`], or 0
/// when it is outside it. `iv`: the placement tree's intervals, numbered left children first.
#[inline]
pub(crate) fn sponsor_side(legs: &[u8], iv: &[crate::genealogy::Interval], placement_parent: &[u32], v: usize, s: u32) -> u8 {
    if placement_parent[v] == s {
        // Placed right under its sponsor (the common case): the leg says which side.
        if legs[v] == Leg::Left as u8 { LEFT_LEG } else { RIGHT_LEG }
    } else {
        let top = iv[s as usize];
        let pre = iv[v].pre;
        if top.pre < pre && pre <= top.pre + top.left {
            LEFT_LEG
        } else if top.pre + top.left < pre && pre < top.pre + top.size {
            RIGHT_LEG
        } else {
            0
        }
    }
}

/// Each member's side under its sponsor ([`sponsor_side`]; 0 without a sponsor).
pub(crate) fn sponsor_sides(genealogy: &Genealogy) -> Vec<u8> {
    let legs = genealogy.leg();
    let placement = genealogy.tree(Tree::Placement);
    let iv = placement.intervals();
    let placement_parent = placement.parent();
    let sponsor_parent = genealogy.tree(Tree::Sponsor).parent();
    (0..genealogy.len())
        .map(|v| {
            let s = sponsor_parent[v];
            if s == NONE { 0 } else { sponsor_side(legs, iv, placement_parent, v, s) }
        })
        .collect()
}
