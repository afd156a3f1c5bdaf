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
//! - differentials: each member's buckets (base by rate paid so far) move by what changed below it,
//!   up the sponsor-tree closure of the members whose base, rate or activity changed;
//! - rebates: the changed members.
//!
//! The result equals [`View::compute`] over the same inputs (tested against it on random event
//! streams). Only sums that could leave int64 make a view be computed whole instead.
use super::{Carried, Changes, View};
use crate::engine::binary::{self, LEFT_LEG, RIGHT_LEG};
use crate::engine::levels;
use crate::engine::ranks::{self, RankEval};
use crate::engine::rounding::to_minor;
use crate::engine::{Base, BonusRule, DifferentialRule, LevelRule, PlanSpec};
use crate::error::Result;
use crate::genealogy::{Genealogy, Leg, Tree, TreeIndex, NONE};

/// What an update needs beyond a view's figures, built from the view on its first update.
#[derive(Debug, Clone)]
pub(crate) struct Aux {
    /// Per sponsor/placement tree: each member's position in a top-down order, when row order is not one.
    sponsor_pos: Option<Vec<u32>>,
    placement_pos: Option<Vec<u32>>,
    /// Who may earn and who occupies each member's first level, per compression and activity setting.
    walks: Vec<Walk>,
    /// Per bonus: for a level bonus, its walk and, per level k + 1, what reached each member.
    reached: Vec<Option<LevelSums>>,
    /// Per bonus: for a binary bonus that reads sponsored legs, each member's active recruits per side.
    sponsored: Vec<Option<Vec<[u32; 2]>>>,
    /// Per bonus: for a differential bonus, its buckets.
    stairs: Vec<Option<Stairs>>,
    /// Each member's side under its sponsor (`binary::sponsor_side`), when a bonus reads sponsored legs.
    sides: Vec<u8>,
    /// Σ|value| per volume column and Σ|amount| per bonus. While each is at most `i64::MAX`, no sum of
    /// them (group PV, a leg, what reaches an upline, a bucket) can leave int64. A change (new − old)
    /// and a sum of changes part-way can: they are added modulo 2^64 (`wrapping_*`), which is exact
    /// for every sum whose final value fits, and a change is zero exactly when it is zero modulo 2^64.
    abs_columns: Vec<i128>,
    abs_amounts: Vec<i128>,
    /// Scratch, all zero between updates: one pass over each tree's closure (they run side by side),
    /// and per member the best rank risen below it and whether a fall below needs a rescan.
    sponsor_pass: Pass,
    placement_pass: Pass,
    best_below: Vec<u16>,
    rescan: Vec<bool>,
}

/// A pass over the closure of some members in one tree: marks by position, and a delta per member.
#[derive(Debug, Clone)]
struct Pass {
    marks: Vec<u64>,
    acc: Vec<i64>,
}

impl Pass {
    fn new(n: usize) -> Pass {
        Pass { marks: vec![0u64; n.div_ceil(64)], acc: vec![0i64; n] }
    }
}

#[derive(Debug, Clone)]
struct Walk {
    compression: bool,
    requires_active: bool,
    eligible: Vec<bool>,
    up: Vec<u32>,
    /// With compression and activity required: the members whose `up` is kept. The set holds every
    /// member that may earn or has a base, and their sponsor-tree ancestors; outside it every member
    /// is ineligible with nothing to pass up, so an activity flip above need not re-link it (early in
    /// a period most of the downline). A member entering it has its `up` set then ([`Walk::track`]).
    /// Empty for the other walks, where `up` never changes.
    tracked: Vec<bool>,
}

impl Walk {
    fn tracks(&self) -> bool {
        !self.tracked.is_empty()
    }

    /// Adds `v` and its ancestors to the tracked set, setting their first levels top-down.
    fn track(&mut self, parent: &[u32], v: usize, path: &mut Vec<u32>) {
        path.clear();
        let mut u = v as u32;
        while u != NONE && !self.tracked[u as usize] {
            path.push(u);
            u = parent[u as usize];
        }
        for &w in path.iter().rev() {
            let p = parent[w as usize];
            self.up[w as usize] = if p == NONE {
                NONE
            } else if self.eligible[p as usize] {
                p
            } else {
                self.up[p as usize]
            };
            self.tracked[w as usize] = true;
        }
    }
}

/// A level bonus's walk (index into `Aux::walks`) and, per level k + 1, what reached each member.
type LevelSums = (usize, Vec<Vec<i64>>);

/// Whether views of `plan` can be updated: every bonus type can.
pub(crate) fn supported(plan: &PlanSpec) -> bool {
    plan.bonuses.iter().all(|b| matches!(b, BonusRule::Binary(_) | BonusRule::Level(_) | BonusRule::Differential(_) | BonusRule::Rebate(_)))
}

/// A differential bonus's bottom-up state ("Differential bonus"; `engine::stairs`): per member, the
/// buckets of base its sponsored legs pass up, by the rate already paid on them (0, then each level).
#[derive(Debug, Clone)]
struct Stairs {
    /// The rates paid, ascending and distinct (a member's rate is one of them, or 0).
    levels: Vec<i64>,
    /// `incoming[v * k + j]`: base reaching v from below, paid `paid(j)` so far.
    incoming: Vec<i64>,
    /// How many of those buckets v's rate pays (its rate is then `paid(reached)`).
    reached: Vec<u16>,
    /// Scratch, zero between updates: marks of the closure, and each member's change of `incoming`.
    marks: Vec<u64>,
    change: Vec<i64>,
}

