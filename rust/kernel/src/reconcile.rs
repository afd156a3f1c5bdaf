//! Pairing two sets of commission lines by `(period, member_id, bonus)`: the parallel run's comparison.
//!
//! Each side's lines are summed per key (exact: i64 with a checked add, an i128 side table for the rare
//! key whose running sum leaves i64); every key present on either side becomes one pair, in order of first
//! appearance (the legacy lines' order, then the keys only our lines have). Each pair gets its class and
//! difference, and the totals per period and bonus come out of the same pass.
//!
//! Speed comes from never hashing a whole key: each key column is interned on its own (period and bonus
//! have a handful of values; a member id repeated on consecutive lines is interned once, and member ids
//! are interned in two hash shards, one per core), dictionary columns intern their values instead of their
//! rows, and the interned codes give each key a dense slot `(member, period, bonus)` — or, when that space
//! would be sparse, an integer-keyed map. An interned value is confirmed byte for byte (values up to 16
//! bytes are kept inside the table's slot), so equal hashes of different values cost time, never a wrong
//! pair.
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{invalid, KernelError, Result};
use crate::id_index::prefetch;
use crate::keys::{KeyColumn, StrKeys};

/// A text column with 32- or 64-bit offsets (Arrow's string and large_string).
pub enum Text<'a> {
    Narrow(StrKeys<'a, i32>),
    Wide(StrKeys<'a, i64>),
}

impl<'a> Text<'a> {
    fn len(&self) -> usize {
        match self {
            Text::Narrow(t) => t.len(),
            Text::Wide(t) => t.len(),
        }
    }

    #[inline]
    fn value(&self, row: usize) -> Option<&'a [u8]> {
        match self {
            Text::Narrow(t) => t.value(row),
            Text::Wide(t) => t.value(row),
        }
    }
}

/// One key column of one side: text, or dictionary indices into text values.
pub enum KeyCol<'a> {
    Text(Text<'a>),
    Dict { indices: &'a [i32], values: Text<'a> },
}

impl KeyCol<'_> {
    fn len(&self) -> usize {
        match self {
            KeyCol::Text(t) => t.len(),
            KeyCol::Dict { indices, .. } => indices.len(),
        }
    }
}

pub struct Lines<'a> {
    pub period: KeyCol<'a>,
    pub member_id: KeyCol<'a>,
    pub bonus: KeyCol<'a>,
    pub amount: &'a [i64],
}

/// Distinct values of a key column, in code order, as Arrow-style offsets and bytes (each value once).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Values {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
}

impl Values {
    pub fn get(&self, code: u32) -> &[u8] {
        &self.data[self.offsets[code as usize] as usize..self.offsets[code as usize + 1] as usize]
    }

    fn len(&self) -> u64 {
        self.offsets.len() as u64 - 1
    }
}

pub const MATCH: u8 = 0;
pub const AMOUNT_DIFFERS: u8 = 1;
pub const ONLY_LEGACY: u8 = 2;
pub const ONLY_OURS: u8 = 3;

/// One row per pair, in first-appearance order: key codes (into `periods`, `members`, `bonuses`), each
/// side's sum (0 where `has_legacy` / `has_ours` says that side has no line for the key), `ours - legacy`
/// and the class.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    pub period: Vec<u32>,
    pub member: Vec<u32>,
    pub bonus: Vec<u32>,
    pub legacy: Vec<i64>,
    pub has_legacy: Vec<bool>,
    pub ours: Vec<i64>,
    pub has_ours: Vec<bool>,
    pub difference: Vec<i64>,
    pub status: Vec<u8>,
    pub periods: Values,
    pub members: Values,
    pub bonuses: Values,
    pub totals: Totals,
}

/// Per `(period, bonus)` present in the pairs, ordered by codes: both sides' totals, their difference
/// and the count of each class (`counts[MATCH]`, …).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub period: Vec<u32>,
    pub bonus: Vec<u32>,
    pub legacy: Vec<i64>,
    pub ours: Vec<i64>,
    pub difference: Vec<i64>,
    pub counts: Vec<[u64; 4]>,
}

const BATCH: usize = 16;
const INLINE: usize = 16;
const SHARDS: usize = 2;

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    code: u32,
    len: u32,
    inline: [u8; INLINE],
}

const EMPTY: Slot = Slot { hash: 0, code: u32::MAX, len: 0, inline: [0; INLINE] };

