//! Times ledger sealing and verification on N synthetic commission rows, stage by stage, without Python:
//! `cargo run --release --example profile_ledger -p mlm_kernel -- 10000000`.
use std::time::Instant;

use mlm_kernel::keys::{StrKeys, Validity};
use mlm_kernel::ledger::*;
use rustc_hash::FxHashMap;

struct Column {
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Vec<u8>,
}

impl Column {
    fn new(n: usize, value: impl Fn(usize) -> String) -> Self {
        let mut c = Column { offsets: vec![0], data: Vec::new(), valid: vec![0xFF; n.div_ceil(8)] };
        for i in 0..n {
            c.data.extend_from_slice(value(i).as_bytes());
            c.offsets.push(c.data.len() as i32);
        }
        c
    }
    fn view(&self) -> StrKeys<'_, i32> {
        StrKeys { offsets: &self.offsets, data: &self.data, validity: Some(Validity { bits: &self.valid, offset: 0 }) }
    }
}

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let tx = Column::new(n, |i| format!("RUN-2026-11/{i}"));
    let wallet = Column::new(n, |i| format!("M{}", i / 2));
    let currency = Column::new(n, |_| "USD".into());
    let kind = Column::new(n, |_| "commission".into());
    let reference = Column::new(n, |_| "RUN-2026-11/binary".into());
    let amount: Vec<i64> = (0..n as i64).map(|i| i * 7 % 100_000).collect();
    let created: Vec<i64> = vec![1_796_000_000_000_000; n];
    let t = Transactions {
        tx_id: tx.view(),
        wallet_id: wallet.view(),
        amount: &amount,
        currency: currency.view(),
        kind: kind.view(),
        created_at: &created,
        reference: reference.view(),
    };
    // The ceiling: only the spec's hashing (leaf over ~95 bytes, chain over 73: four SHA-256 blocks per
    // row), on every core, with nothing else.
    {
        use rayon::prelude::*;
        let start = Instant::now();
        let acc = (0..n as u64)
            .into_par_iter()
            .map(|i| {
                let mut row = [7u8; 94];
                row[..8].copy_from_slice(&i.to_be_bytes());
                let leaf = leaf_of(&row);
                chain_of(i + 1, &leaf, &leaf)[0]
            })
            .reduce(|| 0, |a, b| a ^ b);
        eprintln!("bare SHA-256, 4 blocks per row: {:.2}M rows/s ({acc:02x})", n as f64 / start.elapsed().as_secs_f64() / 1e6);
    }
    for _ in 0..3 {
        let start = Instant::now();
        let sealed = seal(&t, &FxHashMap::default()).unwrap();
        let sealed_in = start.elapsed();
        let start = Instant::now();
        let root = merkle_root(&sealed.leaf);
        eprintln!("seal {sealed_in:?} ({:.1}M rows/s), merkle_root {:?} {:02x}", n as f64 / sealed_in.as_secs_f64() / 1e6, start.elapsed(), root[0]);
    }
}