impl Stairs {
    fn paid(&self, j: usize) -> i64 {
        if j == 0 { 0 } else { self.levels[j - 1] }
    }

    fn reached_by(&self, rate: i64) -> usize {
        self.levels.partition_point(|&level| level <= rate)
    }

    /// One member's step, as `engine::stairs` takes it: the buckets it passes up (`out`) and its pay's
    /// numerator, from what reaches it, its base and how many buckets its rate pays.
    fn step(&self, rule: &DifferentialRule, incoming: &[i64], base: i64, reached: usize, out: &mut [i64]) -> i128 {
        let k = self.levels.len();
        let rate = self.paid(reached);
        out.copy_from_slice(incoming);
        if rule.include_self {
            out[0] += base;
        }
        let mut numerator = 0i128;
        let mut moved = 0i64;
        for (j, bucket) in out.iter_mut().enumerate().take(reached) {
            let b = std::mem::take(bucket);
            numerator += i128::from(b) * i128::from(rate - self.paid(j));
            moved += b;
        }
        if reached > 0 && reached < k {
            out[reached] += moved;
        }
        if !rule.include_self {
            out[0] += base;
        }
        numerator
    }

    fn build(g: &Genealogy, rule: &DifferentialRule, base: &[i64], active: &[bool], paid_as: &[u16]) -> Stairs {
        let n = g.len();
        let mut levels: Vec<i64> = rule.rate_bp_by_rank.iter().copied().filter(|&r| r > 0).collect();
        levels.sort_unstable();
        levels.dedup();
        let k = levels.len();
        let mut st = Stairs { levels, incoming: vec![0; n * k], reached: vec![0; n], marks: vec![0; n.div_ceil(64)], change: vec![0; n * k] };
        if k == 0 {
            return st;
        }
        let tree = g.tree(Tree::Sponsor);
        let parent = tree.parent();
        let mut out = vec![0i64; k];
        tree.for_each_bottom_up(|v| {
            let reached = st.reached_by(rate_of(rule, active[v], paid_as[v]));
            st.reached[v] = reached as u16;
            st.step(rule, &st.incoming[v * k..(v + 1) * k], base[v], reached, &mut out);
            let p = parent[v];
            if p != NONE {
                for (slot, &x) in st.incoming[p as usize * k..(p as usize + 1) * k].iter_mut().zip(&out) {
                    *slot += x;
                }
            }
        });
        st
    }
}