/// Distinct byte strings → dense codes in order of first interning; open addressing, linear probing.
struct Interner<'a> {
    slots: Vec<Slot>,
    shift: u32,
    reps: Vec<&'a [u8]>,
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    // 8 bytes at a time, then a final mix so that every bit of the value reaches the top bits (the slot).
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^ (h >> 32)
}

/// Which shard interns a value: the lowest bit of its hash (the slot comes from the top bits).
#[inline]
fn shard_of(hash: u64) -> usize {
    (hash & 1) as usize
}

impl<'a> Interner<'a> {
    fn new(expected: usize) -> Self {
        let capacity = (expected.max(8) * 2).next_power_of_two();
        Interner { slots: vec![EMPTY; capacity], shift: 64 - capacity.trailing_zeros(), reps: Vec::new() }
    }

    /// The home slot: the top bits of the hash times an odd constant (Fibonacci hashing).
    #[inline]
    fn home(hash: u64, shift: u32) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    #[inline]
    fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[Self::home(hash, self.shift)]);
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let shift = 64 - capacity.trailing_zeros();
        let mut slots = vec![EMPTY; capacity];
        for s in self.slots.iter().filter(|s| s.code != u32::MAX) {
            let mut at = Self::home(s.hash, shift);
            while slots[at].code != u32::MAX {
                at = (at + 1) & (capacity - 1);
            }
            slots[at] = *s;
        }
        self.slots = slots;
        self.shift = shift;
    }

    fn intern(&mut self, bytes: &'a [u8], hash: u64) -> Result<u32> {
        let mask = self.slots.len() - 1;
        let mut at = Self::home(hash, self.shift);
        loop {
            let s = &self.slots[at];
            if s.code == u32::MAX {
                break;
            }
            if s.hash == hash && s.len as usize == bytes.len() {
                let same = if bytes.len() <= INLINE {
                    s.inline[..bytes.len()] == *bytes
                } else {
                    self.reps[s.code as usize] == bytes
                };
                if same {
                    return Ok(s.code);
                }
            }
            at = (at + 1) & mask;
        }
        let code = u32::try_from(self.reps.len()).ok().filter(|&c| c < u32::MAX / SHARDS as u32)
            .ok_or_else(|| invalid("more than 2 billion distinct values in one key column"))?;
        let len = u32::try_from(bytes.len()).map_err(|_| invalid("a key value longer than 4 GiB"))?;
        let mut inline = [0u8; INLINE];
        let short = bytes.len().min(INLINE);
        inline[..short].copy_from_slice(&bytes[..short]);
        self.slots[at] = Slot { hash, code, len, inline };
        self.reps.push(bytes);
        if self.reps.len() * 2 > self.slots.len() {
            self.grow();
        }
        Ok(code)
    }

}

/// The rows of a text column that start a run of equal values, with each one's hash: found in parallel
/// over row chunks, in row order.
fn runs(column: &Text<'_>) -> Result<Vec<(u32, u64)>> {
    let n = column.len();
    if n > u32::MAX as usize {
        return Err(invalid("more than 4 billion rows on one side"));
    }
    let chunk = (n / (4 * rayon::current_num_threads()).max(1)).max(1 << 16);
    let parts: Vec<Result<Vec<(u32, u64)>>> = (0..n.div_ceil(chunk)).into_par_iter().map(|c| {
        let (start, end) = (c * chunk, ((c + 1) * chunk).min(n));
        let mut out = Vec::with_capacity((end - start) / 2);
        let mut previous = if start == 0 { None } else { column.value(start - 1) };
        for row in start..end {
            let bytes = column.value(row).ok_or_else(|| invalid(format!("a key column is null at row {row}")))?;
            if previous != Some(bytes) {
                out.push((row as u32, hash_bytes(bytes)));
                previous = Some(bytes);
            }
        }
        Ok(out)
    }).collect();
    let mut all = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

/// One side's codes of one key column, row by row: runs of equal text values, or dictionary indices.
enum Codes<'a> {
    Runs { starts: Vec<u32>, codes: Vec<u32>, rows: usize },
    Dict { indices: &'a [i32], codes: Vec<u32> },
}

impl Codes<'_> {
    /// Calls `f(row, code)` for every row, in order.
    fn for_each(&self, mut f: impl FnMut(usize, u32) -> Result<()>) -> Result<()> {
        match self {
            Codes::Runs { starts, codes, rows } => {
                for (k, &code) in codes.iter().enumerate() {
                    let end = starts.get(k + 1).map_or(*rows, |&s| s as usize);
                    for row in starts[k] as usize..end {
                        f(row, code)?;
                    }
                }
            }
            Codes::Dict { indices, codes } => {
                for (row, &i) in indices.iter().enumerate() {
                    let code = usize::try_from(i).ok().and_then(|i| codes.get(i))
                        .ok_or_else(|| invalid(format!("dictionary index {i} out of range at row {row}")))?;
                    f(row, *code)?;
                }
            }
        }
        Ok(())
    }
}

