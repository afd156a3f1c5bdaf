//! The drill-down behind one member's level-bonus line: which downline members' bases reached it, at
//! which level and paid level, for how much. The reconciliation of a differing member starts here.
use super::levels::{deep_enough, eligible};
use super::LevelRule;
use crate::error::{invalid, Result};
use crate::genealogy::{Genealogy, Tree};

/// One downline member's share of an earner's level bonus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub from_row: u32,
    /// Generations below the earner in the sponsor tree.
    pub level: u32,
    /// The level whose rate applies (levels occupied by uplines, counted from the member up).
    pub paid_level: u32,
    pub base: i64,
    pub rate_bp: i64,
    /// `base × rate_bp`, in ten-thousandths of a minor unit (shares are summed, then rounded once).
    pub share: i128,
    /// False when the share is breakage (the earner may not earn, or not at this level).
    pub paid: bool,
    /// Differential bonus: the rate already paid below the earner on this member's walk (0 otherwise).
    pub paid_below_bp: i64,
}

fn check_inputs(genealogy: &Genealogy, base: &[i64], active: &[bool], paid_as: &[u16], earner: usize) -> Result<()> {
    let n = genealogy.len();
    if earner >= n || base.len() != n || active.len() != n || paid_as.len() != n {
        return Err(invalid("explain: row or column lengths out of range"));
    }
    Ok(())
}

/// Every share that `earner` received (or that broke at its level) under `rule` this period. Walks down
/// from the earner with an explicit stack, only as deep as a share can still reach it.
pub fn explain_level(
    genealogy: &Genealogy,
    rule: &LevelRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
    earner: usize,
) -> Result<Vec<Contribution>> {
    check_inputs(genealogy, base, active, paid_as, earner)?;
    let eligible = eligible(rule, active);
    let tree = genealogy.tree(Tree::Sponsor);
    let mut out = Vec::new();
    // With compression an earner that may not earn occupies no level: no walk stops at it.
    if rule.compression && !eligible[earner] {
        return Ok(out);
    }
    let levels = rule.rates_bp.len() as u32;
    // (member, generations below the earner, levels occupied strictly between member and earner)
    let mut stack: Vec<(u32, u32, u32)> =
        tree.children(earner).iter().rev().map(|&c| (c, 1, 0)).collect();
    while let Some((v, level, between)) = stack.pop() {
        let paid_level = between + 1;
        if paid_level > levels {
            continue;
        }
        let b = base[v as usize];
        if b != 0 {
            let rate = rule.rates_bp[(paid_level - 1) as usize];
            out.push(Contribution {
                from_row: v,
                level,
                paid_level,
                base: b,
                rate_bp: rate,
                share: i128::from(b) * i128::from(rate),
                paid: eligible[earner] && deep_enough(rule, paid_as[earner], paid_level as usize),
                paid_below_bp: 0,
            });
        }
        let occupies = !rule.compression || eligible[v as usize];
        let below = between + occupies as u32;
        if below < levels {
            stack.extend(tree.children(v as usize).iter().rev().map(|&c| (c, level + 1, below)));
        }
    }
    Ok(out)
}

/// Every share `earner` received under a differential `rule`: from each member of its sponsor subtree
/// (itself with `include_self`) whose walk reached it with a lower rate already paid. Walks down with an
/// explicit stack and stops where the rate already paid below reaches the earner's own.
pub fn explain_differential(
    genealogy: &Genealogy,
    rule: &super::DifferentialRule,
    base: &[i64],
    active: &[bool],
    paid_as: &[u16],
    earner: usize,
) -> Result<Vec<Contribution>> {
    check_inputs(genealogy, base, active, paid_as, earner)?;
    let rate_if_eligible = |v: usize| {
        if rule.requires_active && !active[v] {
            0
        } else {
            rule.rate_bp_by_rank[paid_as[v] as usize]
        }
    };
    let own = rate_if_eligible(earner);
    let mut out = Vec::new();
    if own <= 0 {
        return Ok(out);
    }
    let share = |v: usize, level: u32, below: i64, out: &mut Vec<Contribution>| {
        let b = base[v];
        if b != 0 && below < own {
            out.push(Contribution {
                from_row: v as u32,
                level,
                paid_level: 0,
                base: b,
                rate_bp: own,
                share: i128::from(b) * i128::from(own - below),
                paid: true,
                paid_below_bp: below,
            });
        }
    };
    if rule.include_self {
        share(earner, 0, 0, &mut out);
    }
    let tree = genealogy.tree(Tree::Sponsor);
    // (member, generations below the earner, highest eligible rate strictly between earner and member)
    let mut stack: Vec<(u32, u32, i64)> = tree.children(earner).iter().rev().map(|&c| (c, 1, 0)).collect();
    while let Some((v, level, between)) = stack.pop() {
        let v = v as usize;
        let mine = rate_if_eligible(v);
        let below = if rule.include_self { between.max(mine) } else { between };
        share(v, level, below, &mut out);
        let next = between.max(mine);
        if next < own {
            stack.extend(tree.children(v).iter().rev().map(|&c| (c, level + 1, next)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{example_genealogy, example_plan};
    use super::super::{BonusRule, PeriodInput};
    use super::*;

    #[test]
    fn explains_a_s_unilevel_of_the_worked_example() {
        let g = example_genealogy();
        let plan = example_plan();
        let BonusRule::Level(rule) = &plan.bonuses[1] else { panic!("unilevel") };
        let volume = [12_000i64, 15_000, 10_000, 30_000, 10_000, 20_000, 40_000, 10_000];
        let status = [true, true, true, true, true, true, false, true];
        let input = PeriodInput {
            columns: vec![&volume, &volume],
            status_active: &status,
            prev_highest: &[0; 8],
            carries: vec![None, None, None],
            rank_override: None,
            tier: None,
        };
        let out = super::super::run_period(&g, &plan, &input).unwrap();
        let shares = explain_level(&g, rule, &volume, &out.active, &out.paid_as, 0).unwrap();
        let seen: Vec<(u32, u32, u32, i64, bool)> =
            shares.iter().map(|c| (c.from_row, c.level, c.paid_level, c.rate_bp, c.paid)).collect();
        // B, C at level 1 (5%); D, E, F at level 2 (3%); G is suspended (inactive), so with compression
        // H (under G) is A's level 3 (2%) while G's own volume is A's level 3 as well.
        assert_eq!(
            seen,
            vec![
                (1, 1, 1, 500, true),
                (3, 2, 2, 300, true),
                (6, 3, 3, 200, true),
                (7, 4, 3, 200, true),
                (4, 2, 2, 300, true),
                (2, 1, 1, 500, true),
                (5, 2, 2, 300, true),
            ]
        );
        let total: i128 = shares.iter().filter(|c| c.paid).map(|c| c.share).sum();
        assert_eq!(total / 10_000, i128::from(out.bonuses[1].amount[0]));
    }
}
