//! Building and validating the two trees of a member table (issue 2): the sponsor (enrollment) tree and
//! the placement (binary) tree. Every pass is an iterative loop over arrays; nothing recurses on depth.
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::error::{invalid, Code, Finding, KernelError, Result, Severity};
use crate::id_index::{IdIndex, NULL_LINK, UNKNOWN_LINK};
use crate::keys::{KeyColumn, Offset, StrKeys};

/// The "no member" index: a root's parent, an empty slot.
pub const NONE: u32 = u32::MAX;
/// The largest member table we index with u32.
pub const MAX_MEMBERS: usize = (u32::MAX - 2) as usize;
/// Ids named in one finding's detail before "…and N more".
const DETAIL_IDS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Sponsor,
    Placement,
}

impl Tree {
    pub fn as_str(self) -> &'static str {
        match self {
            Tree::Sponsor => "sponsor",
            Tree::Placement => "placement",
        }
    }
}

/// A member's slot under its placement parent. Stored as a byte: 0 (root), 1 (`L`), 2 (`R`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Leg {
    Root = 0,
    Left = 1,
    Right = 2,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Accept several members without sponsor and placement (house accounts); off by default.
    pub allow_multiple_roots: bool,
}

/// One tree over dense member indices: parents, depths (roots at 0), and on demand a topological order
/// (every parent before its children) and children lists, each computed once and cached.
#[derive(Debug)]
pub struct TreeIndex {
    pub(crate) parent: Vec<u32>,
    pub(crate) depth: Vec<u32>,
    /// Every parent's index is below its child's: row order is then a topological order, and rollups
    /// walk rows backwards without a gather.
    pub(crate) rows_topological: bool,
    order: OnceLock<Vec<u32>>,
    children: OnceLock<(Vec<u32>, Vec<u32>)>,
    preorder: OnceLock<Vec<Interval>>,
}

