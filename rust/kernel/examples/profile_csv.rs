//! Times the strict CSV reader and the decimal parser on a file: `cargo run --release --example profile_csv -p mlm_kernel -- FILE`.
use std::time::Instant;

use mlm_kernel::ingest::csv::{parse_csv, CsvOptions};

fn main() {
    let path = std::env::args().nth(1).expect("usage: profile_csv FILE");
    let t = Instant::now();
    let bytes = std::fs::read(&path).expect("readable file");
    let read = t.elapsed();
    let t = Instant::now();
    let parsed = parse_csv(&bytes, CsvOptions::default()).expect("a header");
    let parse = t.elapsed();
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "read {:.3}s, parse {:.3}s ({:.0} MB/s, {:.2}M records/s), {} rows, {} rejects",
        read.as_secs_f64(),
        parse.as_secs_f64(),
        mb / parse.as_secs_f64(),
        parsed.records as f64 / parse.as_secs_f64() / 1e6,
        parsed.rows(),
        parsed.rejects.len()
    );
}
