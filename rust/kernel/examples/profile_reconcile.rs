//! Times the reconciliation pairing on N members x 3 bonuses per side, without Python:
//! `cargo run --release --example profile_reconcile -p mlm_kernel -- 10000000`.
use std::time::Instant;

use mlm_kernel::keys::StrKeys;
use mlm_kernel::reconcile::{pair, KeyCol, Lines, Text};

fn column(n: usize, value: impl Fn(usize) -> String) -> (Vec<i64>, Vec<u8>) {
    let (mut offsets, mut data) = (vec![0i64], Vec::new());
    for i in 0..n {
        data.extend_from_slice(value(i).as_bytes());
        offsets.push(data.len() as i64);
    }
    (offsets, data)
}

fn main() {
    let members: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let n = members * 3;
    let period = column(n, |_| "2026-11".to_string());
    let member = column(n, |i| format!("M{}", i / 3));
    let bonus_values = column(3, |i| ["binary", "unilevel", "matching"][i].to_string());
    let bonus_index: Vec<i32> = (0..n).map(|i| (i % 3) as i32).collect();
    let amount: Vec<i64> = (0..n).map(|i| (i as i64 * 7919) % 500_000).collect();
    let legacy_amount: Vec<i64> = amount.iter().enumerate().map(|(i, a)| a + i64::from(i % 1000 == 0)).collect();
    let make = |a| Lines {
        period: KeyCol::Text(Text::Wide(StrKeys::new(&period.0, &period.1, None).unwrap())),
        member_id: KeyCol::Text(Text::Wide(StrKeys::new(&member.0, &member.1, None).unwrap())),
        bonus: KeyCol::Dict { indices: &bonus_index, values: Text::Wide(StrKeys::new(&bonus_values.0, &bonus_values.1, None).unwrap()) },
        amount: a,
    };
    let (l, o): (Lines<'_>, Lines<'_>) = (make(&legacy_amount), make(&amount));
    for _ in 0..3 {
        let t = Instant::now();
        let p = pair(&l, &o).unwrap();
        println!("pair {members} members x 3 per side: {:.3} s, {} pairs, {} differing", t.elapsed().as_secs_f64(),
                 p.status.len(), p.status.iter().filter(|&&s| s != 0).count());
    }
}