impl TreeIndex {
    /// `parent` must be acyclic, `depth` its depths and `rows_topological` whether its parents precede
    /// their children (as [`depths`] computes them).
    fn new(parent: Vec<u32>, depth: Vec<u32>, rows_topological: bool) -> Self {
        TreeIndex {
            parent,
            depth,
            rows_topological,
            order: OnceLock::new(),
            children: OnceLock::new(),
            preorder: OnceLock::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }
    pub fn parent(&self) -> &[u32] {
        &self.parent
    }
    pub fn depth(&self) -> &[u32] {
        &self.depth
    }
    pub fn rows_topological(&self) -> bool {
        self.rows_topological
    }

    /// Member rows level by level (row order within a level): every parent before its children.
    pub fn order(&self) -> &[u32] {
        self.order.get_or_init(|| {
            if self.rows_topological {
                (0..self.len() as u32).collect()
            } else {
                order_by_depth(&self.depth)
            }
        })
    }

    /// Calls `f` on every member, parents before children.
    pub(crate) fn for_each_top_down(&self, mut f: impl FnMut(usize)) {
        if self.rows_topological {
            (0..self.len()).for_each(f);
        } else {
            self.order().iter().for_each(|&v| f(v as usize));
        }
    }

    /// Calls `f` on every member, children before parents.
    pub(crate) fn for_each_bottom_up(&self, mut f: impl FnMut(usize)) {
        if self.rows_topological {
            (0..self.len()).rev().for_each(f);
        } else {
            self.order().iter().rev().for_each(|&v| f(v as usize));
        }
    }

    /// The pre-order [`Interval`]s of every member, computed once. The placement tree's are computed
    /// with its legs (left children first) while the genealogy is built; another tree's on first use,
    /// children numbered in visiting order.
    pub(crate) fn intervals(&self) -> &[Interval] {
        self.preorder.get_or_init(|| preorder_of(&self.parent, (!self.rows_topological).then(|| self.order()), None))
    }

    /// Children of `member` in row order.
    pub fn children(&self, member: usize) -> &[u32] {
        let (start, children) = self.children.get_or_init(|| {
            let n = self.len();
            let mut start = vec![0u32; n + 1];
            for &p in &self.parent {
                if p != NONE {
                    start[p as usize + 1] += 1;
                }
            }
            for i in 0..n {
                start[i + 1] += start[i];
            }
            let mut fill = start.clone();
            let mut children = vec![0u32; start[n] as usize];
            for (v, &p) in self.parent.iter().enumerate() {
                if p != NONE {
                    children[fill[p as usize] as usize] = v as u32;
                    fill[p as usize] += 1;
                }
            }
            (start, children)
        });
        &children[start[member] as usize..start[member + 1] as usize]
    }

    /// Members per depth: entry `d` counts the members `d` levels below a root.
    pub fn level_histogram(&self) -> Vec<u64> {
        let max = self.depth.iter().copied().max().map_or(0, |d| d as usize + 1);
        let mut counts = vec![0u64; max];
        for &d in &self.depth {
            counts[d as usize] += 1;
        }
        counts
    }
}

/// Whether every parent's row is below its child's (row order is then a topological order).
fn parents_precede(parent: &[u32]) -> bool {
    parent.par_iter().enumerate().all(|(v, &p)| p == NONE || (p as usize) < v)
}

/// Rows in a breadth-first order (row order within a level): a counting sort by depth, without a queue
/// or child lists.
fn order_by_depth(depth: &[u32]) -> Vec<u32> {
    let max = depth.iter().copied().max().map_or(0, |d| d as usize + 1);
    let mut start = vec![0u64; max];
    for &d in depth {
        start[d as usize] += 1;
    }
    let mut next = 0u64;
    for count in start.iter_mut() {
        let c = *count;
        *count = next;
        next += c;
    }
    let mut order = vec![0u32; depth.len()];
    for (v, &d) in depth.iter().enumerate() {
        order[start[d as usize] as usize] = v as u32;
        start[d as usize] += 1;
    }
    order
}

/// Rows looked ahead when a pass prefetches the parent entry it will touch: the misses of that many
/// rows overlap instead of queueing.
const AHEAD: usize = 32;

#[inline(always)]
fn prefetch_parent_entry<T>(parent: &[u32], at: usize, values: &[T]) {
    if let Some(&p) = parent.get(at) {
        if p != NONE {
            crate::id_index::prefetch(&values[p as usize]);
        }
    }
}

/// Depths of a tree whose parents precede their children (see [`parents_precede`]): one forward pass,
/// and no cycle is possible.
fn depths_in_row_order(parent: &[u32]) -> Vec<u32> {
    let mut depth = vec![0u32; parent.len()];
    for v in 0..parent.len() {
        prefetch_parent_entry(parent, v + AHEAD, &depth);
        let p = parent[v];
        depth[v] = if p == NONE { 0 } else { depth[p as usize] + 1 };
    }
    depth
}

/// A member's pre-order number and subtree size (itself included) in one tree, and the size of its left
/// subtree where the tree has legs: `a` is an ancestor-or-self of `b` iff `a.pre <= b.pre < a.pre +
/// a.size`, and with legs `b` is in `a`'s left subtree iff `a.pre < b.pre <= a.pre + a.left`. One
/// 16-byte entry, so one cache line answers both questions about a random member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(16))]
pub(crate) struct Interval {
    pub(crate) pre: u32,
    pub(crate) size: u32,
    pub(crate) left: u32,
}

impl Interval {
    /// Whether the member numbered `pre` is in this member's subtree, itself included.
    #[inline]
    pub(crate) fn holds(&self, pre: u32) -> bool {
        self.pre <= pre && pre < self.pre + self.size
    }
}

/// Pre-order intervals of an acyclic `parent` without recursion or child lists (see [`Interval`]).
/// `order` is a top-down order, `None` when row order is one. With `legs`, a left child is numbered
/// before its right sibling (a member has at most one of each), so the left subtree is one interval;
/// without, children take numbers in visiting order.
fn preorder_of(parent: &[u32], order: Option<&[u32]>, legs: Option<&[u8]>) -> Vec<Interval> {
    let n = parent.len();
    let mut iv = vec![Interval { pre: 0, size: 1, left: 0 }; n];
    // The i-th member top-down.
    let visit = |i: usize| order.map_or(i, |o| o[i] as usize);
    let is_left = |v: usize| legs.is_some_and(|l| l[v] == Leg::Left as u8);
    let prefetch_ahead = |iv: &[Interval], i: usize| {
        if order.is_none() {
            prefetch_parent_entry(parent, i, iv);
        }
    };
    // Sizes bottom-up: a member's size is final once every child has folded into it.
    for i in (0..n).rev() {
        if i >= AHEAD {
            prefetch_ahead(&iv, i - AHEAD);
        }
        let v = visit(i);
        let p = parent[v];
        if p != NONE {
            let size = iv[v].size;
            let up = &mut iv[p as usize];
            up.size += size;
            if is_left(v) {
                up.left = size;
            }
        }
    }
    // Numbers top-down: a left child (or, without legs, each child in turn) starts right after its
    // parent; a right child after the parent's left subtree.
    let mut next_root = 0u32;
    let mut next_free: Vec<u32> = if legs.is_some() { Vec::new() } else { vec![0; n] };
    for i in 0..n {
        prefetch_ahead(&iv, i + AHEAD);
        let v = visit(i);
        let p = parent[v];
        let pre = if p == NONE {
            let pre = next_root;
            next_root += iv[v].size;
            pre
        } else if legs.is_some() {
            let up = iv[p as usize];
            up.pre + 1 + if is_left(v) { 0 } else { up.left }
        } else {
            let slot = &mut next_free[p as usize];
            let pre = iv[p as usize].pre + 1 + *slot;
            *slot += iv[v].size;
            pre
        };
        iv[v].pre = pre;
    }
    iv
}

/// "No such member" in [`Genealogy::rows_or_unknown`] (never a row: rows stay below `MAX_MEMBERS`).
pub const UNKNOWN_ROW: u32 = UNKNOWN_LINK;

/// A validated genealogy: both trees whole (every member reaches a root in each), binary slots unique.
#[derive(Debug)]
pub struct Genealogy {
    pub(crate) sponsor: TreeIndex,
    pub(crate) placement: TreeIndex,
    pub(crate) leg: Vec<u8>,
    /// Kept for later lookups (volumes, state, attributes) against the same member id column.
    index: IdIndex,
}

impl Genealogy {
    pub fn len(&self) -> usize {
        self.sponsor.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sponsor.is_empty()
    }
    pub fn tree(&self, tree: Tree) -> &TreeIndex {
        match tree {
            Tree::Sponsor => &self.sponsor,
            Tree::Placement => &self.placement,
        }
    }
    /// 0 for a root, 1 for `L`, 2 for `R`.
    pub fn leg(&self) -> &[u8] {
        &self.leg
    }

