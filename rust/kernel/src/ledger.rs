//! E-wallet ledger hashing (`ledger-hashing.md`, version 1): canonical bytes, leaf and chain hashes,
//! RFC 6962 batch roots, and verification that pinpoints the first bad row of each wallet.
//!
//! SHA-256 comes from the RustCrypto `sha2` crate (SHA-NI where the CPU has it). Rows are hashed on every
//! core; chains are sequential per wallet, so wallets are split into shards by a hash of their id and the
//! shards run in parallel, each keeping its rows in ledger order.
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
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
        self.wallet_id.get(row).unwrap_or_default()
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
    match column.validity {
        Some(v) if !v.is_valid(row) => Err(format!("{name} is null")),
        _ => Ok(&column.data[column.offsets[row] as usize..column.offsets[row + 1] as usize]),
    }
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

pub fn leaf_of(canonical: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(canonical).finalize().into()
}

pub fn chain_of(seq: u64, previous: &Hash, leaf: &Hash) -> Hash {
    Sha256::new().chain_update([2u8]).chain_update(seq.to_be_bytes()).chain_update(previous).chain_update(leaf).finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
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

const SHARDS: usize = 64;

fn shard_of(bytes: &[u8]) -> usize {
    let mut hasher = FxHasher::default();
    hasher.write(bytes);
    (hasher.finish() >> 40) as usize % SHARDS
}

/// Rows grouped by a hash of `key`, each group in row order.
fn shards(n: usize, key: impl Fn(usize) -> usize + Sync) -> Vec<Vec<u32>> {
    let shard: Vec<u8> = (0..n).into_par_iter().with_min_len(1 << 14).map(|r| key(r) as u8).collect();
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
    for (row, &s) in shard.iter().enumerate() {
        groups[s as usize].push(row as u32);
    }
    groups
}

/// For every row whose tx_id is on an earlier row, that earlier (first) row.
fn repeated_tx_ids(t: &Transactions<'_>) -> Vec<(usize, usize)> {
    let groups = shards(t.len(), |r| shard_of(t.tx_id.get(r).unwrap_or_default()));
    let mut repeats: Vec<(usize, usize)> = groups
        .par_iter()
        .flat_map_iter(|rows| {
            let mut first: FxHashMap<Option<&[u8]>, u32> = FxHashMap::default();
            first.reserve(rows.len());
            let mut found = Vec::new();
            for &r in rows {
                let earlier = *first.entry(t.tx_id.get(r as usize)).or_insert(r);
                if earlier != r {
                    found.push((r as usize, earlier as usize));
                }
            }
            found
        })
        .collect();
    repeats.sort_unstable();
    repeats
}

/// Every row's leaf, or the first row (lowest) that breaks a field rule and why.
fn leaves(t: &Transactions<'_>) -> Vec<std::result::Result<Hash, String>> {
    (0..t.len())
        .into_par_iter()
        .with_min_len(1 << 12)
        .map_init(|| Vec::with_capacity(256), |buf, r| canonical(t, r, buf).map(|()| leaf_of(buf)))
        .collect()
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
    let leaves = leaves(t);
    if let Some((row, Err(message))) = leaves.iter().enumerate().find(|(_, l)| l.is_err()) {
        return Err(t.ledger_error(row, message));
    }
    if let Some(&(row, earlier)) = repeated_tx_ids(t).first() {
        return Err(t.ledger_error(row, &format!("repeats the tx_id of row {earlier} in this batch")));
    }
    let leaf: Vec<Hash> = leaves.into_iter().map(|l| l.unwrap_or(ZERO)).collect();
    let groups = shards(n, |r| shard_of(t.wallet(r)));
    let chained: Vec<Result<Vec<(u64, Hash)>>> = groups
        .par_iter()
        .map(|rows| {
            let mut state: FxHashMap<&[u8], Head> = FxHashMap::default();
            rows.iter()
                .map(|&r| {
                    let r = r as usize;
                    let wallet = t.wallet(r);
                    let head = state.entry(wallet).or_insert_with(|| heads.get(wallet).copied().unwrap_or(Head { seq: 0, chain: ZERO }));
                    head.seq = head
                        .seq
                        .checked_add(1)
                        .filter(|&s| s <= i64::MAX as u64)
                        .ok_or_else(|| t.ledger_error(r, "the wallet's seq leaves int64"))?;
                    head.chain = chain_of(head.seq, &head.chain, &leaf[r]);
                    Ok((head.seq, head.chain))
                })
                .collect()
        })
        .collect();
    let mut seq = vec![0i64; n];
    let mut chain = vec![ZERO; n];
    for (rows, result) in groups.iter().zip(chained) {
        for (&r, (s, c)) in rows.iter().zip(result?) {
            seq[r as usize] = s as i64;
            chain[r as usize] = c;
        }
    }
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
    /// Every wallet seen, in first-appearance order: (first row, wallet, last stored seq and chain).
    pub heads: Vec<(usize, Vec<u8>, i64, Vec<u8>)>,
    pub root: Hash,
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
    let recomputed = leaves(t);
    let earlier_row: FxHashMap<usize, usize> = repeated_tx_ids(t).into_iter().collect();
    let groups = shards(n, |r| shard_of(t.wallet(r)));
    struct WalletEnd<'w> {
        first_row: usize,
        last_row: usize,
        wallet: &'w [u8],
        failed: bool,
    }
    let per_shard: Vec<(Vec<Finding>, Vec<WalletEnd<'_>>)> = groups
        .par_iter()
        .map(|rows| {
            let mut findings = Vec::new();
            // wallet -> (index into ends, stored seq and chain of its last row: at first its start head)
            let mut state: FxHashMap<&[u8], (usize, i64, Option<Hash>)> = FxHashMap::default();
            let mut ends: Vec<WalletEnd<'_>> = Vec::new();
            for &r in rows {
                let r = r as usize;
                let wallet = t.wallet(r);
                let entry = state.entry(wallet).or_insert_with(|| {
                    ends.push(WalletEnd { first_row: r, last_row: r, wallet, failed: false });
                    let head = start.get(wallet).copied().unwrap_or(Head { seq: 0, chain: ZERO });
                    (ends.len() - 1, head.seq as i64, Some(head.chain))
                });
                let end = &mut ends[entry.0];
                end.last_row = r;
                let (previous_seq, previous_chain) = (entry.1, entry.2);
                let seq = stored.seq[r];
                entry.1 = seq;
                entry.2 = hash_of(stored.chain.get(r));
                if end.failed {
                    continue;
                }
                let leaf = hash_of(stored.leaf.get(r));
                let chain = hash_of(stored.chain.get(r));
                let found = match &recomputed[r] {
                    Err(message) => Some((Problem::BadField, message.clone())),
                    Ok(_) if seq < 0 => Some((Problem::BadField, format!("seq {seq} is negative"))),
                    Ok(_) if leaf.is_none() => Some((Problem::BadField, "leaf is not 32 bytes".to_string())),
                    Ok(_) if chain.is_none() => Some((Problem::BadField, "chain is not 32 bytes".to_string())),
                    Ok(_) if earlier_row.contains_key(&r) => {
                        Some((Problem::DuplicateTxId, format!("tx_id also on row {}", earlier_row[&r])))
                    }
                    Ok(_) if seq != previous_seq.wrapping_add(1) => Some((
                        Problem::SequenceGap,
                        format!("expected seq {}, found {seq}", i128::from(previous_seq) + 1),
                    )),
                    Ok(fresh) if leaf != Some(*fresh) => {
                        Some((Problem::LeafMismatch, "row fields do not hash to the stored leaf".to_string()))
                    }
                    Ok(fresh) if previous_chain.map(|p| chain_of(seq as u64, &p, fresh)) != chain => Some((
                        Problem::ChainMismatch,
                        format!("chain at seq {seq} does not follow from the previous chain"),
                    )),
                    Ok(_) => None,
                };
                if let Some((problem, detail)) = found {
                    end.failed = true;
                    findings.push(Finding { row: Some(r), wallet: Some(wallet.to_vec()), problem, detail });
                }
            }
            (findings, ends)
        })
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    let mut ends: Vec<WalletEnd<'_>> = Vec::new();
    for (f, e) in per_shard {
        findings.extend(f);
        ends.extend(e);
    }
    findings.sort_by_key(|f| f.row);
    ends.sort_by_key(|e| e.first_row);
    let by_wallet: FxHashMap<&[u8], &WalletEnd<'_>> = ends.iter().map(|e| (e.wallet, e)).collect();
    for &(wallet, head) in published {
        let found = match by_wallet.get(wallet) {
            Some(end) if end.failed => None,
            Some(end) => {
                let seq = stored.seq[end.last_row];
                let chain = stored.chain.get(end.last_row);
                if seq != head.seq as i64 {
                    Some((Some(end.last_row), format!("ledger ends at seq {seq}, published head is seq {}", head.seq)))
                } else if chain != Some(&head.chain[..]) {
                    Some((Some(end.last_row), format!("chain differs from the published head at seq {seq}")))
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
    // The root covers the stored leaves; one that is not 32 bytes (already a bad_field) counts as zeros.
    let stored_leaves: Vec<Hash> = (0..n).into_par_iter().with_min_len(1 << 14).map(|r| hash_of(stored.leaf.get(r)).unwrap_or(ZERO)).collect();
    let root = merkle_root(&stored_leaves);
    if published_root.is_some_and(|p| p != root) {
        findings.push(Finding {
            row: None,
            wallet: None,
            problem: Problem::RootMismatch,
            detail: "batch root differs from the published root".to_string(),
        });
    }
    let heads = ends
        .iter()
        .map(|e| (e.first_row, e.wallet.to_vec(), stored.seq[e.last_row], stored.chain.get(e.last_row).unwrap_or_default().to_vec()))
        .collect();
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
