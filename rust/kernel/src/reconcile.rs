//! Pairing two sets of commission lines by `(period, member_id, bonus)`: the parallel run's comparison.
//!
//! Each side's lines are summed per key (i128, exact); every key present on either side becomes one pair,
//! in order of first appearance (the legacy lines' order, then the keys only our lines have). Keys are
//! found through a 64-bit hash confirmed by comparing the bytes with the pair's first line, and the rare
//! colliding keys go to a second, byte-keyed map: a collision costs time, never a wrong pair.
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

use crate::error::{invalid, KernelError, Result};
use crate::keys::{KeyColumn, Offset, StrKeys};

/// A line's key: period, member id and bonus, as bytes.
type Key<'a> = (&'a [u8], &'a [u8], &'a [u8]);

pub struct Lines<'a, O: Offset> {
    pub period: StrKeys<'a, O>,
    pub member_id: StrKeys<'a, O>,
    pub bonus: StrKeys<'a, O>,
    pub amount: &'a [i64],
}

impl<O: Offset> Lines<'_, O> {
    fn len(&self) -> usize {
        self.amount.len()
    }

    fn key(&self, row: usize) -> Option<(&[u8], &[u8], &[u8])> {
        Some((self.period.value(row)?, self.member_id.value(row)?, self.bonus.value(row)?))
    }
}

/// One pair per key: where it first appears (`side << 63 | row`, side 0 legacy, 1 ours) and each
/// side's sum, `None` where that side has no line for the key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    pub first: Vec<u64>,
    pub legacy: Vec<Option<i64>>,
    pub ours: Vec<Option<i64>>,
}

#[derive(Clone, Copy)]
struct Entry {
    first: u64,
    legacy: i128,
    ours: i128,
    has_legacy: bool,
    has_ours: bool,
}

const OURS: u64 = 1 << 63;

fn hash_key(key: (&[u8], &[u8], &[u8])) -> u64 {
    let mut h = FxHasher::default();
    for part in [key.0, key.1, key.2] {
        h.write_usize(part.len());
        h.write(part);
    }
    // Mix the high bits down: shards take the top bits, the table the low ones.
    let x = h.finish();
    x ^ (x >> 29) ^ (x >> 47)
}