    /// The row of the member whose id is `key`, `None` when it is no member. `member_id` as for
    /// [`Genealogy::rows_of`].
    pub fn row_of<'k, K: KeyColumn>(&self, member_id: &'k K, key: K::Key<'k>) -> Option<u32> {
        if member_id.len() != self.len() {
            return None;
        }
        self.index.find_one(member_id, key)
    }

    /// The member row of each id of `ids`, [`NONE`] for a null id and [`UNKNOWN_ROW`] for an id that is
    /// no member: [`Genealogy::rows_of`] for callers that reject such rows one by one.
    pub fn rows_or_unknown<'k, K: KeyColumn>(&self, member_id: &'k K, ids: &'k K) -> Result<Vec<u32>> {
        if member_id.len() != self.len() {
            return Err(invalid("member_id column is not the one the genealogy was built from"));
        }
        let links = self.index.resolve_ordered(member_id, ids);
        Ok(links
            .into_iter()
            .map(|l| match l {
                NULL_LINK => NONE,
                UNKNOWN_LINK => UNKNOWN_ROW,
                row => row,
            })
            .collect())
    }

    /// The member row of each id of `ids`, `None` for a null id, `Err(row)` listing the first rows
    /// whose id is no member. `member_id` must be the column the genealogy was built from (the index
    /// keeps rows, not ids).
    pub fn rows_of<'k, K: KeyColumn>(&self, member_id: &'k K, ids: &'k K) -> Result<Vec<u32>> {
        if member_id.len() != self.len() {
            return Err(invalid("member_id column is not the one the genealogy was built from"));
        }
        // A built genealogy's ids are unique, so ids in member order may be matched by position.
        let links = self.index.resolve_ordered(member_id, ids);
        let unknown: Vec<usize> = links.iter().enumerate().filter(|(_, &l)| l == UNKNOWN_LINK).map(|(r, _)| r).collect();
        if !unknown.is_empty() {
            let shown: Vec<String> = unknown.iter().take(DETAIL_IDS).map(|&r| format!("{} (row {r})", ids.display(r))).collect();
            return Err(KernelError::UnknownIds {
                message: format!(
                    "{} id(s) are not members: {}{}",
                    unknown.len(),
                    shown.join(", "),
                    if unknown.len() > DETAIL_IDS { ", …" } else { "" }
                ),
                rows: unknown,
            });
        }
        Ok(links.into_iter().map(|l| if l == NULL_LINK { NONE } else { l }).collect())
    }
}

/// Builds a genealogy, or fails with every finding (fatal and warnings) when anything fatal is found.
/// On success the warnings are returned beside it.
pub fn build_genealogy<K: KeyColumn, O: Offset>(
    member_id: &K,
    sponsor_id: &K,
    placement_id: &K,
    leg: &StrKeys<'_, O>,
    options: BuildOptions,
) -> Result<(Genealogy, Vec<Finding>)> {
    let (genealogy, findings) = analyse(member_id, sponsor_id, placement_id, leg, options)?;
    match genealogy {
        Some(g) => Ok((g, findings)),
        None => Err(KernelError::Genealogy { findings }),
    }
}

/// Every finding about the member table, sorted by row: the report of `validate_genealogy`.
pub fn validate_genealogy<K: KeyColumn, O: Offset>(
    member_id: &K,
    sponsor_id: &K,
    placement_id: &K,
    leg: &StrKeys<'_, O>,
    options: BuildOptions,
) -> Result<Vec<Finding>> {
    Ok(analyse(member_id, sponsor_id, placement_id, leg, options)?.1)
}

