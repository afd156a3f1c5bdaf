//! A live period (`mlm_core.Projection`): events applied to a period's volumes and attributes as they
//! come, idempotent by event id, and the per-member figures of the last recomputation.
//!
//! [`LiveState`] is what the events change: per-member volume sums and attributes, and the log of every
//! applied event (its id and fields, to tell a resent event from a conflicting one). [`View`] is one
//! exact recomputation of the period over a copy of that state, with what a member's answer needs.
use std::sync::Arc;

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use crate::engine::{self, Detail, PeriodInput, PeriodOutput, PlanSpec, RankRule, NO_VALUE};
use crate::error::{invalid, Result};
use crate::genealogy::{Genealogy, Tree, NONE, UNKNOWN_ROW};
use crate::keys::{KeyColumn, StrKeys};

/// Event kinds, in the order of `mlm_core.projection.KINDS`.
pub const ORDER: u8 = 0;
pub const RETURN: u8 = 1;
pub const JOIN: u8 = 2;
pub const STATUS: u8 = 3;
pub const TIER: u8 = 4;
pub const RANK_OVERRIDE: u8 = 5;
const KINDS: u8 = 6;

/// An event's value (status word, tier or rank index): none given.
pub const NO_CODE: u32 = u32::MAX;
/// An event's value names no tier or rank of the plan.
pub const BAD_CODE: u32 = u32::MAX - 1;
/// The status word that makes a member active (`active`); every other word makes it inactive.
pub const ACTIVE: u32 = 0;

/// Why an event was not applied. Messages are the caller's (it knows the ids and column names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The caller rejected it before the batch came here (a join that cannot be placed).
    Given,
    NullEventId,
    UnknownKind,
    NullMember,
    UnknownMember,
    /// An order or return with a negative amount; bit `c` for volume column `c`.
    Negative(u64),
    NoStatus,
    UnknownTier,
    UnknownRank,
    /// The event id was applied with other fields, as event `seq`.
    OtherFields(u64),
    /// It would take a member's total out of int64; bit `c` for volume column `c`.
    Overflow(u64),
}

/// One batch of events, in row order. Every slice has one entry per event.
pub struct Batch<'a> {
    pub event_id: StrKeys<'a, i32>,
    /// One of the kind constants, or anything else for an unknown kind.
    pub kind: &'a [u8],
    /// The member's row, [`NONE`] for a null id, [`UNKNOWN_ROW`] for an id that is no member.
    pub row: &'a [u32],
    /// Per volume column, nulls as 0.
    pub amounts: Vec<&'a [i64]>,
    /// Status word ([`ACTIVE`] or another), tier or rank index; [`NO_CODE`], [`BAD_CODE`].
    pub value: &'a [u32],
    /// A join's sponsor and placement rows and leg (1 L, 2 R); anything for other kinds.
    pub sponsor: &'a [u32],
    pub placement: &'a [u32],
    pub leg: &'a [u8],
    /// Rejected by the caller already.
    pub given: &'a [bool],
}

/// What an event says, compared when its id comes again (amounts beside it, in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    kind: u8,
    leg: u8,
    value: u32,
    row: u32,
    sponsor: u32,
    placement: u32,
}

/// The volumes and attributes events have changed, and the log of applied events.
#[derive(Debug, Clone)]
pub struct LiveState {
    pub sums: Vec<Vec<i64>>,
    pub status_active: Vec<bool>,
    pub tier: Vec<u16>,
    pub rank_override: Vec<u16>,
    seq: u64,
    index: EventIndex,
    fields: Vec<Fields>,
    amounts: Vec<i64>,
    /// The member rows applied events changed since [`LiveState::take_touched`] last ran (repeated, in
    /// event order); `touched_lost` when more were changed than the log keeps.
    touched: Vec<u32>,
    touched_lost: bool,
}

/// Member rows changed between two sequence numbers (sorted, unique), with their inputs at the later
/// one: what [`View::update`] reads.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub seq: u64,
    pub rows: Vec<u32>,
    /// Per volume column, aligned with `rows`.
    pub sums: Vec<Vec<i64>>,
    pub status_active: Vec<bool>,
    pub tier: Vec<u16>,
    pub rank_override: Vec<u16>,
}

