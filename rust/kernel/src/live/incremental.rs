//! Bringing a [`View`] up to date with the members that events changed, instead of running the whole
//! period again. Every figure of a view depends on a bounded neighbourhood of the members whose inputs
//! changed, and is recomputed there with the same per-member rules the full period uses:
//!
//! - ranks and group PV: the changed members and their sponsor-tree ancestors, bottom-up;
//! - binary leg volumes: the changed members' placement-tree ancestors, bottom-up; each binary
//!   settlement again where its legs, activity, sponsored legs, tier or rank changed;
//! - unilevel and matching: what reached each upline at each level is kept per member, so a changed
//!   base is added along its first levels, and an activity flip re-links only the members whose first
//!   level it is (compression);
//! - rebates: the changed members.
//!
//! The result equals [`View::compute`] over the same inputs (tested against it on random event
//! streams). Plans with a differential bonus are not updated here: their views are computed whole.
use super::{Carried, Changes, View};
use crate::engine::binary::{self, LEFT_LEG, RIGHT_LEG};
use crate::engine::levels;
use crate::engine::ranks::{self, RankEval};
use crate::engine::rounding::to_minor;
use crate::engine::{Base, BonusRule, PlanSpec};
use crate::error::Result;
use crate::genealogy::{Genealogy, Leg, Tree, TreeIndex, NONE};

/// What an update needs beyond a view's figures, built from the view on its first update.
#[derive(Debug)]
pub(crate) struct Aux {
    /// Per sponsor/placement tree: each member's position in a top-down order, when row order is not one.
    sponsor_pos: Option<Vec<u32>>,
    placement_pos: Option<Vec<u32>>,
    /// Who may earn and who occupies each member's first level, per compression and activity setting.
    walks: Vec<Walk>,
    /// Per bonus: for a level bonus, its walk and, per level k + 1, what reached each member.
    reached: Vec<Option<(usize, Vec<Vec<i64>>)>>,
    /// Per bonus: for a binary bonus that reads sponsored legs, each member's active recruits per side.
    sponsored: Vec<Option<Vec<[u32; 2]>>>,
    /// Each member's side under its sponsor (`binary::sponsor_side`), when a bonus reads sponsored legs.
    sides: Vec<u8>,
    /// Σ|value| per volume column and Σ|amount| per bonus. While each is at most `i64::MAX`, no sum of
    /// them (group PV, a leg, what reaches an upline) can leave int64, so the sums below cannot wrap.
    abs_columns: Vec<i128>,
    abs_amounts: Vec<i128>,
    /// Scratch, all zero between updates: a bitmap of positions, a delta and a rank per member.
    marks: Vec<u64>,
    acc: Vec<i64>,
    best_below: Vec<u16>,
    rescan: Vec<bool>,
}

#[derive(Debug)]
struct Walk {
    compression: bool,
    requires_active: bool,
    eligible: Vec<bool>,
    up: Vec<u32>,
}

/// Whether views of `plan` can be updated (every bonus but the differential).
pub(crate) fn supported(plan: &PlanSpec) -> bool {
    !plan.bonuses.iter().any(|b| matches!(b, BonusRule::Differential(_)))
}

fn abs_sum(values: &[i64]) -> i128 {
    values.iter().map(|&v| i128::from(v).abs()).sum()
}

fn fits(total: i128) -> bool {
    total <= i128::from(i64::MAX)
}

/// Member rows by position in a top-down order, and back.
fn positions(tree: &TreeIndex) -> Option<Vec<u32>> {
    if tree.rows_topological() {
        return None;
    }
    let mut pos = vec![0u32; tree.len()];
    for (i, &v) in tree.order().iter().enumerate() {
        pos[v as usize] = i as u32;
    }
    Some(pos)
}