fn analyse<K: KeyColumn, O: Offset>(
    member_id: &K,
    sponsor_id: &K,
    placement_id: &K,
    leg: &StrKeys<'_, O>,
    options: BuildOptions,
) -> Result<(Option<Genealogy>, Vec<Finding>)> {
    let n = member_id.len();
    if sponsor_id.len() != n || placement_id.len() != n || leg.len() != n {
        return Err(invalid(format!(
            "columns differ in length: member_id {n}, sponsor_id {}, placement_id {}, leg {}",
            sponsor_id.len(),
            placement_id.len(),
            leg.len()
        )));
    }
    if n > MAX_MEMBERS {
        return Err(invalid(format!("{n} members is more than the {MAX_MEMBERS} a genealogy holds")));
    }
    let mut findings = Vec::new();
    let index = IdIndex::build(member_id, &mut findings);
    let sponsor_link = index.resolve(member_id, sponsor_id, None);
    let placement_link = index.resolve(member_id, placement_id, Some((sponsor_id, &sponsor_link)));

    let mut sponsor_parent = vec![NONE; n];
    let mut placement_parent = vec![NONE; n];
    let mut legs = vec![Leg::Root as u8; n];
    let mut roots = Vec::new();
    for row in 0..n {
        let s = sponsor_link[row];
        let p = placement_link[row];
        if s == NULL_LINK && p == NULL_LINK {
            roots.push(row);
        }
        match s {
            NULL_LINK if p != NULL_LINK => findings.push(Finding::new(
                row,
                Code::OrphanSponsor,
                format!(
                    "member {} has placement_id {} but no sponsor_id: only a root has neither",
                    member_id.display(row),
                    placement_id.display(row)
                ),
            )),
            NULL_LINK => {}
            UNKNOWN_LINK => findings.push(Finding::new(
                row,
                Code::OrphanSponsor,
                format!(
                    "sponsor_id {} of member {} is not a member_id of this table",
                    sponsor_id.display(row),
                    member_id.display(row)
                ),
            )),
            s if s as usize == row => findings.push(Finding::new(
                row,
                Code::SelfReference,
                format!("member {} names itself as its sponsor", member_id.display(row)),
            )),
            s => sponsor_parent[row] = s,
        }
        let leg_value = leg.get(row);
        let parsed_leg = match leg_value {
            Some(b"L") => Some(Leg::Left),
            Some(b"R") => Some(Leg::Right),
            _ => None,
        };
        if leg_value.is_some() && parsed_leg.is_none() {
            findings.push(Finding::new(
                row,
                Code::BadLeg,
                format!("leg {} of member {} is not L or R", leg.display(row), member_id.display(row)),
            ));
        }
        match p {
            NULL_LINK if s != NULL_LINK => findings.push(Finding::new(
                row,
                Code::OrphanPlacement,
                format!(
                    "member {} has sponsor_id {} but no placement_id: only a root has neither",
                    member_id.display(row),
                    sponsor_id.display(row)
                ),
            )),
            NULL_LINK => {
                if parsed_leg.is_some() {
                    findings.push(Finding::new(
                        row,
                        Code::BadLeg,
                        format!(
                            "member {} has leg {} but no placement_id",
                            member_id.display(row),
                            leg.display(row)
                        ),
                    ));
                }
            }
            UNKNOWN_LINK => findings.push(Finding::new(
                row,
                Code::OrphanPlacement,
                format!(
                    "placement_id {} of member {} is not a member_id of this table",
                    placement_id.display(row),
                    member_id.display(row)
                ),
            )),
            p if p as usize == row => findings.push(Finding::new(
                row,
                Code::SelfReference,
                format!("member {} names itself as its placement parent", member_id.display(row)),
            )),
            p => {
                placement_parent[row] = p;
                match parsed_leg {
                    Some(l) => legs[row] = l as u8,
                    None if leg_value.is_none() => findings.push(Finding::new(
                        row,
                        Code::BadLeg,
                        format!(
                            "member {} is placed under {} but its leg is null",
                            member_id.display(row),
                            placement_id.display(row)
                        ),
                    )),
                    None => {} // reported above
                }
            }
        }
    }
    drop(sponsor_link);
    drop(placement_link);

    check_roots(&roots, n, member_id, options, &mut findings);
    // The slot check and the two trees' walks are independent: one core each where there are cores. The
    // placement tree's pre-order (the sponsor-line check below and the binary bonus use it) is computed
    // on the same core as its walk, beside the sponsor walk.
    let (
        (slot_findings, (sponsor_depth, sponsor_findings, sponsor_topological)),
        (placement_depth, placement_findings, placement_topological, placement_pre),
    ) = rayon::join(
        || {
            rayon::join(
                || check_slots(&placement_parent, &legs, member_id),
                || depths(&sponsor_parent, Tree::Sponsor, member_id),
            )
        },
        || {
            let (depth, findings, topological) = depths(&placement_parent, Tree::Placement, member_id);
            let pre = findings.is_empty().then(|| {
                let order = (!topological).then(|| order_by_depth(&depth));
                let pre = preorder_of(&placement_parent, order.as_deref(), Some(&legs));
                (order, pre)
            });
            (depth, findings, topological, pre)
        },
    );
    findings.extend(slot_findings);
    findings.extend(sponsor_findings);
    findings.extend(placement_findings);

    let fatal = findings.iter().any(|f| f.code.severity() == Severity::Error);
    let genealogy = if fatal {
        None
    } else {
        let sponsor = TreeIndex::new(sponsor_parent, sponsor_depth, sponsor_topological);
        let placement = TreeIndex::new(placement_parent, placement_depth, placement_topological);
        if let Some((order, pre)) = placement_pre {
            if let Some(order) = order {
                let _ = placement.order.set(order);
            }
            let _ = placement.preorder.set(pre);
        }
        check_sponsor_line(&sponsor, &placement, member_id, &mut findings);
        Some(Genealogy { sponsor, placement, leg: legs, index })
    };
    findings.sort_by_key(|f| (f.row, f.code));
    Ok((genealogy, findings))
}

fn check_slots<K: KeyColumn>(placement_parent: &[u32], legs: &[u8], member_id: &K) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut holder = vec![NONE; placement_parent.len() * 2];
    for (row, (&p, &l)) in placement_parent.iter().zip(legs).enumerate() {
        if p == NONE || l == Leg::Root as u8 {
            continue;
        }
        let slot = p as usize * 2 + (l as usize - 1);
        if holder[slot] == NONE {
            holder[slot] = row as u32;
        } else {
            let first = holder[slot] as usize;
            findings.push(Finding::new(
                row,
                Code::SlotTaken,
                format!(
                    "member {} is placed on leg {} of {}, a slot member {} (row {first}) already holds",
                    member_id.display(row),
                    if l == Leg::Left as u8 { "L" } else { "R" },
                    member_id.display(p as usize),
                    member_id.display(first)
                ),
            ));
        }
    }
    findings
}

