//! E-wallet ledger hashing (`ledger-hashing.md`, version 1): canonical bytes, leaf and chain hashes,
//! RFC 6962 batch roots, and verification that pinpoints the first bad row of each wallet.
//!
//! SHA-256 comes from the RustCrypto `sha2` crate (SHA-NI where the CPU has it). Rows are hashed on every
//! core. Rows with the same wallet (or tx_id) are linked first; a seal's chains are then sequential per
//! wallet, so wallets are split into parts by a hash of their id and the parts run in parallel, each in
//! ledger order. Verification needs no order at all: each row is checked against stored values only.
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use std::hash::Hasher;

use crate::error::{KernelError, Result};
use crate::keys::{KeyColumn, StrKeys};

pub type Hash = [u8; 32];
pub const ZERO: Hash = [0; 32];

/// The transaction columns, as Arrow lays them out (strings with i32 offsets).
pub struct Transactions<'a> {
    pub tx_id: StrKeys<'a, i32>,
    pub wallet_id: StrKeys<'a, i32>,
    pub amount: &'a [i64],
    pub currency: StrKeys<'a, i32>,
    pub kind: StrKeys<'a, i32>,
    pub created_at: &'a [i64],
    pub reference: StrKeys<'a, i32>,
}

impl Transactions<'_> {
    pub fn len(&self) -> usize {
        self.amount.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn check_lengths(&self) -> Result<()> {
        let n = self.len();
        let same = [self.tx_id.len(), self.wallet_id.len(), self.currency.len(), self.kind.len(), self.created_at.len(), self.reference.len()]
            .iter()
            .all(|&l| l == n);
        if same {
            Ok(())
        } else {
            Err(crate::error::invalid("ledger columns must have one value per row"))
        }
    }
    fn wallet(&self, row: usize) -> &[u8] {
        bytes_at(&self.wallet_id, row)
    }
    fn ledger_error(&self, row: usize, message: &str) -> KernelError {
        KernelError::Ledger { message: format!("tx_id {} (row {row}): {message}", self.tx_id.display(row)), row: Some(row) }
    }
}

/// A published head: a wallet's last `seq` and `chain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub chain: Hash,
}

fn put_str(out: &mut Vec<u8>, value: &[u8]) -> std::result::Result<(), String> {
    let length = u32::try_from(value.len()).map_err(|_| "a string is longer than 2^32 - 1 bytes".to_string())?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// The canonical bytes of `row` ("Canonical bytes"), or what breaks a field rule.
fn required<'a>(column: &StrKeys<'a, i32>, row: usize, name: &str) -> std::result::Result<&'a [u8], String> {
    column.value(row).ok_or_else(|| format!("{name} is null"))
}