/// Interns one key column of both sides: the run starts of each side's text (its rows, or its
/// dictionary's values) are split by hash between `shards` interners on as many cores; a value's code is
/// `local * shards + shard`. Returns each side's codes and the values in code order.
fn intern_column<'a>(legacy: &KeyCol<'a>, ours: &KeyCol<'a>, shards: usize) -> Result<([Codes<'a>; 2], Values)> {
    let sides = [legacy, ours];
    let texts: Vec<&Text<'a>> = sides.iter().map(|c| match c {
        KeyCol::Text(t) => t,
        KeyCol::Dict { values, .. } => values,
    }).collect();
    let found = [runs(texts[0])?, runs(texts[1])?];
    let codes: [Vec<AtomicU32>; 2] = [0, 1].map(|s| (0..found[s].len()).map(|_| AtomicU32::new(0)).collect());
    let expected = (found[0].len() + found[1].len()) / shards + 8;
    let run = |shard: usize| -> Result<Interner<'a>> {
        let mut interner = Interner::new(expected / 2);
        let global = |local: u32| local * shards as u32 + shard as u32;
        for side in 0..2 {
            let mut batch = [(0usize, 0u64, &[] as &[u8]); BATCH];
            let mut filled = 0;
            for (k, &(row, hash)) in found[side].iter().enumerate() {
                if shards > 1 && shard_of(hash) != shard {
                    continue;
                }
                interner.prefetch(hash);
                batch[filled] = (k, hash, texts[side].value(row as usize).unwrap_or_default());
                filled += 1;
                if filled == BATCH {
                    for &(k, h, b) in &batch {
                        codes[side][k].store(global(interner.intern(b, h)?), Relaxed);
                    }
                    filled = 0;
                }
            }
            for &(k, h, b) in &batch[..filled] {
                codes[side][k].store(global(interner.intern(b, h)?), Relaxed);
            }
        }
        Ok(interner)
    };
    let interners: Vec<Interner<'a>> = if shards == 1 {
        vec![run(0)?]
    } else {
        let (a, b) = rayon::join(|| run(0), || run(1));
        vec![a?, b?]
    };
    // Codes interleave the shards (local * shards + shard) up to the shorter shard's length; past it only
    // the longer shard has values, so its codes are closed up: the values have no gaps.
    let short = interners.iter().map(|i| i.reps.len()).min().unwrap_or(0) as u32;
    let compact = |code: u32| -> u32 {
        let s = shards as u32;
        if code < short * s { code } else { short * s + (code / s - short) }
    };
    let most = interners.iter().map(|i| i.reps.len()).max().unwrap_or(0);
    let total_values: usize = interners.iter().map(|i| i.reps.len()).sum();
    let mut values = Values { offsets: Vec::with_capacity(total_values + 1), data: Vec::new() };
    values.offsets.push(0);
    for local in 0..most {
        for interner in &interners {
            if let Some(r) = interner.reps.get(local) {
                values.data.extend_from_slice(r);
                values.offsets.push(values.data.len() as i64);
            }
        }
    }
    let [c0, c1] = codes;
    let [f0, f1] = found;
    let side_codes = |side: &KeyCol<'a>, text: &Text<'a>, found: Vec<(u32, u64)>, codes: Vec<AtomicU32>| -> Codes<'a> {
        let codes: Vec<u32> = codes.into_iter().map(|c| compact(c.into_inner())).collect();
        match side {
            KeyCol::Text(_) => Codes::Runs { starts: found.into_iter().map(|(r, _)| r).collect(), codes, rows: text.len() },
            KeyCol::Dict { indices, .. } => {
                // Every value's code (a repeated value has its run's).
                let mut by_value = vec![0u32; text.len()];
                let starts: Vec<u32> = found.into_iter().map(|(r, _)| r).collect();
                for (k, &code) in codes.iter().enumerate() {
                    let end = starts.get(k + 1).map_or(text.len(), |&s| s as usize);
                    by_value[starts[k] as usize..end].fill(code);
                }
                Codes::Dict { indices, codes: by_value }
            }
        }
    };
    Ok(([side_codes(legacy, texts[0], f0, c0), side_codes(ours, texts[1], f1, c1)], values))
}