fn check_roots<K: KeyColumn>(
    roots: &[usize],
    n: usize,
    member_id: &K,
    options: BuildOptions,
    findings: &mut Vec<Finding>,
) {
    if n > 0 && roots.is_empty() {
        findings.push(Finding {
            row: None,
            code: Code::NoRoot,
            detail: "no member is a root (null sponsor_id and placement_id): the trees have no top".to_string(),
        });
    }
    if roots.len() > 1 && !options.allow_multiple_roots {
        let names = name_list(roots.iter().copied(), roots.len(), member_id);
        for &row in roots {
            findings.push(Finding::new(
                row,
                Code::MultipleRoots,
                format!("{} members have neither sponsor_id nor placement_id: {names}", roots.len()),
            ));
        }
    }
}

/// Every member's depth, each cycle of `parent` as a finding, and whether parents precede their
/// children: then one forward pass gives the depths (no cycle is possible), else [`walk_up`].
fn depths<K: KeyColumn>(parent: &[u32], tree: Tree, member_id: &K) -> (Vec<u32>, Vec<Finding>, bool) {
    if parents_precede(parent) {
        (depths_in_row_order(parent), Vec::new(), true)
    } else {
        let (depth, findings) = walk_up(parent, tree, member_id);
        (depth, findings, false)
    }
}

/// Walks every member up its parent chain once, memoised: reports each cycle of `parent` (a
/// functional graph) with its members in order, and returns every member's depth (meaningful only once
/// the tree is whole). Linear in the number of members, whatever the depth.
fn walk_up<K: KeyColumn>(parent: &[u32], tree: Tree, member_id: &K) -> (Vec<u32>, Vec<Finding>) {
    let mut findings = Vec::new();
    const UNSEEN: u32 = u32::MAX;
    const ON_PATH: u32 = u32::MAX - 1;
    let n = parent.len();
    // Doubles as the visit state: UNSEEN, ON_PATH, or the final depth.
    let mut depth = vec![UNSEEN; n];
    let mut path: Vec<u32> = Vec::new();
    for start in 0..n {
        if depth[start] != UNSEEN {
            continue;
        }
        path.clear();
        let mut v = start as u32;
        let mut top_depth = 0u32;
        while v != NONE {
            match depth[v as usize] {
                UNSEEN => {
                    depth[v as usize] = ON_PATH;
                    path.push(v);
                    v = parent[v as usize];
                }
                ON_PATH => {
                    let at = path.iter().rposition(|&x| x == v).unwrap_or(0);
                    report_cycle(&path[at..], tree, member_id, &mut findings);
                    break;
                }
                d => {
                    top_depth = d + 1;
                    break;
                }
            }
        }
        for (i, &x) in path.iter().rev().enumerate() {
            depth[x as usize] = top_depth + i as u32;
        }
    }
    (depth, findings)
}

fn report_cycle<K: KeyColumn>(cycle: &[u32], tree: Tree, member_id: &K, findings: &mut Vec<Finding>) {
    let first_row = cycle.iter().copied().min().unwrap_or(0) as usize;
    let mut names: Vec<String> = cycle.iter().take(DETAIL_IDS).map(|&x| member_id.display(x as usize)).collect();
    if cycle.len() > DETAIL_IDS {
        names.push(format!("…({} more)", cycle.len() - DETAIL_IDS));
    }
    names.push(member_id.display(cycle[0] as usize));
    findings.push(Finding::new(
        first_row,
        Code::Cycle,
        format!("{} cycle of {} member(s): {}", tree.as_str(), cycle.len(), names.join(" -> ")),
    ));
}

/// Warning when a member's placement parent is not in its sponsor's placement subtree (sponsor included):
/// most plans only let a sponsor place recruits in its own binary downline.
fn check_sponsor_line<K: KeyColumn>(
    sponsor: &TreeIndex,
    placement: &TreeIndex,
    member_id: &K,
    findings: &mut Vec<Finding>,
) {
    // The order of siblings does not matter here.
    let iv = placement.intervals();
    const CHUNK: usize = 1 << 14;
    let n = sponsor.len();
    let sponsor_parent = &sponsor.parent;
    let outside: Vec<Finding> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let rows = chunk * CHUNK..((chunk + 1) * CHUNK).min(n);
            let end = rows.end;
            rows.filter(move |&row| {
                prefetch_parent_entry(&sponsor_parent[..end], row + AHEAD, iv);
                let s = sponsor_parent[row];
                // The placement parent is in the sponsor's placement subtree (sponsor included) iff the
                // member is strictly below its sponsor there: the member's own number, read in row
                // order, against the sponsor's interval (the member is not its own sponsor).
                s != NONE && placement.parent[row] != NONE && !iv[s as usize].holds(iv[row].pre)
            })
        })
        .map(|row| {
            let (s, p) = (sponsor.parent[row] as usize, placement.parent[row] as usize);
            Finding::new(
                row,
                Code::PlacementOutsideSponsorLine,
                format!(
                    "member {} is placed under {}, outside the placement subtree of its sponsor {}",
                    member_id.display(row),
                    member_id.display(p),
                    member_id.display(s)
                ),
            )
        })
        .collect();
    findings.extend(outside);
}