pub fn canonical(t: &Transactions<'_>, row: usize, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    out.clear();
    out.extend_from_slice(b"MLMTX\x01");
    put_str(out, required(&t.tx_id, row, "tx_id")?)?;
    put_str(out, required(&t.wallet_id, row, "wallet_id")?)?;
    out.extend_from_slice(&t.amount[row].to_be_bytes());
    let currency = required(&t.currency, row, "currency")?;
    if currency.len() != 3 || !currency.iter().all(u8::is_ascii_uppercase) {
        return Err(format!("currency {} is not three letters A-Z", t.currency.display(row)));
    }
    out.extend_from_slice(currency);
    put_str(out, required(&t.kind, row, "kind")?)?;
    out.extend_from_slice(&t.created_at[row].to_be_bytes());
    match t.reference.get(row) {
        None => out.push(0),
        Some(reference) => {
            out.push(1);
            put_str(out, reference)?;
        }
    }
    Ok(())
}

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const IV: [u32; 8] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// SHA-256 of `prefix ‖ parts`. Messages of up to three blocks (every chain and tree node, nearly every
/// leaf) are padded on the stack (FIPS 180-4 §5.1.1) and fed to `sha2`'s compression function: the
/// Digest API's buffering costs ~20% on these 65–120-byte messages. Longer ones use the Digest API.
fn sha256_of(prefix: u8, parts: &[&[u8]]) -> Hash {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let blocks = (len + 9).div_ceil(64);
    if blocks > 3 {
        let mut hasher = Sha256::new();
        hasher.update([prefix]);
        for part in parts {
            hasher.update(part);
        }
        return hasher.finalize().into();
    }
    let mut buf = [0u8; 192];
    buf[0] = prefix;
    let mut at = 1;
    for part in parts {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    buf[at] = 0x80;
    let end = blocks * 64;
    buf[end - 8..end].copy_from_slice(&(len as u64 * 8).to_be_bytes());
    let mut state = IV;
    for block in buf[..end].chunks_exact(64) {
        sha2::compress256(&mut state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
    let mut out = [0u8; 32];
    for (i, word) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

pub fn leaf_of(canonical: &[u8]) -> Hash {
    sha256_of(0, &[canonical])
}

pub fn chain_of(seq: u64, previous: &Hash, leaf: &Hash) -> Hash {
    sha256_of(2, &[&seq.to_be_bytes(), previous, leaf])
}

fn node(left: &Hash, right: &Hash) -> Hash {
    sha256_of(1, &[left, right])
}

/// The RFC 6962 Merkle tree hash over leaf hashes (not hashed again). Built bottom-up, pairing
/// neighbours and carrying an odd last node up unchanged: the same tree as RFC 6962's split at the
/// largest power of two, without recursion; the wide lower levels are hashed on every core.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Sha256::digest(b"").into();
    }
    let pair = |pair: &[Hash]| if pair.len() == 2 { node(&pair[0], &pair[1]) } else { pair[0] };
    let mut level: Vec<Hash> = leaves.par_chunks(2).with_min_len(1 << 12).map(pair).collect();
    if leaves.len() == 1 {
        return leaves[0];
    }
    while level.len() > 1 {
        level = level.par_chunks(2).with_min_len(1 << 12).map(pair).collect();
    }
    level[0]
}

/// A row's bytes, a null read as empty (its row is refused by the field rules anyway).
fn bytes_at<'a>(column: &StrKeys<'a, i32>, row: usize) -> &'a [u8] {
    column.value(row).unwrap_or_default()
}