impl LiveState {
    /// A period before any event: zero volumes in `columns` columns and the given attributes.
    pub fn new(columns: usize, status_active: Vec<bool>, tier: Vec<u16>, rank_override: Vec<u16>) -> Result<Self> {
        let n = status_active.len();
        if tier.len() != n || rank_override.len() != n || !(2..=64).contains(&columns) {
            return Err(invalid("a live state needs 2 to 64 volume columns and one attribute per member"));
        }
        Ok(LiveState {
            sums: vec![vec![0; n]; columns],
            status_active,
            tier,
            rank_override,
            seq: 0,
            index: EventIndex::default(),
            fields: Vec::new(),
            amounts: Vec::new(),
            touched: Vec::new(),
            touched_lost: false,
        })
    }

    pub fn len(&self) -> usize {
        self.status_active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number of the last applied event (0 before any).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The sequence number an event id was applied as.
    pub fn seq_of(&self, event_id: &[u8]) -> Option<u64> {
        self.index.find(hash_id(event_id), event_id)
    }

    /// Room for members that joined: rows `len()..n`, with no volume, inactive, no tier or override
    /// (their join event sets the status).
    pub fn grow(&mut self, n: usize) {
        if n <= self.len() {
            return;
        }
        for column in &mut self.sums {
            column.resize(n, 0);
        }
        self.status_active.resize(n, false);
        self.tier.resize(n, NO_VALUE);
        self.rank_override.resize(n, NO_VALUE);
    }

    /// Applies `batch` in row order and returns the rejected events (row, why). A repeated event id with
    /// the same fields is a no-op; with other fields it is rejected. Each event is taken whole or not at
    /// all. An `Err` is a caller's bug (slices of unequal length, a row out of range) and changes nothing.
    pub fn apply(&mut self, batch: &Batch<'_>, tiers: usize, ranks: usize) -> Result<Vec<(usize, Rejection)>> {
        let count = batch.kind.len();
        let columns = self.sums.len();
        let n = self.len();
        let lengths_ok = batch.event_id.len() == count
            && [batch.row.len(), batch.value.len(), batch.sponsor.len(), batch.placement.len()].iter().all(|&l| l == count)
            && batch.leg.len() == count
            && batch.given.len() == count
            && batch.amounts.len() == columns
            && batch.amounts.iter().all(|a| a.len() == count);
        if !lengths_ok {
            return Err(invalid("an event batch needs every field for every event and every volume column"));
        }
        let in_range = |i: usize| {
            let row = batch.row[i];
            let value = batch.value[i];
            let value_ok = value == NO_CODE
                || value == BAD_CODE
                || match batch.kind[i] {
                    TIER => (value as usize) < tiers,
                    RANK_OVERRIDE => (value as usize) < ranks,
                    _ => true,
                };
            // A resent join's sponsor or placement may no longer resolve (NONE, UNKNOWN_ROW): it then
            // differs from the first one's.
            let link_ok = |r: u32| (r as usize) < n || r == NONE || r == UNKNOWN_ROW;
            let links_ok = batch.kind[i] != JOIN || (link_ok(batch.sponsor[i]) && link_ok(batch.placement[i]));
            (row == NONE || row == UNKNOWN_ROW || (row as usize) < n) && value_ok && links_ok
        };
        if let Some(i) = (0..count).find(|&i| !batch.given[i] && batch.kind[i] < KINDS && !in_range(i)) {
            return Err(invalid(format!("event row {i} has a member row or value out of range")));
        }
        let mut rejected = Vec::new();
        let mut own = vec![0i64; columns];
        // Ids hashed first, so that the index's slots (and the members' sums) are fetched a few events
        // ahead: at millions of events and members each is a cache miss.
        let hashes: Vec<u64> = (0..count).map(|i| batch.event_id.value(i).map_or(0, hash_id)).collect();
        self.index.reserve(count);
        const AHEAD: usize = 16;
        for i in 0..count {
            if i + AHEAD < count {
                self.index.prefetch(hashes[i + AHEAD]);
                let row = batch.row[i + AHEAD] as usize;
                if row < n {
                    for column in &self.sums {
                        crate::id_index::prefetch(&column[row]);
                    }
                }
            }
            let kind = batch.kind[i];
            let row = batch.row[i];
            let value = batch.value[i];
            let Some(event_id) = batch.event_id.value(i) else {
                rejected.push((i, if batch.given[i] { Rejection::Given } else { Rejection::NullEventId }));
                continue;
            };
            if batch.given[i] {
                rejected.push((i, Rejection::Given));
                continue;
            }
            if kind >= KINDS {
                rejected.push((i, Rejection::UnknownKind));
                continue;
            }
            let volume = kind == ORDER || kind == RETURN;
            let fields = Fields {
                kind,
                leg: if kind == JOIN { batch.leg[i] } else { 0 },
                value: if volume { 0 } else { value },
                row,
                sponsor: if kind == JOIN { batch.sponsor[i] } else { 0 },
                placement: if kind == JOIN { batch.placement[i] } else { 0 },
            };
            for (c, slot) in own.iter_mut().enumerate() {
                *slot = if volume { batch.amounts[c][i] } else { 0 };
            }
            // An id applied before is compared first: the same event again is a no-op, anything else
            // (another member, another amount, a member or value that no longer resolves) is a conflict.
            if let Some(seq) = self.index.find(hashes[i], event_id) {
                let at = (seq - 1) as usize;
                let same = self.fields[at] == fields && self.amounts[at * columns..(at + 1) * columns] == own[..];
                if !same {
                    rejected.push((i, Rejection::OtherFields(seq)));
                }
                continue;
            }
            let why = if row == NONE {
                Some(Rejection::NullMember)
            } else if row == UNKNOWN_ROW {
                Some(Rejection::UnknownMember)
            } else {
                match kind {
                    ORDER | RETURN => {
                        let negative = (0..columns).filter(|&c| batch.amounts[c][i] < 0).fold(0u64, |m, c| m | 1 << c);
                        (negative != 0).then_some(Rejection::Negative(negative))
                    }
                    STATUS if value == NO_CODE => Some(Rejection::NoStatus),
                    TIER if value == BAD_CODE => Some(Rejection::UnknownTier),
                    RANK_OVERRIDE if value == BAD_CODE => Some(Rejection::UnknownRank),
                    _ => None,
                }
            };
            if let Some(why) = why {
                rejected.push((i, why));
                continue;
            }
            let m = row as usize;
            match kind {
                ORDER | RETURN => {
                    let mut out = 0u64;
                    for (c, &amount) in own.iter().enumerate() {
                        let total = self.sums[c][m];
                        let next = if kind == ORDER { total.checked_add(amount) } else { total.checked_sub(amount) };
                        if next.is_none() {
                            out |= 1 << c;
                        }
                    }
                    if out != 0 {
                        rejected.push((i, Rejection::Overflow(out)));
                        continue;
                    }
                    for (c, &amount) in own.iter().enumerate() {
                        let total = &mut self.sums[c][m];
                        *total = if kind == ORDER { *total + amount } else { *total - amount };
                    }
                }
                STATUS | JOIN => self.status_active[m] = value == ACTIVE,
                TIER => self.tier[m] = if value == NO_CODE { NO_VALUE } else { value as u16 },
                _ => self.rank_override[m] = if value == NO_CODE { NO_VALUE } else { value as u16 },
            }
            self.seq += 1;
            if self.touched.len() >= n.max(1 << 16) {
                // No update is cheaper than a whole recomputation by now: keep no log until the next take.
                self.touched_lost = true;
                self.touched = Vec::new();
            }
            if !self.touched_lost {
                self.touched.push(row);
            }
            self.index.insert(hashes[i], event_id, self.seq);
            self.fields.push(fields);
            self.amounts.extend_from_slice(&own);
        }
        Ok(rejected)
    }

    /// The member rows events changed since the last call (repeated, in any order), or `None` when the
    /// log did not keep them all (any member may have changed). Starts a new log.
    pub fn take_touched(&mut self) -> Option<Vec<u32>> {
        let lost = std::mem::take(&mut self.touched_lost);
        let rows = std::mem::take(&mut self.touched);
        (!lost).then_some(rows)
    }

    /// The inputs of `rows` now (duplicates and order do not matter).
    pub fn changes(&self, mut rows: Vec<u32>) -> Changes {
        rows.sort_unstable();
        rows.dedup();
        rows.retain(|&r| (r as usize) < self.len());
        Changes {
            seq: self.seq,
            sums: self.sums.iter().map(|c| rows.iter().map(|&r| c[r as usize]).collect()).collect(),
            status_active: rows.iter().map(|&r| self.status_active[r as usize]).collect(),
            tier: rows.iter().map(|&r| self.tier[r as usize]).collect(),
            rank_override: rows.iter().map(|&r| self.rank_override[r as usize]).collect(),
            rows,
        }
    }

    /// A copy of what the period reads: volumes and attributes as of [`LiveState::seq`].
    pub fn inputs(&self) -> Inputs {
        Inputs {
            seq: self.seq,
            sums: self.sums.clone(),
            status_active: self.status_active.clone(),
            tier: self.tier.clone(),
            rank_override: self.rank_override.clone(),
        }
    }
}

fn hash_id(id: &[u8]) -> u64 {
    FxBuildHasher.hash_one(id)
}

/// Event id -> sequence number: open addressing over `(hash, seq)` slots (at most half full), the ids'
/// bytes in one arena. A slot is 16 bytes and growing rehashes from the stored hashes alone; a batch's
/// slots are prefetched before they are probed.
#[derive(Debug, Clone, Default)]
struct EventIndex {
    slots: Vec<(u64, u64)>,
    /// The id of event `seq` is `bytes[ends[seq - 2]..ends[seq - 1]]` (from 0 for seq 1).
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EventIndex {
    fn id(&self, seq: u64) -> &[u8] {
        let at = (seq - 1) as usize;
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        &self.bytes[start..self.ends[at]]
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Room for `more` ids without growing (so prefetched slots stay where they are).
    fn reserve(&mut self, more: usize) {
        let wanted = (self.ends.len() + more) * 2;
        if wanted <= self.slots.len() {
            return;
        }
        let size = wanted.next_power_of_two().max(1024);
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); size]);
        let mask = size - 1;
        for (hash, seq) in old.into_iter().filter(|&(_, seq)| seq != 0) {
            let mut i = hash as usize & mask;
            while self.slots[i].1 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (hash, seq);
        }
    }

    fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            crate::id_index::prefetch(&self.slots[hash as usize & self.mask()]);
        }
    }

    fn find(&self, hash: u64, id: &[u8]) -> Option<u64> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let (h, seq) = self.slots[i];
            if seq == 0 {
                return None;
            }
            if h == hash && self.id(seq) == id {
                return Some(seq);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds an id that `find` did not find, as event `seq` (the next one).
    fn insert(&mut self, hash: u64, id: &[u8], seq: u64) {
        self.reserve(1);
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].1 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (hash, seq);
    }
}

/// The period's inputs at one sequence number.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub seq: u64,
    pub sums: Vec<Vec<i64>>,
    pub status_active: Vec<bool>,
    pub tier: Vec<u16>,
    pub rank_override: Vec<u16>,
}

impl Inputs {
    /// The period's input over these volumes and attributes and what `carried` brings in.
    pub fn period_input<'a>(&'a self, carried: &'a Carried) -> PeriodInput<'a> {
        PeriodInput {
            columns: self.sums.iter().map(Vec::as_slice).collect(),
            status_active: &self.status_active,
            prev_highest: &carried.prev_highest,
            carries: carried.carries.iter().map(|c| c.as_ref().map(|(l, r)| (l.as_slice(), r.as_slice()))).collect(),
            rank_override: Some(&self.rank_override),
            tier: Some(&self.tier),
        }
    }
}