fn name_list<K: KeyColumn>(rows: impl Iterator<Item = usize>, total: usize, member_id: &K) -> String {
    let names: Vec<String> = rows.take(DETAIL_IDS).map(|r| member_id.display(r)).collect();
    let mut text = names.join(", ");
    if total > names.len() {
        text.push_str(&format!(", …and {} more", total - names.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OwnedStrKeys;

    /// Rows of (member, sponsor, placement, leg), `None` for null.
    type Row = (Option<&'static str>, Option<&'static str>, Option<&'static str>, Option<&'static str>);

    fn analyse_rows(rows: &[Row], options: BuildOptions) -> (Option<Genealogy>, Vec<Finding>) {
        let col = |f: fn(&Row) -> Option<&'static str>| OwnedStrKeys::new(&rows.iter().map(f).collect::<Vec<_>>());
        let (m, s, p, l) = (col(|r| r.0), col(|r| r.1), col(|r| r.2), col(|r| r.3));
        analyse(&m.view(), &s.view(), &p.view(), &l.view(), options).unwrap()
    }

    fn codes(rows: &[Row]) -> Vec<(Option<usize>, &'static str)> {
        analyse_rows(rows, BuildOptions::default()).1.iter().map(|f| (f.row, f.code.as_str())).collect()
    }

    const ROOT: Row = (Some("A"), None, None, None);

    #[test]
    fn sound_table_builds_without_findings() {
        let rows = [ROOT, (Some("B"), Some("A"), Some("A"), Some("L")), (Some("C"), Some("B"), Some("B"), Some("R"))];
        let (g, findings) = analyse_rows(&rows, BuildOptions::default());
        assert!(findings.is_empty(), "{findings:?}");
        let g = g.unwrap();
        assert_eq!(g.tree(Tree::Sponsor).parent(), &[NONE, 0, 1]);
        assert_eq!(g.tree(Tree::Placement).depth(), &[0, 1, 2]);
        assert_eq!(g.leg(), &[0, 1, 2]);
        assert_eq!(g.tree(Tree::Sponsor).level_histogram(), vec![1, 1, 1]);
    }

    #[test]
    fn every_code_on_its_row() {
        assert_eq!(codes(&[ROOT, (None, Some("A"), Some("A"), Some("L"))]), vec![(Some(1), "missing_id")]);
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("A"), Some("A"), Some("L")), (Some("B"), Some("A"), Some("A"), Some("R"))]),
            vec![(Some(2), "duplicate_id")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("Z"), Some("A"), Some("L"))]),
            vec![(Some(1), "orphan_sponsor")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("A"), Some("Z"), Some("L"))]),
            vec![(Some(1), "orphan_placement")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), None, Some("A"), Some("L"))]),
            vec![(Some(1), "orphan_sponsor")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("A"), None, None)]),
            vec![(Some(1), "orphan_placement")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("B"), Some("A"), Some("L"))]),
            vec![(Some(1), "self_reference")]
        );
        assert_eq!(codes(&[ROOT, (Some("B"), Some("A"), Some("A"), Some("X"))]), vec![(Some(1), "bad_leg")]);
        assert_eq!(codes(&[ROOT, (Some("B"), Some("A"), Some("A"), None)]), vec![(Some(1), "bad_leg")]);
        assert_eq!(codes(&[(Some("A"), None, None, Some("L"))]), vec![(Some(0), "bad_leg")]);
        assert_eq!(
            codes(&[ROOT, (Some("B"), Some("A"), Some("A"), Some("L")), (Some("C"), Some("A"), Some("A"), Some("L"))]),
            vec![(Some(2), "slot_taken")]
        );
        assert_eq!(
            codes(&[ROOT, (Some("B"), None, None, None)]),
            vec![(Some(0), "multiple_roots"), (Some(1), "multiple_roots")]
        );
    }

    #[test]
    fn cycle_is_listed_in_order() {
        // B -> C -> D -> B in the sponsor tree; placements hang under A.
        let rows = [
            ROOT,
            (Some("B"), Some("D"), Some("A"), Some("L")),
            (Some("C"), Some("B"), Some("A"), Some("R")),
            (Some("D"), Some("C"), Some("B"), Some("L")),
            (Some("E"), Some("D"), Some("B"), Some("R")),
        ];
        let (g, findings) = analyse_rows(&rows, BuildOptions::default());
        assert!(g.is_none());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, Code::Cycle);
        assert_eq!(findings[0].row, Some(1));
        assert_eq!(findings[0].detail, "sponsor cycle of 3 member(s): 'B' -> 'D' -> 'C' -> 'B'");
    }

    #[test]
    fn no_root_when_everyone_has_a_parent() {
        let rows = [(Some("A"), Some("B"), Some("B"), Some("L")), (Some("B"), Some("A"), Some("A"), Some("L"))];
        let found = codes(&rows);
        assert!(found.contains(&(None, "no_root")));
        assert_eq!(found.iter().filter(|c| c.1 == "cycle").count(), 2, "one cycle per tree: {found:?}");
    }

    #[test]
    fn multiple_roots_allowed_on_request() {
        let rows = [ROOT, (Some("B"), None, None, None), (Some("C"), Some("B"), Some("B"), Some("R"))];
        let (g, findings) = analyse_rows(&rows, BuildOptions { allow_multiple_roots: true });
        assert!(findings.is_empty());
        assert_eq!(g.unwrap().tree(Tree::Sponsor).order(), &[0, 1, 2]);
    }

    #[test]
    fn placement_outside_sponsor_line_is_a_warning() {
        // C is sponsored by B but placed under A's right, which is not in B's placement subtree.
        let rows = [
            ROOT,
            (Some("B"), Some("A"), Some("A"), Some("L")),
            (Some("C"), Some("B"), Some("A"), Some("R")),
            (Some("D"), Some("B"), Some("B"), Some("L")),
        ];
        let (g, findings) = analyse_rows(&rows, BuildOptions::default());
        assert!(g.is_some());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].row, Some(2));
        assert_eq!(findings[0].code, Code::PlacementOutsideSponsorLine);
        assert_eq!(findings[0].code.severity(), Severity::Warning);
    }

    #[test]
    fn deep_chain_builds_without_recursion() {
        let n = 1_000_000usize;
        let ids: Vec<i64> = (0..n as i64).collect();
        let parents: Vec<i64> = (0..n as i64).map(|i| i - 1).collect();
        let mut valid = vec![0xFFu8; n.div_ceil(8)];
        valid[0] &= !1;
        let validity = Some(crate::keys::Validity { bits: &valid, offset: 0 });
        let member = crate::keys::IntKeys { values: &ids, validity: None };
        let parent = crate::keys::IntKeys { values: &parents, validity };
        let legs = OwnedStrKeys::new(&(0..n).map(|i| if i == 0 { None } else { Some("L") }).collect::<Vec<_>>());
        let (g, warnings) = build_genealogy(&member, &parent, &parent, &legs.view(), BuildOptions::default()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(g.tree(Tree::Sponsor).depth()[n - 1], (n - 1) as u32);
        let count = g.rollup(Tree::Placement, crate::RollupOp::Count, None).unwrap();
        assert_eq!(count[0], n as i64);
        assert_eq!(count[n - 1], 1);
    }

    #[test]
    fn non_topological_rows_use_the_order() {
        // Rows list children before parents.
        let rows = [
            (Some("C"), Some("B"), Some("B"), Some("L")),
            (Some("B"), Some("A"), Some("A"), Some("R")),
            ROOT,
        ];
        let (g, _) = analyse_rows(&rows, BuildOptions::default());
        let g = g.unwrap();
        assert!(!g.tree(Tree::Sponsor).rows_topological());
        assert_eq!(g.tree(Tree::Sponsor).order(), &[2, 1, 0]);
        assert_eq!(g.rollup(Tree::Sponsor, crate::RollupOp::Sum, Some(&[1, 10, 100])).unwrap(), vec![1, 11, 111]);
        assert_eq!(g.leg_volumes(&[1, 10, 100]).unwrap(), (vec![0, 1, 0], vec![0, 0, 11]));
    }

    /// Random trees, rows in creation order (the one-pass paths) and shuffled (the walk and the order):
    /// depths, pre-order intervals and the sponsor-line warnings against walks up the parent chains.
    #[test]
    #[allow(clippy::needless_range_loop)] // rows and members are two index spaces here
    fn depths_preorder_and_sponsor_line_against_naive_walks() {
        let mut rng = crate::rng::SplitMix64::new(11);
        for case in 0..200 {
            let n = 1 + rng.below(60) as usize;
            // Creation order: each member's sponsor and placement parent are earlier members.
            let mut sponsor = vec![NONE; n];
            let mut placement = vec![NONE; n];
            let mut leg = vec![0u8; n];
            let mut free: Vec<(u32, u8)> = vec![(0, 1), (0, 2)];
            for v in 1..n {
                sponsor[v] = rng.below(v as u64) as u32;
                let (p, l) = free.swap_remove(rng.below(free.len() as u64) as usize);
                placement[v] = p;
                leg[v] = l;
                free.extend([(v as u32, 1), (v as u32, 2)]);
            }
            let mut perm: Vec<usize> = (0..n).collect();
            if case % 2 == 1 {
                for i in (1..n).rev() {
                    perm.swap(i, rng.below(i as u64 + 1) as usize);
                }
            }
            let mut row_of = vec![0usize; n];
            for (row, &v) in perm.iter().enumerate() {
                row_of[v] = row;
            }
            let name = |v: u32| (v != NONE).then(|| format!("m{v}"));
            let col = |f: &dyn Fn(usize) -> Option<String>| OwnedStrKeys::new(&perm.iter().map(|&v| f(v)).collect::<Vec<_>>());
            let m = col(&|v| name(v as u32));
            let sp = col(&|v| name(sponsor[v]));
            let pl = col(&|v| name(placement[v]));
            let lg = col(&|v| [None, Some("L".to_string()), Some("R".to_string())][leg[v] as usize].clone());
            let (g, findings) = analyse(&m.view(), &sp.view(), &pl.view(), &lg.view(), BuildOptions::default()).unwrap();
            let g = g.unwrap();
            let ancestors = |parent: &[u32], mut v: u32| {
                let mut up = vec![v];
                while parent[v as usize] != NONE {
                    v = parent[v as usize];
                    up.push(v);
                }
                up
            };
            let tree = g.tree(Tree::Placement);
            let iv = tree.intervals();
            let mut expect_warned = Vec::new();
            for v in 0..n {
                let row = row_of[v];
                let depth = |parent: &[u32]| ancestors(parent, v as u32).len() as u32 - 1;
                assert_eq!(g.tree(Tree::Sponsor).depth()[row], depth(&sponsor), "case {case}");
                assert_eq!(tree.depth()[row], depth(&placement), "case {case}");
                for a in 0..n {
                    let is_ancestor = ancestors(&placement, v as u32).contains(&(a as u32));
                    let (ra, rv) = (row_of[a], row);
                    assert_eq!(iv[ra].holds(iv[rv].pre), is_ancestor, "case {case}");
                    // Left subtree: the left child of `a` and its descendants.
                    let in_left = ancestors(&placement, v as u32).iter().any(|&x| placement[x as usize] == a as u32 && leg[x as usize] == 1);
                    assert_eq!(iv[ra].pre < iv[rv].pre && iv[rv].pre <= iv[ra].pre + iv[ra].left, in_left, "case {case}");
                }
                if v > 0 && !ancestors(&placement, placement[v]).contains(&sponsor[v]) {
                    expect_warned.push(row);
                }
            }
            expect_warned.sort();
            let warned: Vec<usize> = findings
                .iter()
                .filter(|f| f.code == Code::PlacementOutsideSponsorLine)
                .map(|f| f.row.unwrap())
                .collect();
            assert_eq!(warned, expect_warned, "case {case}");
            assert_eq!(findings.len(), warned.len(), "case {case}: {findings:?}");
        }
    }
}