/// A well-mixed 64-bit hash of an id (Fx, then the SplitMix64 finaliser).
fn key_hash(bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(bytes);
    let mut z = hasher.finish();
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const NO_ROW: u32 = u32::MAX;

/// Per-row values written in parallel by workers that own disjoint rows (each row belongs to exactly one
/// hash bucket or one wallet part). Writing in place saves a scatter pass over 10M rows.
struct Disjoint<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the pointer comes from a Vec that outlives every worker (the parallel loop ends before the Vec
// is used again), and concurrent workers only touch rows they own, so no element is shared.
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T: Copy> Disjoint<T> {
    fn new(values: &mut [T]) -> Self {
        Disjoint { ptr: values.as_mut_ptr(), len: values.len() }
    }
    #[inline]
    fn set(&self, row: usize, value: T) {
        assert!(row < self.len, "row out of range");
        // SAFETY: in bounds (checked above); only the owner of `row` writes or reads it.
        unsafe { *self.ptr.add(row) = value }
    }
    #[inline]
    fn get(&self, row: usize) -> T {
        assert!(row < self.len, "row out of range");
        // SAFETY: as in `set`: the owner of `row` wrote it earlier on this thread.
        unsafe { *self.ptr.add(row) }
    }
}

/// Rows with equal values of a string column, linked: `previous[r]` is the last earlier row with the
/// same value (`NO_ROW` for a value's first row), `first[r]` that value's first row, `last[r]` whether
/// no later row has it. Rows are bucketed by the top bits of a hash so that each bucket's table stays
/// in cache; values are confirmed byte for byte, so a hash collision costs time, never a wrong link.
struct Linked {
    hashes: Vec<u64>,
    previous: Vec<u32>,
    first: Vec<u32>,
    last: Vec<bool>,
}

fn link_equal(column: &StrKeys<'_, i32>, n: usize) -> Linked {
    link_equal_by(column, n, key_hash)
}

fn link_equal_by(column: &StrKeys<'_, i32>, n: usize, hash: impl Fn(&[u8]) -> u64 + Sync) -> Linked {
    const BITS: u32 = 10;
    let hashes: Vec<u64> = (0..n).into_par_iter().with_min_len(1 << 14).map(|r| hash(bytes_at(column, r))).collect();
    let bucket = |h: u64| (h >> (64 - BITS)) as usize;
    let mut start = vec![0usize; (1 << BITS) + 1];
    for &h in &hashes {
        start[bucket(h) + 1] += 1;
    }
    for b in 0..(1 << BITS) {
        start[b + 1] += start[b];
    }
    // (hash, row) by bucket, each bucket in row order.
    let mut pairs = vec![(0u64, 0u32); n];
    let mut at = start.clone();
    for (row, &h) in hashes.iter().enumerate() {
        let b = bucket(h);
        pairs[at[b]] = (h, row as u32);
        at[b] += 1;
    }
    let mut previous = vec![NO_ROW; n];
    let mut first = vec![0u32; n];
    let mut last = vec![true; n];
    let (prev_out, first_out, last_out) = (Disjoint::new(&mut previous), Disjoint::new(&mut first), Disjoint::new(&mut last));
    (0..1usize << BITS).into_par_iter().for_each(|b| {
        let rows = &pairs[start[b]..start[b + 1]];
        // value -> (its latest row, its first row)
        let mut by_hash: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        by_hash.reserve(rows.len());
        let mut exact: FxHashMap<&[u8], (u32, u32)> = FxHashMap::default();
        for (i, &(h, r)) in rows.iter().enumerate() {
            // A bucket's rows are spread over the batch: fetch the offsets, then the bytes, of rows ahead.
            if let Some(&(_, ahead)) = rows.get(i + 16) {
                crate::id_index::prefetch(&column.offsets[ahead as usize]);
            }
            if let Some(&(_, soon)) = rows.get(i + 8) {
                let at = column.offsets[soon as usize] as usize;
                if at < column.data.len() {
                    crate::id_index::prefetch(&column.data[at]);
                }
            }
            let entry = match by_hash.get_mut(&h) {
                None => {
                    by_hash.insert(h, (r, r));
                    first_out.set(r as usize, r);
                    continue;
                }
                Some(entry) if bytes_at(column, entry.0 as usize) == bytes_at(column, r as usize) => entry,
                // Two values, one hash: the second and later ones are kept exactly.
                Some(_) => match exact.get_mut(bytes_at(column, r as usize)) {
                    Some(entry) => entry,
                    None => {
                        exact.insert(bytes_at(column, r as usize), (r, r));
                        first_out.set(r as usize, r);
                        continue;
                    }
                },
            };
            prev_out.set(r as usize, entry.0);
            last_out.set(entry.0 as usize, false);
            first_out.set(r as usize, entry.1);
            entry.0 = r;
        }
    });
    Linked { hashes, previous, first, last }
}

impl Linked {
    /// Workers over the values: each takes the rows of the values whose hash falls in its part, in row
    /// order, so whatever it reads or writes per row streams forward.
    fn parts(&self) -> usize {
        2 * rayon::current_num_threads().max(1)
    }
    fn rows(&self, part: usize) -> impl Iterator<Item = usize> + '_ {
        // Multiply-shift rather than a modulo: no division per row and part.
        let parts = self.parts() as u64;
        self.hashes.iter().enumerate().filter(move |(_, &h)| ((h & 0xFFFF_FFFF) * parts) >> 32 == part as u64).map(|(r, _)| r)
    }
}

/// Each row whose tx_id is on an earlier row, with the first row that carries it, in row order.
fn repeated_tx_ids(t: &Transactions<'_>) -> Vec<(usize, usize)> {
    let linked = link_equal(&t.tx_id, t.len());
    (0..t.len()).filter(|&r| linked.previous[r] != NO_ROW).map(|r| (r, linked.first[r] as usize)).collect()
}

/// Every row's leaf (zeros where a field rule is broken), and the rows that break one, with why.
fn leaves(t: &Transactions<'_>) -> (Vec<Hash>, Vec<(usize, String)>) {
    const CHUNK: usize = 1 << 12;
    let mut leaf = vec![ZERO; t.len()];
    let mut errors: Vec<(usize, String)> = leaf
        .par_chunks_mut(CHUNK)
        .enumerate()
        .flat_map_iter(|(c, chunk)| {
            let mut buf = Vec::with_capacity(256);
            let mut errors = Vec::new();
            for (i, slot) in chunk.iter_mut().enumerate() {
                let row = c * CHUNK + i;
                match canonical(t, row, &mut buf) {
                    Ok(()) => *slot = leaf_of(&buf),
                    Err(message) => errors.push((row, message)),
                }
            }
            errors
        })
        .collect();
    errors.sort_unstable_by_key(|e| e.0);
    (leaf, errors)
}

#[derive(Debug)]
pub struct Sealed {
    pub seq: Vec<i64>,
    pub leaf: Vec<Hash>,
    pub chain: Vec<Hash>,
}

/// Seals a batch in the order given ("Hashes"): per wallet `seq` from its head (or 1) and the chain.
/// A repeated tx_id or a broken field rule is an error naming the tx_id; nothing is reordered.
pub fn seal(t: &Transactions<'_>, heads: &FxHashMap<&[u8], Head>) -> Result<Sealed> {
    t.check_lengths()?;
    let n = t.len();
    if u32::try_from(n).is_err() {
        return Err(crate::error::invalid("a batch holds at most 2^32 - 2 rows"));
    }
    // Leaves and the linking of equal ids are independent; side by side, the sequential steps of the
    // linkings (placing rows in buckets) overlap with hashing.
    let ((leaf, errors), (repeats, wallets)) =
        rayon::join(|| leaves(t), || rayon::join(|| repeated_tx_ids(t), || link_equal(&t.wallet_id, n)));
    if let Some((row, message)) = errors.first() {
        return Err(t.ledger_error(*row, message));
    }
    if let Some(&(row, earlier)) = repeats.first() {
        return Err(t.ledger_error(row, &format!("repeats the tx_id of row {earlier} in this batch")));
    }
    let mut seq = vec![0i64; n];
    let mut chain = vec![ZERO; n];
    let (seq_out, chain_out) = (Disjoint::new(&mut seq), Disjoint::new(&mut chain));
    (0..wallets.parts()).into_par_iter().try_for_each(|part| {
        for r in wallets.rows(part) {
            let before = wallets.previous[r];
            let (seq_before, chain_before) = if before == NO_ROW {
                // A first batch has no heads: no wallet id to hash and look up.
                let known = if heads.is_empty() { None } else { heads.get(t.wallet(r)).copied() };
                let head = known.unwrap_or(Head { seq: 0, chain: ZERO });
                (i64::try_from(head.seq).map_err(|_| t.ledger_error(r, "the wallet's head seq leaves int64"))?, head.chain)
            } else {
                (seq_out.get(before as usize), chain_out.get(before as usize))
            };
            let next = seq_before.checked_add(1).ok_or_else(|| t.ledger_error(r, "the wallet's seq leaves int64"))?;
            seq_out.set(r, next);
            chain_out.set(r, chain_of(next as u64, &chain_before, &leaf[r]));
        }
        Ok(())
    })?;
    Ok(Sealed { seq, leaf, chain })
}

/// A problem code of verification; `as_str` names are the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    BadField,
    DuplicateTxId,
    SequenceGap,
    LeafMismatch,
    ChainMismatch,
    HeadMismatch,
    RootMismatch,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::BadField => "bad_field",
            Problem::DuplicateTxId => "duplicate_tx_id",
            Problem::SequenceGap => "sequence_gap",
            Problem::LeafMismatch => "leaf_mismatch",
            Problem::ChainMismatch => "chain_mismatch",
            Problem::HeadMismatch => "head_mismatch",
            Problem::RootMismatch => "root_mismatch",
        }
    }
}

