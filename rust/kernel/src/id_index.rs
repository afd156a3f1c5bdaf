//! The member id -> row index behind `build_genealogy`: open-addressing tables of `(row, tag)` slots,
//! one shard per core, probed in prefetched batches.
//!
//! Resolving 20M sponsor and placement ids against 10M members is a stream of random memory reads.
//! Three things keep it fast: a slot is 8 bytes (the row, plus 32 more bits of the hash as a tag), so a
//! lookup settles on a candidate row without reading the member's id; lookups run in batches whose slots
//! are prefetched first, so their cache misses overlap instead of queueing; and the candidate's id is
//! compared afterwards, again in prefetched batches. A tag that matches a different id falls back to a
//! full comparison, so the result is exact.
use std::hash::{BuildHasher, Hash};

use rayon::prelude::*;
use rustc_hash::FxBuildHasher;

use crate::error::{Code, Finding};
use crate::keys::KeyColumn;

/// A link that is null in the input.
pub(crate) const NULL_LINK: u32 = u32::MAX;
/// A link to an id that no member has.
pub(crate) const UNKNOWN_LINK: u32 = u32::MAX - 1;
const EMPTY: u32 = u32::MAX;
/// Lookups in flight at once: enough to cover memory latency, few enough to stay in registers and L1.
const BATCH: usize = 16;
const PAR_CHUNK: usize = 1 << 14;
/// Member rows an ordered resolution compares before it probes the table: the previous id's row and the
/// next few (members without rows of their own are skipped over).
const GUESSES: usize = 5;

#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults and reads nothing into the program's state.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(item as *const T as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

fn hash_key<T: Hash>(key: T) -> u64 {
    FxBuildHasher.hash_one(key)
}

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn shard_of(hash: u64, shards: usize) -> usize {
    // Bits the tables do not use for buckets (the low ones); sharding on bucket bits would leave half of
    // every table's buckets empty and its probe runs long.
    ((hash >> 40) as u16 as usize) % shards
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    row: u32,
    tag: u32,
}

/// Linear probing over a power-of-two array kept at most 80% full, so every probe run ends.
#[derive(Debug)]
struct RowTable {
    slots: Vec<Slot>,
    mask: usize,
}