/// For each member, in each tree, the nearest ancestor-or-self row that is a `seed` (`-1` for none):
/// what the migration's genealogy gate needs to quarantine a whole downline below the members it refused.
/// The input may be broken (orphans, cycles, repeated ids: a repeated id links to its first row); every
/// row is visited a bounded number of times, with an explicit path instead of recursion.
pub fn downline_causes<K: KeyColumn>(
    member_id: &K,
    sponsor_id: &K,
    placement_id: &K,
    seed: &[bool],
) -> Result<(Vec<i64>, Vec<i64>)> {
    let n = member_id.len();
    if sponsor_id.len() != n || placement_id.len() != n || seed.len() != n {
        return Err(invalid(format!(
            "columns differ in length: member_id {n}, sponsor_id {}, placement_id {}, seed {}",
            sponsor_id.len(),
            placement_id.len(),
            seed.len()
        )));
    }
    if n > MAX_MEMBERS {
        return Err(invalid(format!("{n} members is more than the {MAX_MEMBERS} a genealogy holds")));
    }
    let mut ignored = Vec::new();
    let index = IdIndex::build(member_id, &mut ignored);
    let sponsor_link = index.resolve(member_id, sponsor_id, None);
    let placement_link = index.resolve(member_id, placement_id, Some((sponsor_id, &sponsor_link)));
    Ok((nearest_seed(&sponsor_link, seed), nearest_seed(&placement_link, seed)))
}