/// A member's differential rate: its paid-as rank's, if it may earn.
fn rate_of(rule: &DifferentialRule, active: bool, rank: u16) -> i64 {
    if !rule.requires_active || active { rule.rate_bp_by_rank[rank as usize] } else { 0 }
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
    pub(super) fn build(view: &View, plan: &PlanSpec) -> Option<Aux> {
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
        let mut stairs = Vec::with_capacity(plan.bonuses.len());
        for bonus in &plan.bonuses {
            stairs.push(match bonus {
                BonusRule::Differential(rule) => {
                    Some(Stairs::build(g, rule, view.inputs.sums.get(rule.base)?, &output.active, &output.paid_as))
                }
                _ => None,
            });
            match bonus {
                BonusRule::Level(rule) => {
                    let at = match walks.iter().position(|w| (w.compression, w.requires_active) == (rule.compression, rule.requires_active)) {
                        Some(at) => at,
                        None => {
                            let eligible = levels::eligible(rule, &output.active);
                            let up = levels::level_parents(g, &eligible, rule.compression);
                            walks.push(Walk {
                                compression: rule.compression,
                                requires_active: rule.requires_active,
                                eligible,
                                up,
                                tracked: Vec::new(),
                            });
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
        let sponsor = g.tree(Tree::Sponsor);
        for (w, walk) in walks.iter_mut().enumerate() {
            if !(walk.compression && walk.requires_active) {
                continue;
            }
            let mut tracked = walk.eligible.clone();
            for (bonus, entry) in plan.bonuses.iter().zip(&reached) {
                if let (BonusRule::Level(rule), Some((at, _))) = (bonus, entry) {
                    if *at == w {
                        let base: &[i64] = match rule.base {
                            Base::Column(c) => &view.inputs.sums[c],
                            Base::BonusPay(b) => &output.bonuses[b].amount,
                        };
                        tracked.iter_mut().zip(base).for_each(|(t, &x)| *t |= x != 0);
                    }
                }
            }
            let parent = sponsor.parent();
            sponsor.for_each_bottom_up(|v| {
                let p = parent[v];
                if tracked[v] && p != NONE {
                    tracked[p as usize] = true;
                }
            });
            walk.tracked = tracked;
        }
        Some(Aux {
            sponsor_pos: positions(g.tree(Tree::Sponsor)),
            placement_pos: positions(g.tree(Tree::Placement)),
            walks,
            reached,
            sponsored,
            stairs,
            sides,
            abs_columns,
            abs_amounts,
            sponsor_pass: Pass::new(n),
            placement_pass: Pass::new(n),
            best_below: vec![0u16; n],
            rescan: vec![false; n],
        })
    }
}

/// Marks `seeds` and their ancestors (positions in `marks`); a line stops at the first member marked
/// already. Sixteen lines are walked at once, a step of each in turn: each step is a parent fetched
/// from a random place, and sixteen independent fetches overlap where one line's would wait in turn.
fn mark_all(marks: &mut [u64], parent: &[u32], pos: Option<&[u32]>, seeds: impl IntoIterator<Item = u32>) {
    const LINES: usize = 16;
    let mut seeds = seeds.into_iter();
    let mut at = [NONE; LINES];
    let mut busy = true;
    while busy {
        busy = false;
        for slot in &mut at {
            let mut v = *slot;
            if v == NONE {
                match seeds.next() {
                    Some(seed) => v = seed,
                    None => continue,
                }
            }
            busy = true;
            let p = pos.map_or(v as usize, |pos| pos[v as usize] as usize);
            let (word, bit) = (p / 64, 1u64 << (p % 64));
            if marks[word] & bit != 0 {
                *slot = NONE;
                continue;
            }
            marks[word] |= bit;
            let up = parent[v as usize];
            if up != NONE {
                crate::id_index::prefetch(&parent[up as usize]);
            }
            *slot = up;
        }
    }
}

/// Hands every marked member to `f` in blocks, children before parents, and clears the marks: a block
/// lets `f` fetch what the members a few places ahead will touch.
fn drain_bottom_up(marks: &mut [u64], tree: &TreeIndex, topological: bool, mut f: impl FnMut(&[u32]) -> Result<bool>) -> Result<bool> {
    const BLOCK: usize = 512;
    let order = if topological { &[][..] } else { tree.order() };
    let mut block: Vec<u32> = Vec::with_capacity(BLOCK + 64);
    for w in (0..marks.len()).rev() {
        let mut bits = std::mem::take(&mut marks[w]);
        while bits != 0 {
            let b = 63 - bits.leading_zeros() as usize;
            bits &= !(1u64 << b);
            let p = w * 64 + b;
            block.push(if topological { p as u32 } else { order[p] });
        }
        if block.len() >= BLOCK || (w == 0 && !block.is_empty()) {
            if !f(&block)? {
                // The update is abandoned, and its scratch with it.
                return Ok(false);
            }
            block.clear();
        }
    }
    Ok(true)
}

/// How far ahead in a block members' random lines are fetched.
const AHEAD: usize = 8;

/// Adds member `v`'s contribution to `vector`: at distance t up the walk, level k ≥ t holds what
/// reached `v` at level k − t (level 0: its base).
fn add_contribution(reached: &[Vec<i64>], base_v: i64, v: usize, vector: &mut [i64]) {
    let Some(first) = vector.first_mut() else { return };
    *first = first.wrapping_add(base_v);
    for (slot, sums) in vector.iter_mut().skip(1).zip(reached) {
        *slot = slot.wrapping_add(sums[v]);
    }
}

/// Moves a contribution (`vector`, as [`add_contribution`] sums it) from the levels above `from` to
/// those above `to`. Uplines whose sums change are added to `payees`.
fn move_contribution(reached: &mut [Vec<i64>], vector: &[i64], from: u32, to: u32, up: &[u32], payees: &mut Vec<u32>) {
    if vector.iter().all(|&x| x == 0) {
        // Nothing reaches the uplines (most of a period's downline, early on).
        return;
    }
    let levels = reached.len();
    for (start, sign) in [(from, -1i64), (to, 1i64)] {
        let mut u = start;
        let mut t = 1;
        while u != NONE && t <= levels {
            for k in t..=levels {
                let slot = &mut reached[k - 1][u as usize];
                *slot = slot.wrapping_add(sign.wrapping_mul(vector[k - t]));
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

/// What a view's members changed to, beside the view's inputs (already written with the new values).
struct Delta<'a> {
    ch: &'a Changes,
    /// Per column, new − old, aligned with `ch.rows`.
    deltas: Vec<Vec<i64>>,
    /// Status or rank override changed (the rank reads them), aligned with `ch.rows`.
    attributes: Vec<bool>,
    tiers: Vec<u32>,
    /// Members whose activity flips, and to what.
    flips: Vec<(usize, bool)>,
    /// Bitmap of `ch.rows`, to tell a changed member's old value from the view's.
    changed: Vec<u64>,
}

impl Delta<'_> {
    /// Column `c` of member `v` before the change.
    fn old(&self, inputs: &super::Inputs, c: usize, v: usize) -> i64 {
        if self.changed[v / 64] & (1 << (v % 64)) != 0 {
            if let Ok(i) = self.ch.rows.binary_search(&(v as u32)) {
                return self.ch.sums[c][i].wrapping_sub(self.deltas[c][i]);
            }
        }
        inputs.sums[c][v]
    }
}

fn apply(view: &mut View, aux: &mut Aux, plan: &PlanSpec, ch: &Changes, carried: &Carried) -> Result<bool> {
    let genealogy = view.genealogy.clone();
    let g: &Genealogy = &genealogy;
    let columns = view.inputs.sums.len();
    let n = g.len();
    let k = ch.rows.len();

    // What changed, then the inputs written.
    let mut delta = Delta {
        ch,
        deltas: vec![Vec::with_capacity(k); columns],
        attributes: Vec::with_capacity(k),
        tiers: Vec::new(),
        flips: Vec::new(),
        changed: vec![0u64; n.div_ceil(64)],
    };
    for (i, &r) in ch.rows.iter().enumerate() {
        let m = r as usize;
        delta.changed[m / 64] |= 1 << (m % 64);
        for c in 0..columns {
            let (old, new) = (view.inputs.sums[c][m], ch.sums[c][i]);
            let d = new.wrapping_sub(old);
            aux.abs_columns[c] += i128::from(new).abs() - i128::from(old).abs();
            delta.deltas[c].push(d);
        }
        let inputs = &view.inputs;
        delta.attributes.push(inputs.status_active[m] != ch.status_active[i] || inputs.rank_override[m] != ch.rank_override[i]);
        if inputs.tier[m] != ch.tier[i] {
            delta.tiers.push(r);
        }
        let now = ch.status_active[i] && ch.sums[0][i] >= plan.activity_min_pv;
        if now != view.output.active[m] {
            delta.flips.push((m, now));
        }
    }
    if !aux.abs_columns.iter().all(|&t| fits(t)) {
        return Ok(false);
    }
    for (i, &r) in ch.rows.iter().enumerate() {
        let m = r as usize;
        let inputs = &mut view.inputs;
        for c in 0..columns {
            inputs.sums[c][m] = ch.sums[c][i];
        }
        inputs.status_active[m] = ch.status_active[i];
        inputs.tier[m] = ch.tier[i];
        inputs.rank_override[m] = ch.rank_override[i];
    }
    for &(x, now) in &delta.flips {
        view.output.active[x] = now;
    }

    let View { inputs, output, detail, carries_in, .. } = view;
    let inputs = &*inputs;
    let crate::engine::PeriodOutput { active, paid_as, highest, bonuses } = output;
    let crate::engine::Detail { group_pv, subtree_best, new_legs } = detail;
    let Aux {
        sponsor_pos, placement_pos, walks, reached, sponsored, stairs, sides, abs_amounts, sponsor_pass, placement_pass, best_below, rescan, ..
    } = aux;
    let delta = &delta;

    // Three passes that read nothing of each other's, side by side: the level walks' re-links (on the
    // old bases), ranks up the sponsor tree, leg volumes up the placement tree.
    // Differentials follow the ranks in their task (they read nothing else that changes): their amounts
    // are taken out of the bonuses the re-links read meanwhile.
    let mut differentials: Vec<(usize, Vec<i64>)> = plan
        .bonuses
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, BonusRule::Differential(_)))
        .map(|(b, _)| (b, std::mem::take(&mut bonuses[b].amount)))
        .collect();
    let old_pays: &[crate::engine::BonusOutput] = bonuses;
    let (payees, (ranked, leg_dirty)) = rayon::join(
        || relinks(plan, g, walks, reached, delta, |base, v| match base {
            Base::Column(c) => delta.old(inputs, c, v),
            Base::BonusPay(src) => old_pays[src].amount[v],
        }),
        || {
            rayon::join(
                || -> Result<Option<(Vec<u32>, AbsChanges)>> {
                    let changed = ranks_up(plan, g, sponsor_pos.as_deref(), inputs, delta, carried, paid_as, highest, group_pv, subtree_best, sponsor_pass, best_below, rescan)?;
                    let Some(rank_changed) = changed else { return Ok(None) };
                    let mut abs = Vec::new();
                    for (b, amount) in &mut differentials {
                        let (BonusRule::Differential(rule), Some(st)) = (&plan.bonuses[*b], stairs[*b].as_mut()) else { return Ok(None) };
                        let seeds = delta.ch.rows.iter().zip(&delta.deltas[rule.base]).filter(|&(_, &d)| d != 0).map(|(&r, _)| r);
                        let flips = delta.flips.iter().filter(|_| rule.requires_active).map(|&(x, _)| x as u32);
                        let seeds = seeds.chain(rank_changed.iter().copied()).chain(flips);
                        abs.push((*b, stairs_up(plan, rule, g, sponsor_pos.as_deref(), st, delta, inputs, active, paid_as, seeds, amount)?));
                    }
                    Ok(Some((rank_changed, abs)))
                },
                || legs_up(plan, g, placement_pos.as_deref(), delta, new_legs, placement_pass),
            )
        },
    );
    for (b, amount) in differentials {
        bonuses[b].amount = amount;
    }
    let Some((rank_changed, differential_abs)) = ranked? else { return Ok(false) };
    let Some(leg_dirty) = leg_dirty else { return Ok(false) };
    for (b, change) in differential_abs {
        abs_amounts[b] += change;
    }
    let mut payees = payees;

    // Binary settlements beside the level bonuses on volume columns; then those on binary pay.
    let active = &*active;
    let paid_as = &*paid_as;
    let mut slots: Vec<Option<&mut crate::engine::BonusOutput>> = bonuses.iter_mut().map(Some).collect();
    let mut binary_slots = Vec::new();
    let mut column_slots = Vec::new();
    let mut pay_slots = Vec::new();
    for (b, bonus) in plan.bonuses.iter().enumerate() {
        let slot = slots[b].take();
        match bonus {
            BonusRule::Binary(_) => binary_slots.push((b, slot)),
            BonusRule::Level(LevelRule { base: Base::BonusPay(_), .. }) => pay_slots.push((b, slot)),
            _ => column_slots.push((b, slot)),
        }
    }
    // What reaches each member per level, and the payees, split between the two groups (by bonus).
    let is_pay = |b: usize| matches!(plan.bonuses[b], BonusRule::Level(LevelRule { base: Base::BonusPay(_), .. }));
    let mut column_sums: Vec<Option<&mut LevelSums>> = Vec::new();
    let mut pay_sums: Vec<Option<&mut LevelSums>> = Vec::new();
    for (b, sums) in reached.iter_mut().enumerate() {
        let (mine, other) = if is_pay(b) { (&mut pay_sums, &mut column_sums) } else { (&mut column_sums, &mut pay_sums) };
        mine.push(sums.as_mut());
        other.push(None);
    }
    let pay_payees: Vec<Vec<u32>> =
        payees.iter_mut().enumerate().map(|(b, list)| if is_pay(b) { std::mem::take(list) } else { Vec::new() }).collect();
    let column_payees = payees;
    let walks_now: &[Walk] = walks;
    let (pay_deltas, column_abs) = rayon::join(
        || settle_binaries(plan, g, inputs, delta, active, paid_as, new_legs, carries_in, sponsored, sides, &rank_changed, leg_dirty, binary_slots),
        || -> Result<Vec<(usize, i128)>> {
            let mut changes = Vec::new();
            let (mut column_sums, mut column_payees) = (column_sums, column_payees);
            for (b, slot) in column_slots {
                let Some(out) = slot else { continue };
                let (sums, payees) = (column_sums[b].take(), std::mem::take(&mut column_payees[b]));
                match &plan.bonuses[b] {
                    BonusRule::Level(rule) => {
                        let Some((w, sums)) = sums else { return Err(crate::error::invalid("a level bonus without its sums")) };
                        let walk = &walks_now[*w];
                        let Base::Column(c) = rule.base else { continue };
                        let mut payees = payees;
                        for (j, &r) in delta.ch.rows.iter().enumerate() {
                            if delta.deltas[c][j] != 0 {
                                add_up(walk, sums, r as usize, delta.deltas[c][j], &mut payees);
                            }
                        }
                        payees.extend_from_slice(&rank_changed);
                        changes.push((b, level_amounts(plan, rule, walk, sums, paid_as, &payees, &mut out.amount)?));
                    }
                    BonusRule::Rebate(rule) => {
                        let changed = delta.ch.rows.iter().enumerate().filter(|&(j, _)| delta.deltas[rule.base][j] != 0).map(|(_, &r)| r as usize);
                        let mut abs = 0i128;
                        for m in changed.chain(delta.flips.iter().map(|&(x, _)| x)) {
                            let new = if rule.requires_active && !active[m] {
                                0
                            } else {
                                to_minor(i128::from(inputs.sums[rule.base][m]) * i128::from(rule.rate_bp), plan.rounding, || {
                                    format!("rebate of member row {m}")
                                })?
                            };
                            let old = std::mem::replace(&mut out.amount[m], new);
                            abs += i128::from(new).abs() - i128::from(old).abs();
                        }
                        changes.push((b, abs));
                    }
                    _ => {}
                }
            }
            Ok(changes)
        },
    );
    let Some((pay_deltas, binary_abs)) = pay_deltas? else { return Ok(false) };
    for (b, change) in column_abs?.into_iter().chain(binary_abs) {
        abs_amounts[b] += change;
    }
    let sponsor_parent = g.tree(Tree::Sponsor).parent();
    let mut path = Vec::new();
    let (mut pay_sums, mut pay_payees) = (pay_sums, pay_payees);
    for (b, slot) in pay_slots {
        let (Some(out), BonusRule::Level(rule)) = (slot, &plan.bonuses[b]) else { continue };
        let (sums, payees) = (pay_sums[b].take(), std::mem::take(&mut pay_payees[b]));
        let (Some((w, sums)), Base::BonusPay(src)) = (sums, rule.base) else { return Ok(false) };
        if !fits(abs_amounts[src]) {
            // What reaches an upline could leave int64: the whole period sums it in i128.
            return Ok(false);
        }
        let walk = &mut walks[*w];
        if walk.tracks() {
            for &(r, _) in &pay_deltas[src] {
                walk.track(sponsor_parent, r as usize, &mut path);
            }
        }
        let mut payees = payees;
        for &(r, d) in &pay_deltas[src] {
            add_up(walk, sums, r as usize, d, &mut payees);
        }
        payees.extend_from_slice(&rank_changed);
        abs_amounts[b] += level_amounts(plan, rule, walk, sums, paid_as, &payees, &mut out.amount)?;
    }
    Ok(abs_amounts.iter().all(|&t| fits(t)))
}

/// Adds `delta` (a change of member `d`'s base) to what reaches its first levels.
fn add_up(walk: &Walk, sums: &mut [Vec<i64>], d: usize, delta: i64, payees: &mut Vec<u32>) {
    let mut u = walk.up[d];
    let mut k = 0;
    while u != NONE && k < sums.len() {
        sums[k][u as usize] = sums[k][u as usize].wrapping_add(delta);
        payees.push(u);
        u = walk.up[u as usize];
        k += 1;
    }
}

/// The amounts of `payees` again from what reaches them; returns the change of Σ|amount|.
fn level_amounts(
    plan: &PlanSpec,
    rule: &LevelRule,
    walk: &Walk,
    sums: &[Vec<i64>],
    paid_as: &[u16],
    payees: &[u32],
    amount: &mut [i64],
) -> Result<i128> {
    let mut change = 0i128;
    for &u in payees {
        let u = u as usize;
        let new = levels::amount_from_reached(plan, rule, u, walk.eligible[u], paid_as[u], |k| sums[k][u])?;
        let old = std::mem::replace(&mut amount[u], new);
        change += i128::from(new).abs() - i128::from(old).abs();
    }
    Ok(change)
}

/// The level walks after the activity flips: who may earn, and with compression the first levels of
/// the members below each flipped one, their contributions moved with them (`old_base`: a member's
/// base before the change). Returns, per bonus, the uplines whose sums or activity changed.
fn relinks(
    plan: &PlanSpec,
    g: &Genealogy,
    walks: &mut [Walk],
    reached: &mut [Option<LevelSums>],
    delta: &Delta<'_>,
    old_base: impl Fn(Base, usize) -> i64,
) -> Vec<Vec<u32>> {
    let sponsor = g.tree(Tree::Sponsor);
    let sponsor_parent = sponsor.parent();
    let mut payees: Vec<Vec<u32>> = vec![Vec::new(); plan.bonuses.len()];
    let mut stack: Vec<u32> = Vec::new();
    for (w, walk) in walks.iter_mut().enumerate() {
        if !walk.requires_active {
            continue;
        }
        let bonuses: Vec<usize> = (0..plan.bonuses.len()).filter(|&b| reached[b].as_ref().is_some_and(|(at, _)| *at == w)).collect();
        let mut vectors: Vec<Vec<i64>> =
            bonuses.iter().map(|&b| vec![0i64; reached[b].as_ref().map_or(0, |(_, sums)| sums.len())]).collect();
        if walk.tracks() {
            // Every changed member may get a base or earn: tracked before any flip re-links.
            for &r in &delta.ch.rows {
                walk.track(sponsor_parent, r as usize, &mut stack);
            }
        }
        for &(x, now) in &delta.flips {
            if walk.compression {
                // The members whose first level x is (now) or was: its downline down to the first
                // eligible member of each line, through the ineligible ones.
                // They all move from the same first level to the same one: their contributions are
                // summed, then moved up the walk once per bonus.
                let (from, to) = if now { (walk.up[x], x as u32) } else { (x as u32, walk.up[x]) };
                for v in vectors.iter_mut() {
                    v.iter_mut().for_each(|x| *x = 0);
                }
                stack.clear();
                stack.extend_from_slice(sponsor.children(x));
                while let Some(v) = stack.pop() {
                    let v = v as usize;
                    if walk.tracks() && !walk.tracked[v] {
                        continue;
                    }
                    for (&b, vector) in bonuses.iter().zip(vectors.iter_mut()) {
                        if let Some((_, sums)) = reached[b].as_ref() {
                            add_contribution(sums, old_base(level_base(plan, b), v), v, vector);
                        }
                    }
                    walk.up[v] = to;
                    if !walk.eligible[v] {
                        stack.extend_from_slice(sponsor.children(v));
                    }
                }
                for (&b, vector) in bonuses.iter().zip(&vectors) {
                    if let Some((_, sums)) = reached[b].as_mut() {
                        move_contribution(sums, vector, from, to, &walk.up, &mut payees[b]);
                    }
                }
            }
            walk.eligible[x] = now;
            for &b in &bonuses {
                payees[b].push(x as u32);
            }
        }
    }
    payees
}

/// Ranks, group PV and each subtree's best rank again for the changed members and their sponsor-tree
/// ancestors, children first. Returns the members whose paid-as rank changed; `Ok(None)` when the
/// view's figures do not fit the plan.
#[allow(clippy::too_many_arguments)]
fn ranks_up(
    plan: &PlanSpec,
    g: &Genealogy,
    pos: Option<&[u32]>,
    inputs: &super::Inputs,
    delta: &Delta<'_>,
    carried: &Carried,
    paid_as: &mut [u16],
    highest: &mut [u16],
    group_pv: &mut [i64],
    best: &mut [u16],
    pass: &mut Pass,
    best_below: &mut [u16],
    rescan: &mut [bool],
) -> Result<Option<Vec<u32>>> {
    let sponsor = g.tree(Tree::Sponsor);
    let parent = sponsor.parent();
    let pv = &inputs.sums[0];
    let ch = delta.ch;
    let seeds = ch.rows.iter().enumerate().filter(|&(i, _)| delta.deltas[0][i] != 0 || delta.attributes[i]);
    let mut rank_changed = Vec::new();
    if !ranks::reads_tree(plan) {
        for (_, &r) in seeds {
            let m = r as usize;
            let rank = ranks::own_rank(plan, pv[m], inputs.status_active[m], inputs.rank_override[m]);
            if rank != paid_as[m] {
                paid_as[m] = rank;
                highest[m] = rank.max(carried.prev_highest[m]);
                rank_changed.push(r);
            }
        }
        return Ok(Some(rank_changed));
    }
    let needs_gv = !group_pv.is_empty();
    if best.len() != g.len() || needs_gv != plan.ranks.iter().any(|r| r.min_gv.is_some()) {
        return Ok(None);
    }
    let Pass { marks, acc } = pass;
    let seeds: Vec<(usize, u32)> = seeds.map(|(i, &r)| (i, r)).collect();
    for &(i, r) in &seeds {
        acc[r as usize] = acc[r as usize].wrapping_add(delta.deltas[0][i]);
    }
    mark_all(marks, parent, pos, seeds.iter().map(|&(_, r)| r));
    let mut eval = RankEval::new(plan);
    drain_bottom_up(marks, sponsor, pos.is_none(), |block| {
        for (at, &v) in block.iter().enumerate() {
            if let Some(&ahead) = block.get(at + AHEAD) {
                let p = parent[ahead as usize];
                if p != NONE {
                    crate::id_index::prefetch(&acc[p as usize]);
                    crate::id_index::prefetch(&best_below[p as usize]);
                }
            }
            let v = v as usize;
            let p = parent[v];
            let d = std::mem::take(&mut acc[v]);
            if needs_gv && d != 0 {
                group_pv[v] = group_pv[v].wrapping_add(d);
                if p != NONE {
                    acc[p as usize] = acc[p as usize].wrapping_add(d);
                }
            }
            let gv = if needs_gv { group_pv[v] } else { 0 };
            let rank = eval.rank(plan, pv[v], inputs.status_active[v], inputs.rank_override[v], gv, || sponsor.children(v), |c| {
                (if needs_gv { group_pv[c as usize] } else { 0 }, best[c as usize])
            });
            let old_rank = paid_as[v];
            if rank != old_rank {
                paid_as[v] = rank;
                highest[v] = rank.max(carried.prev_highest[v]);
                rank_changed.push(v as u32);
            }
            // A subtree's best rank: rescanned when something below (or the member itself) fell, else the
            // old one raised by what rose below.
            let below = std::mem::take(&mut best_below[v]);
            let fell_below = std::mem::take(&mut rescan[v]);
            let new_best = if rank < old_rank || fell_below {
                sponsor.children(v).iter().fold(rank, |b, &c| b.max(best[c as usize]))
            } else {
                best[v].max(rank).max(below)
            };
            let old_best = std::mem::replace(&mut best[v], new_best);
            if p != NONE {
                if new_best < old_best {
                    rescan[p as usize] = true;
                } else {
                    best_below[p as usize] = best_below[p as usize].max(new_best);
                }
            }
        }
        Ok(true)
    })?;
    Ok(Some(rank_changed))
}

/// A differential bonus again over the sponsor-tree closure of `seeds` (members whose base, rate or
/// activity changed), children first: each member's buckets move by what changed below it and in
/// itself; above a member that pays the top rate a change no longer reaches anyone. Returns the change
/// of Σ|amount|.
#[allow(clippy::too_many_arguments)]
fn stairs_up(
    plan: &PlanSpec,
    rule: &DifferentialRule,
    g: &Genealogy,
    pos: Option<&[u32]>,
    st: &mut Stairs,
    delta: &Delta<'_>,
    inputs: &super::Inputs,
    active: &[bool],
    paid_as: &[u16],
    seeds: impl IntoIterator<Item = u32>,
    amount: &mut [i64],
) -> Result<i128> {
    let k = st.levels.len();
    if k == 0 {
        return Ok(0);
    }
    let sponsor = g.tree(Tree::Sponsor);
    let parent = sponsor.parent();
    let mut marks = std::mem::take(&mut st.marks);
    mark_all(&mut marks, parent, pos, seeds);
    let (mut old_in, mut new_in, mut old_out, mut new_out) = (vec![0i64; k], vec![0i64; k], vec![0i64; k], vec![0i64; k]);
    let mut abs = 0i128;
    let drained = drain_bottom_up(&mut marks, sponsor, pos.is_none(), |block| {
        for &v in block {
            let v = v as usize;
            let row = v * k..(v + 1) * k;
            let (base_old, base_new) = (delta.old(inputs, rule.base, v), inputs.sums[rule.base][v]);
            let (r_old, r_new) = (st.reached[v] as usize, st.reached_by(rate_of(rule, active[v], paid_as[v])));
            let moved = st.change[row.clone()].iter().any(|&x| x != 0);
            if !moved && base_old == base_new && r_old == r_new {
                continue;
            }
            old_in.copy_from_slice(&st.incoming[row.clone()]);
            for (j, slot) in new_in.iter_mut().enumerate() {
                *slot = old_in[j].wrapping_add(std::mem::take(&mut st.change[v * k + j]));
            }
            st.step(rule, &old_in, base_old, r_old, &mut old_out);
            let numerator = st.step(rule, &new_in, base_new, r_new, &mut new_out);
            let pay = if r_new > 0 {
                to_minor(numerator, plan.rounding, || format!("differential bonus of member row {v}"))?
            } else {
                0
            };
            let old = std::mem::replace(&mut amount[v], pay);
            abs += i128::from(pay).abs() - i128::from(old).abs();
            st.incoming[row].copy_from_slice(&new_in);
            st.reached[v] = r_new as u16;
            let p = parent[v];
            if p != NONE {
                for j in 0..k {
                    let slot = &mut st.change[p as usize * k + j];
                    *slot = slot.wrapping_add(new_out[j].wrapping_sub(old_out[j]));
                }
            }
        }
        Ok(true)
    });
    st.marks = marks;
    drained?;
    Ok(abs)
}

/// Each binary bonus's new leg volumes up the placement tree from the members whose base changed.
/// Returns per bonus the members whose legs changed (`None`: the view has no legs for a binary bonus).
fn legs_up(
    plan: &PlanSpec,
    g: &Genealogy,
    pos: Option<&[u32]>,
    delta: &Delta<'_>,
    new_legs: &mut [Option<(Vec<i64>, Vec<i64>)>],
    pass: &mut Pass,
) -> Option<Vec<Vec<u32>>> {
    let placement = g.tree(Tree::Placement);
    let parent = placement.parent();
    let legs = g.leg();
    let Pass { marks, acc } = pass;
    let mut out = vec![Vec::new(); plan.bonuses.len()];
    for (i, bonus) in plan.bonuses.iter().enumerate() {
        let BonusRule::Binary(rule) = bonus else { continue };
        let (new_left, new_right) = new_legs.get_mut(i)?.as_mut()?;
        let dirty = &mut out[i];
        let changed = || delta.ch.rows.iter().zip(&delta.deltas[rule.base]).filter(|&(_, &d)| d != 0);
        for (&r, &d) in changed() {
            acc[r as usize] = acc[r as usize].wrapping_add(d);
        }
        mark_all(marks, parent, pos, changed().map(|(&r, _)| r));
        let drained = drain_bottom_up(marks, placement, pos.is_none(), |block| {
            dirty.extend_from_slice(block);
            for (at, &v) in block.iter().enumerate() {
                if let Some(&ahead) = block.get(at + AHEAD) {
                    let p = parent[ahead as usize];
                    if p != NONE {
                        crate::id_index::prefetch(&acc[p as usize]);
                        let side = if legs[ahead as usize] == Leg::Left as u8 { &new_left[p as usize] } else { &new_right[p as usize] };
                        crate::id_index::prefetch(side);
                    }
                }
                let v = v as usize;
                let d = std::mem::take(&mut acc[v]);
                let p = parent[v];
                if d != 0 && p != NONE {
                    let p = p as usize;
                    let side = if legs[v] == Leg::Left as u8 { &mut new_left[p] } else { &mut new_right[p] };
                    *side = side.wrapping_add(d);
                    acc[p] = acc[p].wrapping_add(d);
                }
            }
            Ok(true)
        });
        if !matches!(drained, Ok(true)) {
            return None;
        }
    }
    Some(out)
}

/// Per bonus, a member's pay change.
type PayDeltas = Vec<Vec<(u32, i64)>>;

/// Per bonus, the change of Σ|amount|.
type AbsChanges = Vec<(usize, i128)>;

/// Each binary settlement again where its legs, activity, sponsored legs, tier or rank changed.
/// Returns per bonus the pay changes and the change of Σ|pay|; `Ok(None)` when a settlement fails (the
/// whole period reports it).
#[allow(clippy::too_many_arguments)]
fn settle_binaries(
    plan: &PlanSpec,
    g: &Genealogy,
    inputs: &super::Inputs,
    delta: &Delta<'_>,
    active: &[bool],
    paid_as: &[u16],
    new_legs: &[Option<(Vec<i64>, Vec<i64>)>],
    carries_in: &[Option<(Vec<i64>, Vec<i64>)>],
    sponsored: &mut [Option<Vec<[u32; 2]>>],
    sides: &[u8],
    rank_changed: &[u32],
    mut leg_dirty: Vec<Vec<u32>>,
    slots: Vec<(usize, Option<&mut crate::engine::BonusOutput>)>,
) -> Result<Option<(PayDeltas, AbsChanges)>> {
    let sponsor_parent = g.tree(Tree::Sponsor).parent();
    let mut pay_deltas: PayDeltas = vec![Vec::new(); plan.bonuses.len()];
    let mut abs_changes = Vec::new();
    for (i, slot) in slots {
        let (BonusRule::Binary(rule), Some(out)) = (&plan.bonuses[i], slot) else { continue };
        let Some((new_left, new_right)) = new_legs.get(i).and_then(Option::as_ref) else { return Ok(None) };
        let mut dirty = std::mem::take(&mut leg_dirty[i]);
        for &(x, now) in &delta.flips {
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
        dirty.extend_from_slice(rank_changed);
        dirty.extend_from_slice(&delta.tiers);
        let carries = carries_in.get(i).and_then(Option::as_ref);
        let Some((carry_left, carry_right)) = out.carry.as_mut() else { return Ok(None) };
        let mut abs = 0i128;
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
                active[m],
                flags,
                inputs.tier[m],
                paid_as[m],
            ) else {
                return Ok(None);
            };
            let old = out.amount[m];
            if settled.pay != old {
                abs += i128::from(settled.pay).abs() - i128::from(old).abs();
                pay_deltas[i].push((m as u32, settled.pay - old));
                out.amount[m] = settled.pay;
            }
            carry_left[m] = settled.left;
            carry_right[m] = settled.right;
        }
        abs_changes.push((i, abs));
    }
    Ok(Some((pay_deltas, abs_changes)))
}

fn level_base(plan: &PlanSpec, bonus: usize) -> Base {
    match &plan.bonuses[bonus] {
        BonusRule::Level(rule) => rule.base,
        _ => Base::Column(0),
    }
}