/// What reached each member at each level of `rule`, over `up` (level 1: the bases).
fn reach(up: &[u32], base: &[i64], levels: usize) -> Vec<Vec<i64>> {
    let n = up.len();
    let mut out: Vec<Vec<i64>> = Vec::with_capacity(levels);
    for k in 0..levels {
        let mut reached = vec![0i64; n];
        {
            let below: &[i64] = if k == 0 { base } else { &out[k - 1] };
            for (c, &u) in up.iter().enumerate() {
                if u != NONE && below[c] != 0 {
                    // Bounded by Σ|base| (checked by the caller).
                    reached[u as usize] += below[c];
                }
            }
        }
        out.push(reached);
    }
    out
}

impl Aux {
    /// `None` when the view's sums could leave int64 (its figures are then computed whole).
    fn build(view: &View, plan: &PlanSpec) -> Option<Aux> {
        let g = &view.genealogy;
        let n = g.len();
        let output = &view.output;
        let abs_columns: Vec<i128> = view.inputs.sums.iter().map(|c| abs_sum(c)).collect();
        let abs_amounts: Vec<i128> = output.bonuses.iter().map(|b| abs_sum(&b.amount)).collect();
        if !abs_columns.iter().chain(&abs_amounts).all(|&t| fits(t)) {
            return None;
        }
        let mut walks: Vec<Walk> = Vec::new();
        let mut reached = Vec::with_capacity(plan.bonuses.len());
        let mut sponsored = Vec::with_capacity(plan.bonuses.len());
        let mut sides = Vec::new();
        for bonus in &plan.bonuses {
            match bonus {
                BonusRule::Level(rule) => {
                    let at = match walks.iter().position(|w| (w.compression, w.requires_active) == (rule.compression, rule.requires_active)) {
                        Some(at) => at,
                        None => {
                            let eligible = levels::eligible(rule, &output.active);
                            let up = levels::level_parents(g, &eligible, rule.compression);
                            walks.push(Walk { compression: rule.compression, requires_active: rule.requires_active, eligible, up });
                            walks.len() - 1
                        }
                    };
                    let base: &[i64] = match rule.base {
                        Base::Column(c) => view.inputs.sums.get(c)?,
                        Base::BonusPay(b) => &output.bonuses.get(b)?.amount,
                    };
                    reached.push(Some((at, reach(&walks[at].up, base, rule.rates_bp.len()))));
                    sponsored.push(None);
                }
                BonusRule::Binary(rule) if rule.requires_sponsored_legs => {
                    if sides.is_empty() {
                        sides = binary::sponsor_sides(g);
                    }
                    let parent = g.tree(Tree::Sponsor).parent();
                    let mut counts = vec![[0u32; 2]; n];
                    for v in 0..n {
                        let (s, side) = (parent[v], sides[v]);
                        if s != NONE && side != 0 && output.active[v] {
                            counts[s as usize][(side == RIGHT_LEG) as usize] += 1;
                        }
                    }
                    reached.push(None);
                    sponsored.push(Some(counts));
                }
                _ => {
                    reached.push(None);
                    sponsored.push(None);
                }
            }
        }
        Some(Aux {
            sponsor_pos: positions(g.tree(Tree::Sponsor)),
            placement_pos: positions(g.tree(Tree::Placement)),
            walks,
            reached,
            sponsored,
            sides,
            abs_columns,
            abs_amounts,
            marks: vec![0u64; n.div_ceil(64)],
            acc: vec![0i64; n],
            best_below: vec![0u16; n],
            rescan: vec![false; n],
        })
    }
}

/// Marks `v` and its ancestors (positions in `marks`), stopping at the first one marked already.
fn mark_up(marks: &mut [u64], parent: &[u32], pos: Option<&[u32]>, v: usize) {
    let mut v = v as u32;
    while v != NONE {
        let p = pos.map_or(v as usize, |pos| pos[v as usize] as usize);
        let (word, bit) = (p / 64, 1u64 << (p % 64));
        if marks[word] & bit != 0 {
            return;
        }
        marks[word] |= bit;
        v = parent[v as usize];
    }
}