fn nearest_seed(link: &[u32], seed: &[bool]) -> Vec<i64> {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let n = link.len();
    let mut state = vec![UNSEEN; n];
    let mut cause = vec![-1i64; n];
    let mut path = Vec::new();
    for start in 0..n {
        if state[start] == DONE {
            continue;
        }
        path.clear();
        let mut row = start;
        let found = loop {
            if state[row] == DONE {
                break cause[row];
            }
            if seed[row] {
                state[row] = DONE;
                cause[row] = row as i64;
                break row as i64;
            }
            if state[row] == ON_PATH {
                break -1; // a cycle without a seed on it
            }
            state[row] = ON_PATH;
            path.push(row);
            let parent = link[row];
            if parent >= UNKNOWN_LINK {
                break -1; // a root, or a parent that is no member
            }
            row = parent as usize;
        };
        for &r in &path {
            cause[r] = found;
            state[r] = DONE;
        }
    }
    cause
}

#[cfg(test)]
mod downline_tests {
    use super::*;
    use crate::keys::IntKeys;

    fn ids(v: &[i64]) -> IntKeys<'_> {
        IntKeys { values: v, validity: None }
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // `start` names the walk's first row as well as its slot
    fn nearest_seed_against_a_naive_walk() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for _ in 0..300 {
            let n = 1 + rng.below(40) as usize;
            let link: Vec<u32> = (0..n)
                .map(|_| match rng.below(10) {
                    0 => NULL_LINK,
                    1 => UNKNOWN_LINK,
                    _ => rng.below(n as u64) as u32,
                })
                .collect();
            let seed: Vec<bool> = (0..n).map(|_| rng.chance(150)).collect();
            let got = nearest_seed(&link, &seed);
            for start in 0..n {
                // The slow definition: walk up at most n steps, stop at the first seed.
                let (mut row, mut expect) = (start, -1i64);
                for _ in 0..=n {
                    if seed[row] {
                        expect = row as i64;
                        break;
                    }
                    if link[row] >= UNKNOWN_LINK {
                        break;
                    }
                    row = link[row] as usize;
                }
                assert_eq!(got[start], expect, "row {start} of {link:?} seeds {seed:?}");
            }
        }
    }

    #[test]
    fn ten_million_deep_chain_without_recursion() {
        let n = 10_000_000usize;
        let link: Vec<u32> = (0..n as u32).map(|r| if r == 0 { NULL_LINK } else { r - 1 }).collect();
        let mut seed = vec![false; n];
        seed[5] = true;
        let got = nearest_seed(&link, &seed);
        assert_eq!((got[4], got[5], got[n - 1]), (-1, 5, 5));
    }

    #[test]
    fn by_ids() {
        let m = [1, 2, 3, 4, 5];
        let s = [0, 1, 2, 3, 9];
        let (sc, _) = downline_causes(
            &ids(&m),
            &IntKeys { values: &s, validity: Some(crate::keys::Validity { bits: &[0b11110], offset: 0 }) },
            &ids(&m),
            &[false, true, false, false, false],
        )
        .unwrap();
        assert_eq!(sc, vec![-1, 1, 1, 1, -1]);
    }
}