impl RowTable {
    fn with_capacity(rows: usize) -> Self {
        let size = (rows + rows / 4 + 1).next_power_of_two().max(8);
        RowTable { slots: vec![Slot { row: EMPTY, tag: 0 }; size], mask: size - 1 }
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[self.home(hash)]);
    }

    /// Inserts `row`, or returns the row already holding an id that `same` says is equal.
    #[inline]
    fn insert(&mut self, hash: u64, row: u32, same: impl Fn(u32) -> bool) -> Option<u32> {
        let tag = tag_of(hash);
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot.row == EMPTY {
                self.slots[i] = Slot { row, tag };
                return None;
            }
            if slot.tag == tag && same(slot.row) {
                return Some(slot.row);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The first row whose tag matches: the answer unless two ids share hash bucket and tag.
    #[inline]
    fn candidate(&self, hash: u64) -> u32 {
        self.find(hash, |_| true)
    }

    #[inline]
    fn find(&self, hash: u64, same: impl Fn(u32) -> bool) -> u32 {
        let tag = tag_of(hash);
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot.row == EMPTY {
                return UNKNOWN_LINK;
            }
            if slot.tag == tag && same(slot.row) {
                return slot.row;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The index proper. It holds rows, not ids: every call takes the member id column it was built from.
#[derive(Debug)]
pub struct IdIndex {
    shards: Vec<RowTable>,
}

impl IdIndex {
    /// Indexes every present id; null and repeated ids become findings (a repeated id keeps its first
    /// row, whatever the number of shards: all copies of an id land in one shard, in row order).
    pub(crate) fn build<K: KeyColumn>(member_id: &K, findings: &mut Vec<Finding>) -> Self {
        let n = member_id.len();
        let hashes: Vec<u64> =
            (0..n).into_par_iter().with_min_len(PAR_CHUNK).map(|r| member_id.get(r).map_or(0, hash_key)).collect();
        let shard_count = rayon::current_num_threads().clamp(1, 64);
        let built: Vec<(RowTable, Vec<Finding>)> = (0..shard_count)
            .into_par_iter()
            .map(|shard| {
                let mut table = RowTable::with_capacity(n / shard_count + n / (8 * shard_count) + 8);
                let mut duplicates = Vec::new();
                let mut batch = [0u32; BATCH];
                let mut filled = 0;
                let flush = |table: &mut RowTable, batch: &[u32], duplicates: &mut Vec<Finding>| {
                    for &row in batch {
                        let Some(key) = member_id.get(row as usize) else { continue };
                        let same = |r: u32| member_id.get(r as usize) == Some(key);
                        if let Some(first) = table.insert(hashes[row as usize], row, same) {
                            duplicates.push(Finding::new(
                                row as usize,
                                Code::DuplicateId,
                                format!("member_id {} is also at row {first}", member_id.display(row as usize)),
                            ));
                        }
                    }
                };
                for (row, &hash) in hashes.iter().enumerate() {
                    if shard_of(hash, shard_count) != shard {
                        continue;
                    }
                    table.prefetch(hash);
                    batch[filled] = row as u32;
                    filled += 1;
                    if filled == BATCH {
                        flush(&mut table, &batch, &mut duplicates);
                        filled = 0;
                    }
                }
                flush(&mut table, &batch[..filled], &mut duplicates);
                (table, duplicates)
            })
            .collect();
        let mut shards = Vec::with_capacity(shard_count);
        for (table, duplicates) in built {
            shards.push(table);
            findings.extend(duplicates);
        }
        if member_id.may_have_nulls() {
            for row in 0..n {
                if member_id.get(row).is_none() {
                    findings.push(Finding::new(row, Code::MissingId, "member_id is null".to_string()));
                }
            }
        }
        IdIndex { shards }
    }

    /// The row of one id, `None` when it is no member: one probe, for point lookups.
    pub(crate) fn find_one<'k, K: KeyColumn>(&self, member_id: &'k K, key: K::Key<'k>) -> Option<u32> {
        let hash = hash_key(key);
        let row = self.table(hash).find(hash, |r| member_id.get(r as usize) == Some(key));
        (row != UNKNOWN_LINK).then_some(row)
    }

    fn table(&self, hash: u64) -> &RowTable {
        &self.shards[shard_of(hash, self.shards.len())]
    }

    /// Each row's link as a member row, `NULL_LINK` for a null, `UNKNOWN_LINK` for an id no member has.
    /// Where `same_as` holds the same id on a row (a recruit placed right under its sponsor), that
    /// column's already resolved link is reused. Read-only, so all cores share the work.
    pub(crate) fn resolve<'k, K: KeyColumn>(
        &self,
        member_id: &'k K,
        column: &'k K,
        same_as: Option<(&'k K, &[u32])>,
    ) -> Vec<u32> {
        self.resolve_with(member_id, column, same_as, false)
    }

    /// [`Self::resolve`] for ids that often come in member order (an export sorted like the member
    /// table, several rows per member): each id is first compared with the member row the previous one
    /// resolved to and the few rows after it, sequential reads instead of a table probe. A run of ids where
    /// that fails more than it works goes back to the table for the rest of its block of rows, so an
    /// unordered column costs a few comparisons per 16k rows. Only for a member id column without
    /// repeated ids (a built genealogy's): the guess could otherwise find a later copy of an id.
    pub(crate) fn resolve_ordered<'k, K: KeyColumn>(&self, member_id: &'k K, column: &'k K) -> Vec<u32> {
        self.resolve_with(member_id, column, None, true)
    }

    fn resolve_with<'k, K: KeyColumn>(
        &self,
        member_id: &'k K,
        column: &'k K,
        same_as: Option<(&'k K, &[u32])>,
        ordered: bool,
    ) -> Vec<u32> {
        let n = column.len();
        let members = member_id.len();
        let reused = |row: usize, key: K::Key<'k>| same_as.filter(|(other, _)| other.get(row) == Some(key));
        let mut links = vec![NULL_LINK; n];
        links.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(chunk, out)| {
            let base = chunk * PAR_CHUNK;
            // The member row the last resolved id of this chunk points at, and how well guessing from it
            // has done so far.
            let mut cursor = NULL_LINK;
            let mut guessing = ordered;
            let (mut hits, mut misses) = (0u32, 0u32);
            for (b, block) in out.chunks_mut(BATCH).enumerate() {
                let start = base + b * BATCH;
                let mut hashes = [0u64; BATCH];
                let mut probed = [false; BATCH];
                // Pass 1: hash and prefetch the home slot of every id of the batch, then probe by tag.
                for (i, link) in block.iter_mut().enumerate() {
                    let row = start + i;
                    let key = column.get(row);
                    if guessing && key.is_some() && cursor < UNKNOWN_LINK {
                        // The same member again, or one of the next few (members without rows skipped).
                        let at = cursor as usize;
                        if let Some(step) = (0..GUESSES).take_while(|s| at + s < members).find(|s| member_id.get(at + s) == key) {
                            cursor += step as u32;
                            *link = cursor;
                            hits += 1;
                            continue;
                        }
                        misses += 1;
                        guessing = misses <= 16 || hits >= misses;
                    }
                    match key {
                        None => *link = NULL_LINK,
                        Some(key) => match reused(row, key) {
                            Some((_, resolved)) => *link = resolved[row],
                            None => {
                                hashes[i] = hash_key(key);
                                probed[i] = true;
                                self.table(hashes[i]).prefetch(hashes[i]);
                            }
                        },
                    }
                }
                for (i, link) in block.iter_mut().enumerate() {
                    if probed[i] {
                        *link = self.table(hashes[i]).candidate(hashes[i]);
                        if *link < UNKNOWN_LINK {
                            member_id.prefetch_row(*link as usize);
                        }
                    }
                }
                // Pass 2: compare the candidates' ids, their locations prefetched a step ahead.
                for (i, &link) in block.iter().enumerate() {
                    if probed[i] && link < UNKNOWN_LINK {
                        member_id.prefetch_key(link as usize);
                    }
                }
                for (i, link) in block.iter_mut().enumerate() {
                    if !probed[i] || *link >= UNKNOWN_LINK {
                        continue;
                    }
                    let row = start + i;
                    let Some(key) = column.get(row) else { continue };
                    if member_id.get(*link as usize) != Some(key) {
                        let same = |r: u32| member_id.get(r as usize) == Some(key);
                        *link = self.table(hashes[i]).find(hashes[i], same);
                    }
                }
                if let Some(&last) = block.iter().rev().find(|&&l| l < UNKNOWN_LINK) {
                    cursor = last;
                }
            }
        });
        links
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{IntKeys, OwnedStrKeys};

    #[test]
    fn resolves_present_absent_null_and_reused_links() {
        let members = OwnedStrKeys::new(&[Some("a"), Some("b"), Some("c"), Some("b"), None]);
        let members = members.view();
        let mut findings = Vec::new();
        let index = IdIndex::build(&members, &mut findings);
        let codes: Vec<_> = findings.iter().map(|f| (f.row, f.code)).collect();
        assert_eq!(codes, vec![(Some(3), Code::DuplicateId), (Some(4), Code::MissingId)]);
        let sponsors = OwnedStrKeys::new(&[None, Some("a"), Some("zz"), Some("c"), Some("b")]);
        let placements = OwnedStrKeys::new(&[None, Some("a"), Some("b"), Some("c"), Some("")]);
        let (sponsors, placements) = (sponsors.view(), placements.view());
        let s = index.resolve(&members, &sponsors, None);
        assert_eq!(s, vec![NULL_LINK, 0, UNKNOWN_LINK, 2, 1]);
        let p = index.resolve(&members, &placements, Some((&sponsors, &s)));
        assert_eq!(p, vec![NULL_LINK, 0, 1, 2, UNKNOWN_LINK]);
    }

    #[test]
    fn tag_collisions_fall_back_to_full_comparison() {
        // A table whose every id shares one bucket and tag: candidates are wrong until compared.
        let mut table = RowTable::with_capacity(4);
        let ids = [10i64, 20, 30];
        for (row, _) in ids.iter().enumerate() {
            assert_eq!(table.insert(7, row as u32, |r| ids[r as usize] == ids[row]), None);
        }
        assert_eq!(table.insert(7, 9, |r| ids[r as usize] == 20), Some(1));
        assert_eq!(table.candidate(7), 0);
        assert_eq!(table.find(7, |r| ids[r as usize] == 30), 2);
        assert_eq!(table.find(7, |r| ids[r as usize] == 40), UNKNOWN_LINK);
        assert_eq!(table.candidate(8 | (1 << 40)), UNKNOWN_LINK);
    }

    #[test]
    fn ordered_resolution_equals_the_table_on_any_order() {
        // Member ids, then id columns in member order (runs of one member, skipped members), shuffled,
        // half and half, with nulls and unknown ids: the ordered path gives the table's answer.
        let ids: Vec<i64> = (0..40_000).map(|i| i * 31 % 1_000_003).collect();
        let member = IntKeys { values: &ids, validity: None };
        let mut findings = Vec::new();
        let index = IdIndex::build(&member, &mut findings);
        let mut rng = crate::rng::SplitMix64::new(5);
        let mut sorted: Vec<i64> = Vec::new();
        for &id in &ids {
            for _ in 0..rng.below(3) {
                sorted.push(id);
            }
        }
        sorted.insert(100, -7); // unknown
        let mut shuffled = sorted.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let half: Vec<i64> = sorted[..sorted.len() / 2].iter().chain(&shuffled[shuffled.len() / 2..]).copied().collect();
        for column in [sorted, shuffled, half] {
            let mut valid = vec![0xFFu8; column.len().div_ceil(8)];
            valid[3] = 0b1010_1010;
            let probe = IntKeys { values: &column, validity: Some(crate::keys::Validity { bits: &valid, offset: 0 }) };
            let expected = index.resolve(&member, &probe, None);
            assert!(expected.contains(&UNKNOWN_LINK) && expected.contains(&NULL_LINK));
            assert_eq!(index.resolve_ordered(&member, &probe), expected);
        }
    }

    #[test]
    fn many_int_ids_round_trip() {
        let ids: Vec<i64> = (0..50_000).map(|i| i * 7919 % 100_003).collect();
        let member = IntKeys { values: &ids, validity: None };
        let mut findings = Vec::new();
        let index = IdIndex::build(&member, &mut findings);
        assert!(findings.is_empty());
        let probe: Vec<i64> = ids.iter().rev().copied().chain([-1, 100_004]).collect();
        let probe = IntKeys { values: &probe, validity: None };
        let links = index.resolve(&member, &probe, None);
        let expected: Vec<u32> =
            (0..ids.len() as u32).rev().chain([UNKNOWN_LINK, UNKNOWN_LINK]).collect();
        assert_eq!(links, expected);
    }
}