/// Calls `f` on every marked member, children before parents, and clears the marks.
fn drain_bottom_up(marks: &mut [u64], tree: &TreeIndex, topological: bool, mut f: impl FnMut(usize) -> Result<bool>) -> Result<bool> {
    let order = if topological { &[][..] } else { tree.order() };
    for w in (0..marks.len()).rev() {
        let mut bits = std::mem::take(&mut marks[w]);
        while bits != 0 {
            let b = 63 - bits.leading_zeros() as usize;
            bits &= !(1u64 << b);
            let p = w * 64 + b;
            let v = if topological { p } else { order[p] as usize };
            if !f(v)? {
                // The update is abandoned, and its scratch with it.
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Moves member `v`'s contribution from the levels above `from` to those above `to` (its first level
/// changes from `from` to `to`): at distance t up the walk, level k ≥ t holds what reached `v` at
/// level k − t (level 0: its base). Uplines whose sums change are added to `payees`.
#[allow(clippy::too_many_arguments)]
fn relink(reached: &mut [Vec<i64>], base_v: i64, v: usize, from: u32, to: u32, up: &[u32], vector: &mut Vec<i64>, payees: &mut Vec<u32>) {
    let levels = reached.len();
    vector.clear();
    vector.push(base_v);
    vector.extend(reached.iter().take(levels.saturating_sub(1)).map(|r| r[v]));
    for (start, sign) in [(from, -1i64), (to, 1i64)] {
        let mut u = start;
        let mut t = 1;
        while u != NONE && t <= levels {
            for k in t..=levels {
                reached[k - 1][u as usize] += sign * vector[k - t];
            }
            payees.push(u);
            u = up[u as usize];
            t += 1;
        }
    }
}

/// Brings `view` to the inputs in `changes` (see the module's text). `Ok(false)`: this view cannot be
/// updated (the plan, or sums that could leave int64); after `Ok(false)` or an error the view is
/// inconsistent and must be dropped for one computed whole.
pub(super) fn update(view: &mut View, plan: &PlanSpec, changes: &Changes, carried: &Carried) -> Result<bool> {
    if !supported(plan) {
        return Ok(false);
    }
    let genealogy = view.genealogy.clone();
    let g: &Genealogy = &genealogy;
    let n = g.len();
    let columns = view.inputs.sums.len();
    let k = changes.rows.len();
    let aligned = changes.sums.len() == columns
        && changes.sums.iter().all(|c| c.len() == k)
        && changes.status_active.len() == k
        && changes.tier.len() == k
        && changes.rank_override.len() == k
        && changes.rows.iter().all(|&r| (r as usize) < n)
        && changes.rows.windows(2).all(|w| w[0] < w[1])
        && carried.prev_highest.len() == n;
    if !aligned {
        return Err(crate::error::invalid("changes need sorted, unique member rows and every input for each"));
    }
    if n == 0 {
        return Ok(false);
    }
    let mut aux = match view.aux.take() {
        Some(aux) => aux,
        None => match Aux::build(view, plan) {
            Some(aux) => Box::new(aux),
            None => return Ok(false),
        },
    };
    let done = apply(view, &mut aux, plan, changes, carried)?;
    if done {
        view.aux = Some(aux);
        view.inputs.seq = changes.seq;
    }
    Ok(done)
}

fn apply(view: &mut View, aux: &mut Aux, plan: &PlanSpec, ch: &Changes, carried: &Carried) -> Result<bool> {
    let genealogy = view.genealogy.clone();
    let g: &Genealogy = &genealogy;
    let sponsor = g.tree(Tree::Sponsor);
    let placement = g.tree(Tree::Placement);
    let sponsor_parent = sponsor.parent();
    let columns = view.inputs.sums.len();
    let Aux { sponsor_pos, placement_pos, walks, reached, sponsored, sides, abs_columns, abs_amounts, marks, acc, best_below, rescan } =
        aux;

    // The new activity, and who flips.
    let flips: Vec<(usize, bool)> = ch
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, &r)| {
            let now = ch.status_active[i] && ch.sums[0][i] >= plan.activity_min_pv;
            (now != view.output.active[r as usize]).then_some((r as usize, now))
        })
        .collect();

    // Level walks first, while every base is still the old one: a flip changes who may earn, and with
    // compression whose first level the flipped member is.
    let mut payees: Vec<Vec<u32>> = vec![Vec::new(); plan.bonuses.len()];
    let mut stack: Vec<u32> = Vec::new();
    let mut vector: Vec<i64> = Vec::new();
    for (w, walk) in walks.iter_mut().enumerate() {
        if !walk.requires_active {
            continue;
        }
        let bonuses: Vec<usize> = (0..plan.bonuses.len()).filter(|&b| reached[b].as_ref().is_some_and(|(at, _)| *at == w)).collect();
        for &(x, now) in &flips {
            if walk.compression {
                // The members whose first level x is (now) or was: its downline down to the first
                // eligible member of each line, through the ineligible ones.
                let (from, to) = if now { (walk.up[x], x as u32) } else { (x as u32, walk.up[x]) };
                stack.clear();
                stack.extend_from_slice(sponsor.children(x));
                while let Some(v) = stack.pop() {
                    let v = v as usize;
                    for &b in &bonuses {
                        let base_v = match level_base(plan, b) {
                            Base::Column(c) => view.inputs.sums[c][v],
                            Base::BonusPay(src) => view.output.bonuses[src].amount[v],
                        };
                        if let Some((_, sums)) = reached[b].as_mut() {
                            relink(sums, base_v, v, from, to, &walk.up, &mut vector, &mut payees[b]);
                        }
                    }
                    walk.up[v] = to;
                    if !walk.eligible[v] {
                        stack.extend_from_slice(sponsor.children(v));
                    }
                }
            }
            walk.eligible[x] = now;
            for &b in &bonuses {
                payees[b].push(x as u32);
            }
        }
    }

    // The inputs, and per column what changed.
    let mut deltas: Vec<Vec<i64>> = vec![Vec::with_capacity(ch.rows.len()); columns];
    let mut attributes_changed: Vec<bool> = Vec::with_capacity(ch.rows.len());
    let mut tier_changed: Vec<u32> = Vec::new();
    for (i, &r) in ch.rows.iter().enumerate() {
        let m = r as usize;
        for c in 0..columns {
            let (old, new) = (view.inputs.sums[c][m], ch.sums[c][i]);
            let Some(delta) = new.checked_sub(old) else { return Ok(false) };
            abs_columns[c] += i128::from(new).abs() - i128::from(old).abs();
            deltas[c].push(delta);
            view.inputs.sums[c][m] = new;
        }
        let inputs = &mut view.inputs;
        attributes_changed.push(inputs.status_active[m] != ch.status_active[i] || inputs.rank_override[m] != ch.rank_override[i]);
        if inputs.tier[m] != ch.tier[i] {
            tier_changed.push(r);
        }
        inputs.status_active[m] = ch.status_active[i];
        inputs.tier[m] = ch.tier[i];
        inputs.rank_override[m] = ch.rank_override[i];
    }
    if !abs_columns.iter().all(|&t| fits(t)) {
        return Ok(false);
    }
    for &(x, now) in &flips {
        view.output.active[x] = now;
    }

    // Ranks: the changed members and their sponsor-tree ancestors, children first.
    let mut rank_changed: Vec<u32> = Vec::new();
    {
        let inputs = &view.inputs;
        let output = &mut view.output;
        let detail = &mut view.detail;
        let pv = &inputs.sums[0];
        let seeds = ch.rows.iter().enumerate().filter(|&(i, _)| deltas[0][i] != 0 || attributes_changed[i]);
        if ranks::reads_tree(plan) {
            let needs_gv = !detail.group_pv.is_empty();
            if detail.subtree_best.len() != g.len() || needs_gv != plan.ranks.iter().any(|r| r.min_gv.is_some()) {
                return Ok(false);
            }
            for (i, &r) in seeds {
                mark_up(marks, sponsor_parent, sponsor_pos.as_deref(), r as usize);
                acc[r as usize] += deltas[0][i];
            }
            let mut eval = RankEval::new(plan);
            let group_pv = &mut detail.group_pv;
            let best = &mut detail.subtree_best;
            let done = drain_bottom_up(marks, sponsor, sponsor_pos.is_none(), |v| {
                let p = sponsor_parent[v];
                let d = std::mem::take(&mut acc[v]);
                if needs_gv && d != 0 {
                    group_pv[v] += d;
                    if p != NONE {
                        acc[p as usize] += d;
                    }
                }
                let gv = if needs_gv { group_pv[v] } else { 0 };
                let rank = eval.rank(plan, pv[v], inputs.status_active[v], inputs.rank_override[v], gv, || sponsor.children(v), |c| {
                    (if needs_gv { group_pv[c as usize] } else { 0 }, best[c as usize])
                });
                let old_rank = output.paid_as[v];
                if rank != old_rank {
                    output.paid_as[v] = rank;
                    output.highest[v] = rank.max(carried.prev_highest[v]);
                    rank_changed.push(v as u32);
                }
                // A subtree's best rank: rescanned when something below (or the member itself) fell,
                // else the old one raised by what rose below.
                let below = std::mem::take(&mut best_below[v]);
                let new_best = if rank < old_rank || std::mem::take(&mut rescan[v]) {
                    sponsor.children(v).iter().fold(rank, |b, &c| b.max(best[c as usize]))
                } else {
                    best[v].max(rank).max(below)
                };
                let old_best = best[v];
                best[v] = new_best;
                if p != NONE {
                    if new_best < old_best {
                        rescan[p as usize] = true;
                    } else {
                        best_below[p as usize] = best_below[p as usize].max(new_best);
                    }
                }
                Ok(true)
            })?;
            if !done {
                return Ok(false);
            }
        } else {
            for (_, &r) in seeds {
                let m = r as usize;
                let rank = ranks::own_rank(plan, pv[m], inputs.status_active[m], inputs.rank_override[m]);
                if rank != output.paid_as[m] {
                    output.paid_as[m] = rank;
                    output.highest[m] = rank.max(carried.prev_highest[m]);
                    rank_changed.push(r);
                }
            }
        }
    }

    // Binary bonuses: leg volumes up the placement tree, then every member whose settlement may differ.
    let mut pay_deltas: Vec<Vec<(u32, i64)>> = vec![Vec::new(); plan.bonuses.len()];
    let legs = g.leg();
    let placement_parent = placement.parent();
    for (i, bonus) in plan.bonuses.iter().enumerate() {
        let BonusRule::Binary(rule) = bonus else { continue };
        let Some((new_left, new_right)) = view.detail.new_legs.get_mut(i).and_then(Option::as_mut) else { return Ok(false) };
        let mut dirty: Vec<u32> = Vec::new();
        for (j, &r) in ch.rows.iter().enumerate() {
            let d = deltas[rule.base][j];
            if d != 0 {
                mark_up(marks, placement_parent, placement_pos.as_deref(), r as usize);
                acc[r as usize] += d;
            }
        }
        drain_bottom_up(marks, placement, placement_pos.is_none(), |v| {
            dirty.push(v as u32);
            let d = std::mem::take(&mut acc[v]);
            let p = placement_parent[v];
            if d != 0 && p != NONE {
                let p = p as usize;
                if legs[v] == Leg::Left as u8 {
                    new_left[p] += d;
                } else {
                    new_right[p] += d;
                }
                acc[p] += d;
            }
            Ok(true)
        })?;
        for &(x, now) in &flips {
            dirty.push(x as u32);
            if let Some(counts) = sponsored[i].as_mut() {
                let (s, side) = (sponsor_parent[x], sides[x]);
                if s != NONE && side != 0 {
                    let slot = &mut counts[s as usize][(side == RIGHT_LEG) as usize];
                    if now {
                        *slot += 1;
                    } else {
                        *slot -= 1;
                    }
                    dirty.push(s);
                }
            }
        }
        dirty.extend_from_slice(&rank_changed);
        dirty.extend_from_slice(&tier_changed);
        let carries = view.carries_in.get(i).and_then(Option::as_ref);
        let output = &mut view.output;
        let bonus_out = &mut output.bonuses[i];
        let Some((carry_left, carry_right)) = bonus_out.carry.as_mut() else { return Ok(false) };
        for &m in &dirty {
            let m = m as usize;
            let flags = sponsored[i].as_ref().map(|c| {
                let [l, r] = c[m];
                (if l > 0 { LEFT_LEG } else { 0 }) | (if r > 0 { RIGHT_LEG } else { 0 })
            });
            let Ok(settled) = binary::settle(
                plan,
                rule,
                m,
                carries.map_or((0, 0), |(l, r)| (l[m], r[m])),
                (new_left[m], new_right[m]),
                output.active[m],
                flags,
                view.inputs.tier[m],
                output.paid_as[m],
            ) else {
                return Ok(false);
            };
            let old = bonus_out.amount[m];
            if settled.pay != old {
                abs_amounts[i] += i128::from(settled.pay).abs() - i128::from(old).abs();
                pay_deltas[i].push((m as u32, settled.pay - old));
                bonus_out.amount[m] = settled.pay;
            }
            carry_left[m] = settled.left;
            carry_right[m] = settled.right;
        }
        if !fits(abs_amounts[i]) {
            return Ok(false);
        }
    }

    // Level bonuses: each changed base along its first levels, then every upline whose sums, activity
    // or rank changed.
    for (b, bonus) in plan.bonuses.iter().enumerate() {
        match bonus {
            BonusRule::Level(rule) => {
                let Some((w, sums)) = reached[b].as_mut() else { return Ok(false) };
                let walk = &walks[*w];
                let levels = sums.len();
                let mut add = |d: usize, delta: i64, payees: &mut Vec<u32>| {
                    let mut u = walk.up[d];
                    let mut k = 0;
                    while u != NONE && k < levels {
                        sums[k][u as usize] += delta;
                        payees.push(u);
                        u = walk.up[u as usize];
                        k += 1;
                    }
                };
                let payees = &mut payees[b];
                match rule.base {
                    Base::Column(c) => {
                        for (j, &r) in ch.rows.iter().enumerate() {
                            if deltas[c][j] != 0 {
                                add(r as usize, deltas[c][j], payees);
                            }
                        }
                    }
                    Base::BonusPay(src) => {
                        for &(r, delta) in &pay_deltas[src] {
                            add(r as usize, delta, payees);
                        }
                    }
                }
                payees.extend_from_slice(&rank_changed);
                let amount = &mut view.output.bonuses[b].amount;
                for &u in payees.iter() {
                    let u = u as usize;
                    let new = levels::amount_from_reached(plan, rule, u, walk.eligible[u], view.output.paid_as[u], |k| sums[k][u])?;
                    let old = amount[u];
                    if new != old {
                        abs_amounts[b] += i128::from(new).abs() - i128::from(old).abs();
                        amount[u] = new;
                    }
                }
            }
            BonusRule::Rebate(rule) => {
                let amount = &mut view.output.bonuses[b].amount;
                let changed = ch.rows.iter().enumerate().filter(|&(j, _)| deltas[rule.base][j] != 0).map(|(_, &r)| r as usize);
                for m in changed.chain(flips.iter().map(|&(x, _)| x)) {
                    amount[m] = if rule.requires_active && !view.output.active[m] {
                        0
                    } else {
                        to_minor(i128::from(view.inputs.sums[rule.base][m]) * i128::from(rule.rate_bp), plan.rounding, || {
                            format!("rebate of member row {m}")
                        })?
                    };
                }
            }
            _ => {}
        }
    }
    Ok(true)
}

fn level_base(plan: &PlanSpec, bonus: usize) -> Base {
    match &plan.bonuses[bonus] {
        BonusRule::Level(rule) => rule.base,
        _ => Base::Column(0),
    }
}