#[derive(Clone, Copy, Default)]
struct Entry {
    sums: [i64; 2],
    has: [bool; 2],
    wide: [bool; 2],
}

pub fn pair(legacy: &Lines<'_>, ours: &Lines<'_>) -> Result<Pairs> {
    pair_with(legacy, ours, true)
}

/// `allow_dense = false` forces the map (tests of both paths).
fn pair_with(legacy: &Lines<'_>, ours: &Lines<'_>, allow_dense: bool) -> Result<Pairs> {
    for (side, lines) in [("legacy", legacy), ("new", ours)] {
        let n = lines.amount.len();
        if lines.period.len() != n || lines.member_id.len() != n || lines.bonus.len() != n {
            return Err(invalid(format!("{side} lines: columns differ in length")));
        }
    }
    let total = legacy.amount.len() + ours.amount.len();
    // Member ids in two shards on two cores; period and bonus (a few values each) alongside.
    let (members, (periods, bonuses)) = rayon::join(
        || intern_column(&legacy.member_id, &ours.member_id, SHARDS),
        || rayon::join(|| intern_column(&legacy.period, &ours.period, 1), || intern_column(&legacy.bonus, &ours.bonus, 1)),
    );
    let (member_codes, member_values) = members?;
    let (period_codes, period_values) = periods?;
    let (bonus_codes, bonus_values) = bonuses?;
    let (nm, np, nb) = (member_values.len(), period_values.len(), bonus_values.len());

    // Each line's key codes, side by side, in row order.
    let mut keys: Vec<(u32, u32, u32)> = vec![(0, 0, 0); total];
    for (side, base) in [(0, 0), (1, legacy.amount.len())] {
        member_codes[side].for_each(|row, c| { keys[base + row].0 = c; Ok(()) })?;
        period_codes[side].for_each(|row, c| { keys[base + row].1 = c; Ok(()) })?;
        bonus_codes[side].for_each(|row, c| { keys[base + row].2 = c; Ok(()) })?;
    }
    drop((member_codes, period_codes, bonus_codes));

    // One pass: each line finds its pair (created at the key's first line, so pairs are in first-appearance
    // order) through a dense slot per (member, period, bonus) when that space is not much larger than the
    // lines, else an integer-keyed map; and adds its amount to its side's sum.
    let dense_size = nm.checked_mul(np).and_then(|x| x.checked_mul(nb)).filter(|&s| allow_dense && s <= 4 * total as u64 + (1 << 20));
    let mut dense: Vec<u32> = dense_size.map(|s| vec![u32::MAX; s as usize]).unwrap_or_default();
    let mut sparse: FxHashMap<(u32, u32, u32), u32> = FxHashMap::default();
    let expect = legacy.amount.len().max(ours.amount.len());
    let mut out = Pairs { member: Vec::with_capacity(expect), period: Vec::with_capacity(expect),
                          bonus: Vec::with_capacity(expect), ..Default::default() };
    let mut entries: Vec<Entry> = Vec::with_capacity(expect);
    let mut wide: FxHashMap<(u32, usize), i128> = FxHashMap::default();
    let amounts = legacy.amount.iter().map(|&a| (0, a)).chain(ours.amount.iter().map(|&a| (1, a)));
    for (&key, (side, amount)) in keys.iter().zip(amounts) {
        let slot = if dense_size.is_some() {
            &mut dense[((key.0 as u64 * np + key.1 as u64) * nb + key.2 as u64) as usize]
        } else {
            sparse.entry(key).or_insert(u32::MAX)
        };
        if *slot == u32::MAX {
            *slot = u32::try_from(entries.len()).ok().filter(|&i| i < u32::MAX).ok_or_else(|| invalid("more than 4 billion pairs"))?;
            entries.push(Entry::default());
            out.member.push(key.0);
            out.period.push(key.1);
            out.bonus.push(key.2);
        }
        let p = *slot;
        let e = &mut entries[p as usize];
        if e.wide[side] {
            *wide.entry((p, side)).or_default() += i128::from(amount);
        } else if let Some(sum) = e.sums[side].checked_add(amount) {
            e.sums[side] = sum;
        } else {
            e.wide[side] = true;
            wide.insert((p, side), i128::from(e.sums[side]) + i128::from(amount));
        }
        e.has[side] = true;
    }
    drop((dense, sparse, keys));

    let name = |p: usize| -> String {
        format!("{} / {} / {}", String::from_utf8_lossy(period_values.get(out.period[p])),
                String::from_utf8_lossy(member_values.get(out.member[p])), String::from_utf8_lossy(bonus_values.get(out.bonus[p])))
    };
    let overflow = |context: String| KernelError::Overflow { context, row: None };
    // Each pair's sums, difference and class, in parallel, straight into the output columns.
    let n = entries.len();
    let (mut legacy_sum, mut our_sum, mut difference, mut status) = (vec![0i64; n], vec![0i64; n], vec![0i64; n], vec![0u8; n]);
    legacy_sum.par_iter_mut().zip(our_sum.par_iter_mut()).zip(difference.par_iter_mut()).zip(status.par_iter_mut())
        .zip(entries.par_iter()).enumerate().with_min_len(1 << 14)
        .try_for_each(|(p, ((((ls, os), d), st), e))| -> Result<()> {
            let sum = |side: usize| if e.wide[side] { wide[&(p as u32, side)] } else { i128::from(e.sums[side]) };
            let (l, o) = (sum(0), sum(1));
            let narrow = |v: i128, what: &str| i64::try_from(v).map_err(|_| overflow(format!("the {what} sum of {} leaves int64", name(p))));
            *ls = narrow(l, "legacy")?;
            *os = narrow(o, "new")?;
            *d = i64::try_from(o - l).map_err(|_| overflow(format!("the difference at {} leaves int64", name(p))))?;
            *st = if *d == 0 {
                MATCH
            } else if !e.has[0] {
                ONLY_OURS
            } else if !e.has[1] {
                ONLY_LEGACY
            } else {
                AMOUNT_DIFFERS
            };
            Ok(())
        })?;
    out.has_legacy = entries.par_iter().map(|e| e.has[0]).collect();
    out.has_ours = entries.par_iter().map(|e| e.has[1]).collect();
    drop(entries);

    // Totals per (period, bonus), i128 until the end.
    let groups = (np * nb) as usize;
    let per_group = |range: std::ops::Range<usize>| -> (Vec<[i128; 3]>, Vec<[u64; 4]>) {
        let (mut sums, mut counts) = (vec![[0i128; 3]; groups], vec![[0u64; 4]; groups]);
        for p in range {
            let g = (out.period[p] as u64 * nb + out.bonus[p] as u64) as usize;
            sums[g][0] += i128::from(legacy_sum[p]);
            sums[g][1] += i128::from(our_sum[p]);
            sums[g][2] += i128::from(difference[p]);
            counts[g][status[p] as usize] += 1;
        }
        (sums, counts)
    };
    let (first, second) = rayon::join(|| per_group(0..n / 2), || per_group(n / 2..n));
    for g in 0..groups {
        let counts: [u64; 4] = std::array::from_fn(|k| first.1[g][k] + second.1[g][k]);
        if counts.iter().sum::<u64>() == 0 {
            continue;
        }
        let sums: [i128; 3] = std::array::from_fn(|k| first.0[g][k] + second.0[g][k]);
        let (pe, b) = ((g as u64 / nb) as u32, (g as u64 % nb) as u32);
        let label = || format!("{} / {}", String::from_utf8_lossy(period_values.get(pe)), String::from_utf8_lossy(bonus_values.get(b)));
        let narrow = |v: i128, what: &str| i64::try_from(v).map_err(|_| overflow(format!("the {what} of {} leaves int64", label())));
        out.totals.period.push(pe);
        out.totals.bonus.push(b);
        out.totals.legacy.push(narrow(sums[0], "legacy total")?);
        out.totals.ours.push(narrow(sums[1], "new total")?);
        out.totals.difference.push(narrow(sums[2], "total difference")?);
        out.totals.counts.push(counts);
    }
    out.legacy = legacy_sum;
    out.ours = our_sum;
    out.difference = difference;
    out.status = status;
    out.periods = period_values;
    out.members = member_values;
    out.bonuses = bonus_values;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn column(values: &[&str]) -> (Vec<i32>, Vec<u8>) {
        let mut offsets = vec![0i32];
        let mut data = Vec::new();
        for v in values {
            data.extend_from_slice(v.as_bytes());
            offsets.push(data.len() as i32);
        }
        (offsets, data)
    }

    type Rows<'r> = [(&'r str, &'r str, &'r str, i64)];
    type Got = Vec<((String, String, String), Option<i64>, Option<i64>, u8)>;
    type Sides = (Option<i64>, Option<i64>);

    type Owned = (Vec<i32>, Vec<u8>, Vec<i32>);

    fn tx<'a>(o: &'a [i32], d: &'a [u8]) -> KeyCol<'a> {
        KeyCol::Text(Text::Narrow(StrKeys::new(o, d, None).unwrap()))
    }

    fn key_col(c: &Owned, dict: bool) -> KeyCol<'_> {
        let values = Text::Narrow(StrKeys::new(&c.0, &c.1, None).unwrap());
        if dict { KeyCol::Dict { indices: &c.2, values } } else { KeyCol::Text(values) }
    }

    fn lines_of<'a>(c: &'a [Owned; 3], a: &'a [i64], dict: bool) -> Lines<'a> {
        Lines { period: key_col(&c[0], dict), member_id: key_col(&c[1], dict), bonus: key_col(&c[2], dict), amount: a }
    }

    /// Text columns, or (`dict`) every key column dictionary-encoded with its values in reverse order.
    fn run(l: &Rows<'_>, o: &Rows<'_>, dict: bool, dense: bool) -> Got {
        let owned = |rows: &Rows<'_>, k: usize| -> Owned {
            let vals: Vec<&str> = rows.iter().map(|r| [r.0, r.1, r.2][k]).collect();
            if !dict {
                let (o, d) = column(&vals);
                return (o, d, Vec::new());
            }
            let mut distinct: Vec<&str> = vals.clone();
            distinct.sort();
            distinct.dedup();
            distinct.reverse();
            let idx = vals.iter().map(|v| distinct.iter().position(|d| d == v).unwrap() as i32).collect();
            let (o, d) = column(&distinct);
            (o, d, idx)
        };
        let cols = |rows: &Rows<'_>| [owned(rows, 0), owned(rows, 1), owned(rows, 2)];
        let (lc, oc) = (cols(l), cols(o));
        let (la, oa): (Vec<i64>, Vec<i64>) = (l.iter().map(|r| r.3).collect(), o.iter().map(|r| r.3).collect());
        let (ll, ol) = (lines_of(&lc, &la, dict), lines_of(&oc, &oa, dict));
        let p = pair_with(&ll, &ol, dense).unwrap();
        for values in [&p.periods, &p.members, &p.bonuses] {
            let mut seen = std::collections::HashSet::new();
            for c in 0..values.len() as u32 {
                assert!(seen.insert(values.get(c).to_vec()), "each value once in the dictionary");
            }
        }
        let text = |v: &Values, c: u32| String::from_utf8(v.get(c).to_vec()).unwrap();
        (0..p.period.len())
            .map(|i| ((text(&p.periods, p.period[i]), text(&p.members, p.member[i]), text(&p.bonuses, p.bonus[i])),
                      p.has_legacy[i].then_some(p.legacy[i]), p.has_ours[i].then_some(p.ours[i]), p.status[i]))
            .collect()
    }

    #[test]
    fn pairs_in_first_appearance_order() {
        for (dict, dense) in [(false, true), (true, true), (false, false), (true, false)] {
            let got = run(
                &[("p", "B", "x", 5), ("p", "A", "x", 1), ("p", "B", "x", 2), ("p", "D", "x", 0)],
                &[("p", "C", "x", 9), ("p", "A", "x", 1), ("p", "B", "x", 3)],
                dict, dense,
            );
            let k = |m: &str| ("p".to_string(), m.to_string(), "x".to_string());
            assert_eq!(got, vec![(k("B"), Some(7), Some(3), AMOUNT_DIFFERS), (k("A"), Some(1), Some(1), MATCH),
                                 (k("D"), Some(0), None, MATCH), (k("C"), None, Some(9), ONLY_OURS)]);
        }
    }

    #[test]
    fn matches_a_btreemap_reference() {
        let mut rng = crate::rng::SplitMix64::new(17);
        let names = ["A", "B", "AB", "", "ü", "a-member-id-longer-than-sixteen-bytes", "a-member-id-longer-than-sixteen-bytez"];
        for case in 0..400 {
            let gen = |rng: &mut crate::rng::SplitMix64| -> Vec<(&str, &str, &str, i64)> {
                (0..rng.below(30)).map(|_| (names[rng.below(2) as usize], names[rng.below(7) as usize], names[rng.below(3) as usize], rng.below(1000) as i64 - 500)).collect()
            };
            let (l, o) = (gen(&mut rng), gen(&mut rng));
            let mut expect: BTreeMap<(String, String, String), Sides> = BTreeMap::new();
            let mut order = Vec::new();
            for (side, rows) in [(0, &l), (1, &o)] {
                for r in rows.iter() {
                    let key = (r.0.to_string(), r.1.to_string(), r.2.to_string());
                    if !expect.contains_key(&key) {
                        order.push(key.clone());
                    }
                    let e = expect.entry(key).or_default();
                    let slot = if side == 0 { &mut e.0 } else { &mut e.1 };
                    *slot = Some(slot.unwrap_or(0) + r.3);
                }
            }
            let got = run(&l, &o, case % 2 == 1, case % 4 < 2);
            assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), order);
            for (k, a, b, status) in got {
                assert_eq!((a, b), expect[&k]);
                let d = b.unwrap_or(0) - a.unwrap_or(0);
                let want = if d == 0 { MATCH } else if a.is_none() { ONLY_OURS } else if b.is_none() { ONLY_LEGACY } else { AMOUNT_DIFFERS };
                assert_eq!(status, want);
            }
        }
    }

    #[test]
    fn totals_per_period_and_bonus() {
        let (p, d) = column(&["p1", "p1", "p2"]);
        let (m, md) = column(&["A", "B", "A"]);
        let (b, bd) = column(&["x", "x", "y"]);
        let (e, ed) = column(&[]);
        let l = Lines { period: tx(&p, &d), member_id: tx(&m, &md),
                        bonus: tx(&b, &bd), amount: &[5, 7, 11] };
        let empty = || tx(&e, &ed);
        let o = Lines { period: empty(), member_id: empty(), bonus: empty(), amount: &[] };
        let t = pair(&l, &o).unwrap().totals;
        assert_eq!((t.period, t.bonus, t.legacy, t.ours, t.difference), (vec![0, 1], vec![0, 1], vec![12, 11], vec![0, 0], vec![-12, -11]));
        assert_eq!(t.counts, vec![[0, 0, 2, 0], [0, 0, 1, 0]]);
    }

    #[test]
    fn a_running_sum_beyond_int64_is_exact_and_a_final_one_is_an_error() {
        let (p, d) = column(&["p", "p", "p"]);
        let key = || tx(&p, &d);
        let (e, ed) = column(&[]);
        let empty = || tx(&e, &ed);
        let back = Lines { period: key(), member_id: key(), bonus: key(), amount: &[i64::MAX, 1, -2] };
        let none = Lines { period: empty(), member_id: empty(), bonus: empty(), amount: &[] };
        assert_eq!(pair(&back, &none).unwrap().legacy, vec![i64::MAX - 1]);
        let over = Lines { period: key(), member_id: key(), bonus: key(), amount: &[i64::MAX, 1, 0] };
        assert!(matches!(pair(&over, &none), Err(KernelError::Overflow { .. })));
        let (q, qd) = column(&["p"]);
        let one = || tx(&q, &qd);
        let low = Lines { period: one(), member_id: one(), bonus: one(), amount: &[i64::MIN] };
        let high = Lines { period: one(), member_id: one(), bonus: one(), amount: &[i64::MAX] };
        assert!(matches!(pair(&low, &high), Err(KernelError::Overflow { .. })), "the difference leaves int64");
    }

    #[test]
    fn bad_dictionary_index_is_an_error() {
        let (p, d) = column(&["p"]);
        let v = || Text::Narrow(StrKeys::new(&p, &d, None).unwrap());
        let l = Lines { period: KeyCol::Dict { indices: &[0, 3], values: v() }, member_id: KeyCol::Dict { indices: &[0, 0], values: v() },
                        bonus: KeyCol::Dict { indices: &[0, 0], values: v() }, amount: &[1, 2] };
        let (e, ed) = column(&[]);
        let empty = || tx(&e, &ed);
        let o = Lines { period: empty(), member_id: empty(), bonus: empty(), amount: &[] };
        assert!(pair(&l, &o).is_err());
    }
}

