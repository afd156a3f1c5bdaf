//! Times `LiveState::apply` alone: batches of 10,000 random orders over N members (default 10M).
//!
//!     cargo run --release --example profile_live -p mlm_kernel -- 10000000
use std::time::Instant;

use mlm_kernel::engine::NO_VALUE;
use mlm_kernel::live::{Batch, LiveState, NO_CODE, ORDER};
use mlm_kernel::rng::SplitMix64;
use mlm_kernel::StrKeys;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let batches = 200;
    const BATCH: usize = 10_000;
    let mut state = LiveState::new(2, vec![true; n], vec![NO_VALUE; n], vec![NO_VALUE; n]).unwrap();
    let mut rng = SplitMix64::new(1);
    let kind = vec![ORDER; BATCH];
    let value = vec![NO_CODE; BATCH];
    let zeros32 = vec![0u32; BATCH];
    let zeros8 = vec![0u8; BATCH];
    let given = vec![false; BATCH];
    let mut times = Vec::new();
    for b in 0..batches {
        let mut offsets = vec![0i32];
        let mut data = Vec::new();
        for i in 0..BATCH {
            data.extend_from_slice(format!("o{b}-{i}").as_bytes());
            offsets.push(data.len() as i32);
        }
        let row: Vec<u32> = (0..BATCH).map(|_| (rng.next_u64() % n as u64) as u32).collect();
        let pv: Vec<i64> = (0..BATCH).map(|_| (rng.next_u64() % 20_000) as i64).collect();
        let bv: Vec<i64> = pv.iter().map(|p| p * 4 / 5).collect();
        let batch = Batch {
            event_id: StrKeys::new(&offsets, &data, None).unwrap(),
            kind: &kind,
            row: &row,
            amounts: vec![&pv, &bv],
            value: &value,
            sponsor: &zeros32,
            placement: &zeros32,
            leg: &zeros8,
            given: &given,
        };
        let t = Instant::now();
        let rejected = state.apply(&batch, 0, 4).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert!(rejected.is_empty());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{n} members, {batches} batches of {BATCH}: median {:.2} ms per batch ({:.0} ns per event, {:.2}M events/s), max {:.2} ms",
        median * 1e3,
        median * 1e9 / BATCH as f64,
        BATCH as f64 / median / 1e6,
        times[times.len() - 1] * 1e3
    );
}