/// What the period carries in from the previous one, by member row.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    pub prev_highest: Vec<u16>,
    /// Per bonus: the incoming carries of a binary bonus, or `None` (zeros).
    pub carries: Vec<Option<(Vec<i64>, Vec<i64>)>>,
}

impl Carried {
    /// Members that joined carry nothing in.
    pub fn grow(&mut self, n: usize) {
        if n > self.prev_highest.len() {
            self.prev_highest.resize(n, 0);
        }
        for (left, right) in self.carries.iter_mut().flatten() {
            if n > left.len() {
                left.resize(n, 0);
                right.resize(n, 0);
            }
        }
    }
}

/// One exact recomputation of the period over [`Inputs`].
#[derive(Clone)]
pub struct View {
    pub genealogy: Arc<Genealogy>,
    pub inputs: Inputs,
    pub output: PeriodOutput,
    pub detail: Detail,
    /// Carries in, as the period read them (binary bonuses).
    pub carries_in: Vec<Option<(Vec<i64>, Vec<i64>)>>,
    /// What [`View::update`] keeps between updates (built on the first one).
    aux: Option<Box<incremental::Aux>>,
}

/// A binary bonus's legs for one member: volume paired this period (carry in + new) and carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legs {
    pub bonus: usize,
    pub left: i64,
    pub right: i64,
    pub carry_left: i64,
    pub carry_right: i64,
}