/// One finding: the row (None for a head with no rows or the root), its wallet, code and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub row: Option<usize>,
    pub wallet: Option<Vec<u8>>,
    pub problem: Problem,
    pub detail: String,
}

/// The stored hash columns of a sealed ledger: `seq` as stored (may be anything), `leaf` and `chain` as
/// byte strings (a length other than 32 is a `bad_field`).
pub struct Stored<'a> {
    pub seq: &'a [i64],
    pub leaf: StrKeys<'a, i32>,
    pub chain: StrKeys<'a, i32>,
}

pub struct Verified {
    /// Ordered by row; head problems (in published order) and the root problem last.
    pub findings: Vec<Finding>,
    /// Every wallet's last row (its head: the stored seq and chain there), in first-appearance order.
    pub heads: Vec<usize>,
    pub root: Hash,
}

/// The values of a binary column as 32-byte hashes without a copy, when every value is present and
/// 32 bytes long (a column of hashes, as `seal` writes it).
pub fn fixed_hashes<'a>(column: &StrKeys<'a, i32>) -> Option<&'a [Hash]> {
    let n = column.offsets.len().checked_sub(1)?;
    if column.validity.is_some() {
        return None;
    }
    let start = column.offsets[0] as usize;
    let evenly = column.offsets.windows(2).all(|w| w[1] - w[0] == 32);
    if !evenly {
        return None;
    }
    let (hashes, _) = column.data.get(start..start + 32 * n)?.as_chunks::<32>();
    Some(hashes)
}

