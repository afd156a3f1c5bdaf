//! Kernels of the migration pipeline: a strict CSV reader that keeps every record it cannot read (with its
//! line and raw bytes) and an exact decimal-text parser into integer minor units.
pub mod csv;
pub mod decimal;
pub mod timestamp;

use rayon::prelude::*;

use crate::keys::{KeyColumn, Offset, StrKeys};

/// Parses every row of a text column on all cores: `parse(row, value)` gives the row's value (0 where it
/// has none) and its code; the shared loop of the decimal and timestamp column kernels.
pub(crate) fn parse_rows<O: Offset + Sync>(
    text: &StrKeys<'_, O>,
    parse: impl Fn(usize, Option<&[u8]>) -> (i64, u8) + Sync,
) -> (Vec<i64>, Vec<u8>) {
    let n = text.len();
    let mut values = vec![0i64; n];
    let mut codes = vec![0u8; n];
    const BLOCK: usize = 1 << 14;
    values.par_chunks_mut(BLOCK).zip(codes.par_chunks_mut(BLOCK)).enumerate().for_each(|(b, (vals, cs))| {
        for k in 0..vals.len() {
            let row = b * BLOCK + k;
            (vals[k], cs[k]) = parse(row, text.value(row));
        }
    });
    (values, codes)
}