/// What a member still lacks for the next rank it can earn: zero where it already meets a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextRank {
    pub rank: u16,
    /// The status must become `active` (no rank is earned without it).
    pub status: bool,
    pub pv: i64,
    /// Group PV still missing, as the rank counts it (each leg capped at `max_leg_share_bp`).
    pub group_pv: i64,
    pub legs: u32,
}

/// One member's figures in a [`View`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub row: usize,
    pub active: bool,
    pub paid_as: u16,
    pub highest: u16,
    /// Per bonus with a non-zero amount: (bonus index, amount), in plan order.
    pub lines: Vec<(usize, i64)>,
    /// The member's own sums, per volume column.
    pub volumes: Vec<i64>,
    /// `None` when no rank reads group PV.
    pub group_pv: Option<i64>,
    pub legs: Vec<Legs>,
    /// `None` at the plan's top earnable rank, and while a rank override fixes the paid-as rank.
    pub next_rank: Option<NextRank>,
}

impl View {
    /// Recomputes the period over `inputs` (exactly `engine::run_period` over them).
    pub fn compute(genealogy: Arc<Genealogy>, plan: &PlanSpec, inputs: Inputs, carried: &Carried) -> Result<View> {
        let input = inputs.period_input(carried);
        let (output, detail) = engine::run_period_detailed(&genealogy, plan, &input)?;
        drop(input);
        // The sponsor tree's child lists are built on first use (a pass over every member): here, not in
        // a reader's first call.
        if !genealogy.is_empty() {
            genealogy.tree(Tree::Sponsor).children(0);
        }
        Ok(View { genealogy, inputs, output, detail, carries_in: carried.carries.clone(), aux: None })
    }

    /// Brings this view to the inputs in `changes`: every member whose inputs differ from the view's
    /// must be in it (members in it that did not change cost a little time and nothing else). `carried`
    /// is what the view was computed with. The result equals [`View::compute`] over the new inputs.
    ///
    /// `Ok(false)` when the view cannot be updated: sums so large that a total could leave int64. After `Ok(false)` or an error the view is inconsistent; drop it
    /// and compute one whole (which reports any error the inputs cause). The bonuses' `breakage` totals
    /// are the last whole computation's: an update does not keep them.
    pub fn update(&mut self, plan: &PlanSpec, changes: &Changes, carried: &Carried) -> Result<bool> {
        incremental::update(self, plan, changes, carried)
    }

    /// Builds what [`View::update`] keeps between updates now, rather than in the first update (it
    /// costs about one pass of the level bonuses). A no-op when the view cannot be updated.
    pub fn prepare_updates(&mut self, plan: &PlanSpec) {
        if self.aux.is_none() && incremental::supported(plan) {
            self.aux = incremental::Aux::build(self, plan).map(Box::new);
        }
    }

    /// Whether views of `plan` can be updated ([`View::update`]).
    pub fn updatable(plan: &PlanSpec) -> bool {
        incremental::supported(plan)
    }

    pub fn seq(&self) -> u64 {
        self.inputs.seq
    }