pub fn pair<O: Offset + Sync>(legacy: &Lines<'_, O>, ours: &Lines<'_, O>) -> Result<Pairs> {
    for (side, lines) in [("legacy", legacy), ("new", ours)] {
        let n = lines.len();
        if lines.period.len() != n || lines.member_id.len() != n || lines.bonus.len() != n {
            return Err(invalid(format!("{side} lines: columns differ in length")));
        }
        if let Some(row) = (0..n).find(|&r| lines.key(r).is_none()) {
            return Err(invalid(format!("{side} lines: a key column is null at row {row}")));
        }
    }
    let hashes = |lines: &Lines<'_, O>| -> Vec<u64> {
        (0..lines.len()).into_par_iter().with_min_len(1 << 14).map(|r| hash_key(lines.key(r).unwrap_or_default())).collect()
    };
    let (lh, oh) = (hashes(legacy), hashes(ours));
    let shards = rayon::current_num_threads().clamp(1, 64) as u64;
    let shard_of = |h: u64| (h >> 40) % shards;
    let built: Vec<Vec<Entry>> = (0..shards)
        .into_par_iter()
        .map(|shard| {
            // Sized for every legacy key of this shard up front: no rehash while filling.
            let expect = legacy.len() / shards as usize + legacy.len() / (8 * shards as usize) + 16;
            let mut entries: Vec<Entry> = Vec::with_capacity(expect);
            let mut by_hash: FxHashMap<u64, u32> = FxHashMap::with_capacity_and_hasher(expect, Default::default());
            let mut collided: FxHashMap<Key<'_>, u32> = FxHashMap::default();
            let key_of = |first: u64| -> (&[u8], &[u8], &[u8]) {
                let row = (first & !OURS) as usize;
                let lines = if first & OURS == 0 { legacy } else { ours };
                lines.key(row).unwrap_or_default()
            };
            for (side, lines, hs) in [(0u64, legacy, &lh), (OURS, ours, &oh)] {
                for (row, &h) in hs.iter().enumerate() {
                    if shard_of(h) != shard {
                        continue;
                    }
                    let key = lines.key(row).unwrap_or_default();
                    let fresh = Entry { first: side | row as u64, legacy: 0, ours: 0, has_legacy: false, has_ours: false };
                    let slot = match by_hash.get(&h) {
                        None => {
                            by_hash.insert(h, entries.len() as u32);
                            entries.push(fresh);
                            entries.len() - 1
                        }
                        Some(&e) if key_of(entries[e as usize].first) == key => e as usize,
                        Some(_) => *collided.entry(key).or_insert_with(|| {
                            entries.push(fresh);
                            (entries.len() - 1) as u32
                        }) as usize,
                    };
                    let amount = i128::from(lines.amount[row]);
                    let entry = &mut entries[slot];
                    if side == 0 {
                        entry.legacy += amount;
                        entry.has_legacy = true;
                    } else {
                        entry.ours += amount;
                        entry.has_ours = true;
                    }
                }
            }
            entries
        })
        .collect();
    let mut entries: Vec<Entry> = built.into_iter().flatten().collect();
    entries.par_sort_unstable_by_key(|e| e.first);
    let narrow = |sum: i128, what: &str, e: &Entry| -> Result<i64> {
        i64::try_from(sum).map_err(|_| KernelError::Overflow {
            context: format!("the {what} sum of the key first seen at {} row {}", if e.first & OURS == 0 { "legacy" } else { "new" }, e.first & !OURS),
            row: None,
        })
    };
    let mut out = Pairs { first: Vec::with_capacity(entries.len()), legacy: Vec::with_capacity(entries.len()), ours: Vec::with_capacity(entries.len()) };
    for e in &entries {
        out.first.push(e.first);
        out.legacy.push(if e.has_legacy { Some(narrow(e.legacy, "legacy", e)?) } else { None });
        out.ours.push(if e.has_ours { Some(narrow(e.ours, "new", e)?) } else { None });
    }
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

    type Cols = ((Vec<i32>, Vec<u8>), (Vec<i32>, Vec<u8>), (Vec<i32>, Vec<u8>), Vec<i64>);

    fn lines_of(c: &Cols) -> Lines<'_, i32> {
        Lines {
            period: StrKeys::new(&c.0 .0, &c.0 .1, None).unwrap(),
            member_id: StrKeys::new(&c.1 .0, &c.1 .1, None).unwrap(),
            bonus: StrKeys::new(&c.2 .0, &c.2 .1, None).unwrap(),
            amount: &c.3,
        }
    }

    fn run(l: &[(&str, &str, &str, i64)], o: &[(&str, &str, &str, i64)]) -> Vec<((String, String, String), Option<i64>, Option<i64>)> {
        let cols = |rows: &[(&str, &str, &str, i64)]| {
            (column(&rows.iter().map(|r| r.0).collect::<Vec<_>>()), column(&rows.iter().map(|r| r.1).collect::<Vec<_>>()),
             column(&rows.iter().map(|r| r.2).collect::<Vec<_>>()), rows.iter().map(|r| r.3).collect::<Vec<_>>())
        };
        let (lc, oc) = (cols(l), cols(o));
        let p = pair(&lines_of(&lc), &lines_of(&oc)).unwrap();
        p.first
            .iter()
            .zip(p.legacy.iter().zip(p.ours.iter()))
            .map(|(&f, (&a, &b))| {
                let row = (f & !OURS) as usize;
                let r = if f & OURS == 0 { l[row] } else { o[row] };
                ((r.0.to_string(), r.1.to_string(), r.2.to_string()), a, b)
            })
            .collect()
    }

    #[test]
    fn pairs_in_first_appearance_order() {
        let got = run(
            &[("p", "B", "x", 5), ("p", "A", "x", 1), ("p", "B", "x", 2)],
            &[("p", "C", "x", 9), ("p", "A", "x", 1)],
        );
        let k = |m: &str| ("p".to_string(), m.to_string(), "x".to_string());
        assert_eq!(got, vec![(k("B"), Some(7), None), (k("A"), Some(1), Some(1)), (k("C"), None, Some(9))]);
    }

    #[test]
    fn matches_a_btreemap_reference() {
        let mut rng = crate::rng::SplitMix64::new(17);
        let names = ["A", "B", "AB", "", "ü"];
        for _ in 0..200 {
            let gen = |rng: &mut crate::rng::SplitMix64| -> Vec<(&str, &str, &str, i64)> {
                (0..rng.below(30)).map(|_| (names[rng.below(2) as usize], names[rng.below(5) as usize], names[rng.below(3) as usize], rng.below(1000) as i64 - 500)).collect()
            };
            let (l, o) = (gen(&mut rng), gen(&mut rng));
            let mut expect: BTreeMap<(String, String, String), (Option<i64>, Option<i64>)> = BTreeMap::new();
            for (side, rows) in [(0, &l), (1, &o)] {
                for r in rows.iter() {
                    let e = expect.entry((r.0.into(), r.1.into(), r.2.into())).or_default();
                    let slot = if side == 0 { &mut e.0 } else { &mut e.1 };
                    *slot = Some(slot.unwrap_or(0) + r.3);
                }
            }
            let got: BTreeMap<_, _> = run(&l, &o).into_iter().map(|(k, a, b)| (k, (a, b))).collect();
            assert_eq!(got, expect);
        }
    }

    #[test]
    fn a_sum_beyond_int64_is_an_error() {
        let (p, d) = column(&["p", "p"]);
        let lines = Lines { period: StrKeys::new(&p, &d, None).unwrap(), member_id: StrKeys::new(&p, &d, None).unwrap(), bonus: StrKeys::new(&p, &d, None).unwrap(), amount: &[i64::MAX, 1] };
        let empty = Lines { period: StrKeys::new(&[0], &[], None).unwrap(), member_id: StrKeys::new(&[0], &[], None).unwrap(), bonus: StrKeys::new(&[0], &[], None).unwrap(), amount: &[] };
        assert!(matches!(pair(&lines, &empty), Err(KernelError::Overflow { .. })));
    }
}