fn hash_of(bytes: Option<&[u8]>) -> Option<Hash> {
    bytes.and_then(|b| b.try_into().ok())
}

/// Recomputes every leaf and chain and reports the first bad row per wallet ("Verification").
/// `start`: heads the ledger continues from; `published`: heads to compare the ends with, in order.
pub fn verify(
    t: &Transactions<'_>,
    stored: &Stored<'_>,
    start: &FxHashMap<&[u8], Head>,
    published: &[(&[u8], Head)],
    published_root: Option<Hash>,
) -> Result<Verified> {
    t.check_lengths()?;
    let n = t.len();
    if stored.seq.len() != n || stored.leaf.len() != n || stored.chain.len() != n {
        return Err(crate::error::invalid("seq, leaf and chain must have one value per row"));
    }
    // Each linking has a sequential step (placing rows in buckets): side by side they overlap.
    let (tx, wallets) = rayon::join(|| link_equal(&t.tx_id, n), || link_equal(&t.wallet_id, n));
    // A row's check reads only stored values (its own and its wallet's previous row's), so every row is
    // checked on its own, in parallel blocks that stream through the columns once; the first problem
    // of each wallet is picked afterwards. The result is that of checking wallet by wallet, in order.
    let check = |r: usize, buf: &mut Vec<u8>| -> Option<(Problem, String)> {
        if let Err(message) = canonical(t, r, buf) {
            return Some((Problem::BadField, message));
        }
        let seq = stored.seq[r];
        if seq < 0 {
            return Some((Problem::BadField, format!("seq {seq} is negative")));
        }
        let Some(leaf) = hash_of(stored.leaf.get(r)) else {
            return Some((Problem::BadField, "leaf is not 32 bytes".to_string()));
        };
        let Some(chain) = hash_of(stored.chain.get(r)) else {
            return Some((Problem::BadField, "chain is not 32 bytes".to_string()));
        };
        if tx.previous[r] != NO_ROW {
            return Some((Problem::DuplicateTxId, format!("tx_id also on row {}", tx.first[r])));
        }
        let before = wallets.previous[r];
        let (previous_seq, previous_chain) = if before == NO_ROW {
            let head = start.get(t.wallet(r)).copied().unwrap_or(Head { seq: 0, chain: ZERO });
            (i128::from(head.seq), Some(head.chain))
        } else {
            (i128::from(stored.seq[before as usize]), hash_of(stored.chain.get(before as usize)))
        };
        if i128::from(seq) != previous_seq + 1 {
            return Some((Problem::SequenceGap, format!("expected seq {}, found {seq}", previous_seq + 1)));
        }
        if leaf_of(buf) != leaf {
            return Some((Problem::LeafMismatch, "row fields do not hash to the stored leaf".to_string()));
        }
        if previous_chain.map(|p| chain_of(seq as u64, &p, &leaf)) != Some(chain) {
            return Some((Problem::ChainMismatch, format!("chain at seq {seq} does not follow from the previous chain")));
        }
        None
    };
    // The root covers the stored leaves; one that is not 32 bytes (already a bad_field) counts as zeros.
    let root_of_leaves = || match fixed_hashes(&stored.leaf) {
        Some(leaves) => merkle_root(leaves),
        None => {
            let copied: Vec<Hash> =
                (0..n).into_par_iter().with_min_len(1 << 14).map(|r| hash_of(stored.leaf.get(r)).unwrap_or(ZERO)).collect();
            merkle_root(&copied)
        }
    };
    let (mut problems, root): (Vec<(usize, Problem, String)>, Hash) = rayon::join(
        || {
            (0..n)
                .into_par_iter()
                .with_min_len(1 << 12)
                .map_init(|| Vec::with_capacity(256), |buf, r| check(r, buf).map(|(p, d)| (r, p, d)))
                .flatten_iter()
                .collect()
        },
        root_of_leaves,
    );
    problems.sort_unstable_by_key(|p| p.0);
    // A wallet is known by its first row; its first problem is the one reported.
    let mut failed_wallets: rustc_hash::FxHashSet<u32> = rustc_hash::FxHashSet::default();
    let mut findings: Vec<Finding> = Vec::new();
    for (r, problem, detail) in problems {
        if failed_wallets.insert(wallets.first[r]) {
            findings.push(Finding { row: Some(r), wallet: Some(t.wallet(r).to_vec()), problem, detail });
        }
    }
    // Each wallet's last row, in the order the wallets first appear.
    let mut ends: Vec<usize> = (0..n).filter(|&r| wallets.last[r]).collect();
    ends.sort_unstable_by_key(|&r| wallets.first[r]);
    let by_wallet: FxHashMap<&[u8], usize> =
        if published.is_empty() { FxHashMap::default() } else { ends.iter().map(|&r| (t.wallet(r), r)).collect() };
    for &(wallet, head) in published {
        let found = match by_wallet.get(wallet) {
            Some(&end) if failed_wallets.contains(&wallets.first[end]) => None,
            Some(&end) => {
                let seq = stored.seq[end];
                let chain = stored.chain.get(end);
                if seq != head.seq as i64 {
                    Some((Some(end), format!("ledger ends at seq {seq}, published head is seq {}", head.seq)))
                } else if chain != Some(&head.chain[..]) {
                    Some((Some(end), format!("chain differs from the published head at seq {seq}")))
                } else {
                    None
                }
            }
            // No rows: the wallet ends where it started.
            None if start.get(wallet) == Some(&head) => None,
            None => Some((None, format!("wallet has no rows; published head is seq {}", head.seq))),
        };
        if let Some((row, detail)) = found {
            findings.push(Finding { row, wallet: Some(wallet.to_vec()), problem: Problem::HeadMismatch, detail });
        }
    }
    if published_root.is_some_and(|p| p != root) {
        findings.push(Finding {
            row: None,
            wallet: None,
            problem: Problem::RootMismatch,
            detail: "batch root differs from the published root".to_string(),
        });
    }
    let heads = ends;
    Ok(Verified { findings, heads, root })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Validity;

    struct Column {
        offsets: Vec<i32>,
        data: Vec<u8>,
        valid: Vec<u8>,
    }

    impl Column {
        fn new(values: &[Option<&str>]) -> Self {
            let mut c = Column { offsets: vec![0], data: Vec::new(), valid: vec![0; values.len().div_ceil(8)] };
            for (i, v) in values.iter().enumerate() {
                if let Some(s) = v {
                    c.data.extend_from_slice(s.as_bytes());
                    c.valid[i / 8] |= 1 << (i % 8);
                }
                c.offsets.push(c.data.len() as i32);
            }
            c
        }
        fn view(&self) -> StrKeys<'_, i32> {
            StrKeys { offsets: &self.offsets, data: &self.data, validity: Some(Validity { bits: &self.valid, offset: 0 }) }
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    struct Spec {
        columns: Vec<Column>,
        amount: Vec<i64>,
        created_at: Vec<i64>,
    }

    /// T1..T5 of the spec's "Test vectors".
    fn spec_rows() -> Spec {
        fn some<'a>(v: &[&'a str]) -> Vec<Option<&'a str>> {
            v.iter().map(|s| Some(*s)).collect()
        }
        Spec {
            columns: vec![
                Column::new(&some(&["T1", "T2", "T3", "T4", "T5"])),
                Column::new(&some(&["W-A", "W-A", "W-B", "W-A", "W-B"])),
                Column::new(&some(&["USD", "USD", "USD", "EUR", "USD"])),
                Column::new(&some(&["commission", "withdrawal", "adjustment", "migration_opening", "commission"])),
                Column::new(&[Some("RUN-2026-10/binary"), None, Some(""), Some("Zürich ✓"), Some("e\u{301}")]),
            ],
            amount: vec![12345, -5000, 0, i64::MIN, 1],
            created_at: vec![1793000000000000, 1793000000000001, 1793000000000002, -1, 1793000000000003],
        }
    }

    fn transactions(spec: &Spec) -> Transactions<'_> {
        Transactions {
            tx_id: spec.columns[0].view(),
            wallet_id: spec.columns[1].view(),
            amount: &spec.amount,
            currency: spec.columns[2].view(),
            kind: spec.columns[3].view(),
            created_at: &spec.created_at,
            reference: spec.columns[4].view(),
        }
    }

    #[test]
    fn spec_vectors_byte_for_byte() {
        let spec = spec_rows();
        let t = transactions(&spec);
        let mut buf = Vec::new();
        canonical(&t, 0, &mut buf).unwrap();
        assert_eq!(hex(&buf), "4d4c4d54580100000002543100000003572d4100000000000030395553440000000a636f6d6d697373696f6e00065eb958151000010000001252554e2d323032362d31302f62696e617279");
        let sealed = seal(&t, &FxHashMap::default()).unwrap();
        assert_eq!(sealed.seq, vec![1, 2, 1, 3, 2]);
        let leaves = ["f17845f16d00fe9536fc310ffd5febb9043b976d1ea918c201ef6dcd5e35e266", "4c49f503de4cebce54d511361f7fcbd8f03cc737e979a0214c3c59708a182e48", "b9a656a16e9894a92b60dc55008e5971528af6cedce6f3d32e80712d04a4e85a", "54b349284669471392d1b48ae5a212e5dc50271ce94a5ba2728eafb232f6f289", "da404d14241bbe85d0b1eff6475f691e4f0326bb74811c9afe83b800e4155e16"];
        let chains = ["b1f82d252e776fbef4fbb74ca3a673490b6bd7565d64563019371c129d447b21", "6b3739b3f3ae1dd4c9bf4a519926b857a71b00327147b32f8fd7c818a0038323", "18eb2cdb7d7b31c4b86f66102f11371958733dc0aadcff0a0c87782808177723", "566e453a83109fa6a28aeadb889c6228db99146fa501e2757d1f43b1bd046f45", "d318fbcb63e91bc5f9f869e0ac7f5e43a8d6fface6b4452202fa045d0f141ceb"];
        for r in 0..5 {
            assert_eq!(hex(&sealed.leaf[r]), leaves[r], "leaf of row {r}");
            assert_eq!(hex(&sealed.chain[r]), chains[r], "chain of row {r}");
        }
        let roots = ["f17845f16d00fe9536fc310ffd5febb9043b976d1ea918c201ef6dcd5e35e266", "b921a3483880268703c00827d26dca53cb33a57c306b36d776df222e42e3207c", "fb2c83beeda32e62138589e3835c9ecae7503796ed69c06e3f74186d04b3eb68", "356095c792ca8dfc317fda204526b7cf92cf4bc9e74a0a3e25b389157955e4f9", "4a50e00d10db46e710e0883e6dbc8eef47e5ff1c567b138ee87d1cf09ca4fbd1"];
        for (k, root) in roots.iter().enumerate() {
            assert_eq!(hex(&merkle_root(&sealed.leaf[..=k])), *root, "root of T1..T{}", k + 1);
        }
        assert_eq!(hex(&merkle_root(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn equal_values_are_linked_exactly_even_when_hashes_collide() {
        let values: Vec<String> = (0..5000).map(|i| format!("w{}", (i * 7919) % 613)).collect();
        let column = Column::new(&values.iter().map(|v| Some(v.as_str())).collect::<Vec<_>>());
        let view = column.view();
        // A hash with only 8 values: nearly every lookup meets another value's hash.
        for linked in [link_equal(&view, values.len()), link_equal_by(&view, values.len(), |b| (b.len() as u64 * 0x9E37) << 50)] {
            let mut latest: std::collections::HashMap<&str, (u32, u32)> = std::collections::HashMap::new();
            for (r, v) in values.iter().enumerate() {
                let expected = latest.get(v.as_str()).copied();
                assert_eq!(linked.previous[r], expected.map_or(NO_ROW, |e| e.0), "previous of row {r}");
                assert_eq!(linked.first[r], expected.map_or(r as u32, |e| e.1), "first of row {r}");
                latest.insert(v, (r as u32, expected.map_or(r as u32, |e| e.1)));
            }
            for (r, v) in values.iter().enumerate() {
                assert_eq!(linked.last[r], latest[v.as_str()].0 == r as u32, "last of row {r}");
            }
        }
    }

    #[test]
    fn the_compression_path_is_sha256_at_every_length() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in 0..data.len() {
            for prefix in [0u8, 1, 2] {
                let expected: Hash = Sha256::new().chain_update([prefix]).chain_update(&data[..len]).finalize().into();
                let (a, b) = data[..len].split_at(len / 3);
                assert_eq!(sha256_of(prefix, &[a, b]), expected, "length {len}");
            }
        }
    }

    /// RFC 6962's recursive definition, as written there, for the bottom-up build to be checked against.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn merkle_root_is_rfc_6962_for_every_size() {
        let leaves: Vec<Hash> = (0u32..9000).map(|i| leaf_of(&i.to_be_bytes())).collect();
        for n in (0..70).chain([4095, 4096, 4097, 8191, 8192, 9000]) {
            assert_eq!(merkle_root(&leaves[..n]), mth(&leaves[..n]), "n = {n}");
        }
    }

    #[test]
    fn seal_continues_from_heads_and_refuses_bad_rows() {
        let spec = spec_rows();
        let t = transactions(&spec);
        let whole = seal(&t, &FxHashMap::default()).unwrap();
        // Heads after T1..T2 (W-A at seq 2): sealing T3..T5 alone gives the same seq and chains.
        let tail = Spec {
            columns: vec![
                Column::new(&[Some("T3"), Some("T4"), Some("T5")]),
                Column::new(&[Some("W-B"), Some("W-A"), Some("W-B")]),
                Column::new(&[Some("USD"), Some("EUR"), Some("USD")]),
                Column::new(&[Some("adjustment"), Some("migration_opening"), Some("commission")]),
                Column::new(&[Some(""), Some("Zürich ✓"), Some("e\u{301}")]),
            ],
            amount: spec.amount[2..].to_vec(),
            created_at: spec.created_at[2..].to_vec(),
        };
        let mut heads = FxHashMap::default();
        heads.insert(&b"W-A"[..], Head { seq: 2, chain: whole.chain[1] });
        let part = seal(&transactions(&tail), &heads).unwrap();
        assert_eq!(part.seq, whole.seq[2..]);
        assert_eq!(part.chain, whole.chain[2..]);
        let mut bad = spec_rows();
        bad.columns[2] = Column::new(&[Some("USD"), Some("usd"), Some("USD"), Some("EUR"), Some("USD")]);
        let err = seal(&transactions(&bad), &FxHashMap::default()).unwrap_err();
        assert!(err.to_string().contains("'T2'") && err.to_string().contains("currency"), "{err}");
        let mut repeated = spec_rows();
        repeated.columns[0] = Column::new(&[Some("T1"), Some("T2"), Some("T3"), Some("T2"), Some("T5")]);
        let err = seal(&transactions(&repeated), &FxHashMap::default()).unwrap_err();
        assert_eq!(err, KernelError::Ledger { message: "tx_id 'T2' (row 3): repeats the tx_id of row 1 in this batch".into(), row: Some(3) });
    }
}