    /// The row of the member whose id is `key` (`member_id`: the genealogy's own id column).
    pub fn row_of<'k, K: KeyColumn>(&self, member_id: &'k K, key: K::Key<'k>) -> Option<usize> {
        self.genealogy.row_of(member_id, key).map(|r| r as usize)
    }

    /// Member `row`'s figures; `None` for a row out of range.
    pub fn figures(&self, plan: &PlanSpec, row: usize) -> Option<Figures> {
        let output = &self.output;
        if row >= output.paid_as.len() {
            return None;
        }
        self.prefetch(row);
        let lines = output.bonuses.iter().enumerate().filter(|(_, b)| b.amount[row] != 0).map(|(k, b)| (k, b.amount[row])).collect();
        let legs = output
            .bonuses
            .iter()
            .enumerate()
            .filter_map(|(k, b)| {
                let (carry_left, carry_right) = b.carry.as_ref()?;
                let (new_left, new_right) = self.detail.new_legs.get(k)?.as_ref()?;
                let (in_left, in_right) = self.carries_in.get(k).and_then(Option::as_ref).map_or((0, 0), |(l, r)| (l[row], r[row]));
                Some(Legs {
                    bonus: k,
                    left: in_left.saturating_add(new_left[row]),
                    right: in_right.saturating_add(new_right[row]),
                    carry_left: carry_left[row],
                    carry_right: carry_right[row],
                })
            })
            .collect();
        Some(Figures {
            row,
            active: output.active[row],
            paid_as: output.paid_as[row],
            highest: output.highest[row],
            lines,
            volumes: self.inputs.sums.iter().map(|c| c[row]).collect(),
            group_pv: self.detail.group_pv.get(row).copied(),
            legs,
            next_rank: self.next_rank(plan, row),
        })
    }

    /// Asks for every line of the member's figures at once: some twenty arrays, each a cache (and often
    /// TLB) miss at millions of members, then overlap instead of queueing.
    fn prefetch(&self, row: usize) {
        use crate::id_index::prefetch;
        let output = &self.output;
        prefetch(&output.paid_as[row]);
        prefetch(&output.highest[row]);
        prefetch(&output.active[row]);
        prefetch(&self.inputs.status_active[row]);
        for column in &self.inputs.sums {
            prefetch(&column[row]);
        }
        for bonus in &output.bonuses {
            prefetch(&bonus.amount[row]);
            if let Some((l, r)) = &bonus.carry {
                prefetch(&l[row]);
                prefetch(&r[row]);
            }
        }
        for (l, r) in self.detail.new_legs.iter().chain(&self.carries_in).flatten() {
            prefetch(&l[row]);
            prefetch(&r[row]);
        }
        if let Some(g) = self.detail.group_pv.get(row) {
            prefetch(g);
        }
        let children = self.genealogy.tree(Tree::Sponsor).children(row);
        for &c in children.iter().take(16) {
            if let Some(g) = self.detail.group_pv.get(c as usize) {
                prefetch(g);
            }
            if let Some(b) = self.detail.subtree_best.get(c as usize) {
                prefetch(b);
            }
        }
    }

    /// The lowest earnable rank above the member's paid-as rank, with what it lacks for it (rank rules as
    /// `engine::ranks` applies them, over this view's group PV and subtree ranks).
    fn next_rank(&self, plan: &PlanSpec, row: usize) -> Option<NextRank> {
        if self.inputs.rank_override[row] != NO_VALUE {
            return None; // an override fixes the paid-as rank whatever the member does (plan v2)
        }
        let paid_as = self.output.paid_as[row] as usize;
        let (r, rule): (usize, &RankRule) = plan.ranks.iter().enumerate().skip(paid_as + 1).find(|(_, rule)| !rule.assigned)?;
        let pv = self.inputs.sums[0][row];
        let short = |have: i128, need: i128| -> i64 { i64::try_from((need - have).max(0)).unwrap_or(i64::MAX) };
        let pv_short = rule.min_pv.map_or(0, |min| short(i128::from(pv), i128::from(min)));
        let children = self.genealogy.tree(Tree::Sponsor).children(row);
        let group_pv = match (rule.min_gv, self.detail.group_pv.is_empty()) {
            (Some(min), false) => {
                let cap = i128::from(min) * i128::from(rule.max_leg_share_bp);
                let counted: i128 = 10_000 * i128::from(pv)
                    + children.iter().map(|&c| (10_000 * i128::from(self.detail.group_pv[c as usize])).min(cap)).sum::<i128>();
                // In whole volume units, rounded up: the least own PV that would close the gap.
                let missing = (10_000 * i128::from(min) - counted).max(0);
                short(0, (missing + 9_999) / 10_000)
            }
            _ => 0,
        };
        let legs = if rule.legs > 0 && !self.detail.subtree_best.is_empty() {
            let held = children.iter().filter(|&&c| self.detail.subtree_best[c as usize] >= rule.leg_rank).count() as u32;
            rule.legs.saturating_sub(held)
        } else {
            rule.legs
        };
        Some(NextRank { rank: r as u16, status: !self.inputs.status_active[row], pv: pv_short, group_pv, legs })
    }
}

mod incremental;
#[cfg(test)]
mod tests;
